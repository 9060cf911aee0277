"""Hostile files and surroundings: a FIFO or a /dev/zero link where lmprep reads, a full disk
where it writes, a device or a link where it would replace, thousands of keys, no home folder,
an output that cannot be written. The installed lmprep as a real process; every run under an
address-space limit and a time limit (a hang or an unbounded read fails the test, never the
machine)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from e2e import lmprep_argv

pytestmark = pytest.mark.e2e

ADDRESS_SPACE = 1024 * 1024 * 1024


def run(*args: str, env: dict | None = None, limit_file_size: bool = False, timeout: float = 30,
        preexec=None, stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.CompletedProcess:
    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
        if limit_file_size:
            # A full disk, as far as a process can tell: every write past 0 bytes fails (EFBIG).
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
        if preexec is not None:
            preexec()
    try:
        return subprocess.run(lmprep_argv() + list(args), stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                              env={**os.environ, **(env or {})}, preexec_fn=limits, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"lmprep {' '.join(args)} still running after {timeout} s")


def text(completed) -> str:
    return (completed.stdout or b"").decode(errors="replace") + (completed.stderr or b"").decode(errors="replace")


def put_hostile(path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


@pytest.mark.parametrize("kind", ["fifo", "zero"])
@pytest.mark.parametrize("where", [".lmstudio/.internal/http-server.json", ".lmstudio-home-pointer",
                                   ".cache/lm-studio/.internal/http-server.json"])
def test_a_fifo_or_dev_zero_in_the_lm_studio_home_is_skipped(where, kind, unused_port):
    home = Path(os.environ["HOME"])
    put_hostile(home / where, kind)
    for args in (["-p", "llamacpp", "--base-url", f"http://127.0.0.1:{unused_port}/v1", "--timeout", "2", "--json"],
                 ["config", "show", "--json"], ["status", "--timeout", "2", "--json"],
                 ["-p", "lmstudio", "--timeout", "2", "--json"]):
        completed = run(*args)
        assert completed.returncode in (0, 3, 4), text(completed)
        assert "Traceback" not in text(completed) and "internal_error" not in text(completed)
        json.loads(completed.stdout)


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_fifo_or_dev_zero_among_the_agents_files_is_written_anew(llamacpp_emulator, kind):
    args = ["env", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url, "--format", "json"]
    first = run(*args)
    assert first.returncode == 0, text(first)
    path = Path(json.loads(first.stdout)["AIDER_MODEL_METADATA_FILE"])
    put_hostile(path, kind)
    second = run(*args)
    assert second.returncode == 0, text(second)
    assert path.is_file() and not path.is_symlink() and json.loads(path.read_text())


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_full_disk_leaves_no_temporary_file_behind(llamacpp_emulator):
    state = Path(os.environ["XDG_STATE_HOME"])
    args = ["env", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url]
    for _ in range(3):
        completed = run(*args, limit_file_size=True)
        assert completed.returncode == 3, text(completed)
        assert "Cannot write aider's files" in text(completed) and "Traceback" not in text(completed)
    assert files_under(state / "lmprep" / "agents") == []
    assert not [p for p in files_under(state) if p.name.endswith(".tmp") or p.name.startswith(".")]


@pytest.fixture(params=["fifo", "link-to-file", "link-to-nowhere", "folder"])
def special(request, tmp_path) -> Path:
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    if request.param == "fifo":
        os.mkfifo(path)
    elif request.param == "link-to-file":
        (tmp_path / "real.toml").write_text("original = 1\n")
        path.symlink_to(tmp_path / "real.toml")
    elif request.param == "link-to-nowhere":
        path.symlink_to(tmp_path / "nowhere")
    else:
        path.mkdir()
    return path


@pytest.mark.parametrize("force", [False, True])
def test_config_init_refuses_anything_but_a_regular_file(special, force):
    """Never on the real /dev/null: a FIFO and links in tmp_path show the same."""
    before = sorted(os.listdir(special.parent))
    kind = os.lstat(special).st_mode
    completed = run("config", "init", "--config", str(special), *(["--force"] if force else []))
    assert completed.returncode == 3, text(completed)
    said = "a folder" if special.is_dir() and not special.is_symlink() else "not a regular file"
    assert said in text(completed) and "--force" not in text(completed)
    assert sorted(os.listdir(special.parent)) == before  # nothing renamed, no .bak, no temporary
    assert os.lstat(special).st_mode == kind
    if (special.parent.parent / "real.toml").exists():
        assert (special.parent.parent / "real.toml").read_text() == "original = 1\n"


def test_thousands_of_unknown_keys_give_a_bounded_list_of_warnings(tmp_path):
    """A file of 4,000 unknown keys took 35 s (a line lookup and a suggestion for each)."""
    config = tmp_path / "many.toml"
    config.write_text("".join(f"unknown_key_{i} = 1\n" for i in range(4000))
                      + "".join(f"[providers.p{i}]\nkind = \"openai\"\nbogus = 1\n" for i in range(2000)))
    completed = run("config", "show", "--config", str(config), timeout=60)
    assert completed.returncode == 0, text(completed)
    warnings = [line for line in completed.stderr.decode().splitlines() if line.startswith("warning:")]
    assert len(warnings) == 21, warnings[:3]
    assert "unknown key `unknown_key_0`" in warnings[0] and f"{config}:1:" in warnings[0]
    assert warnings[-1].endswith("and 5980 more unknown keys (ignored)")
    shown = run("config", "show", "--config", str(config), "--json", timeout=60)
    assert len(json.loads(shown.stdout)["warnings"]) == 21


def test_a_closed_stdout_pipe_ends_quietly_with_the_runs_exit_code(unused_port):
    """It was a silent exit 1, which the README calls a bug in lmprep."""
    unreachable = ["-p", "llamacpp", "--base-url", f"http://127.0.0.1:{unused_port}/v1", "--timeout", "2"]
    for args, expected in ((["status", *unreachable, "--json"], 4), ([*unreachable, "--json"], 4),
                           (["config", "show"], 0), (["--help"], 0), (["config", "path"], 0)):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            completed = run(*args, stdout=write_end)
        finally:
            os.close(write_end)
        assert completed.returncode == expected, (args, text(completed))
        assert "Traceback" not in text(completed) and "Exception ignored" not in text(completed), args


def test_a_full_stdout_or_stderr_is_said_where_it_can_be_and_keeps_the_exit_code(unused_port):
    unreachable = ["-p", "llamacpp", "--base-url", f"http://127.0.0.1:{unused_port}/v1", "--timeout", "2"]
    with open("/dev/full", "wb") as full:
        shown = run("config", "show", stdout=full)
        failed = run("status", *unreachable, "--json", stdout=full)
        quiet = run(*unreachable, stderr=full)
        both = run(*unreachable, "--json", stdout=full, stderr=full)
    assert shown.returncode == 0 and failed.returncode == 4 and quiet.returncode == 4 and both.returncode == 4
    for completed in (shown, failed):
        assert completed.stderr.decode().strip().endswith("lmprep: could not write the output: "
                                                          "No space left on device."), text(completed)
        assert "Traceback" not in text(completed)
    assert quiet.stdout == b""


def served(model_ids: list[str]):
    import hostile as h

    body = json.dumps({"object": "list", "data": [{"id": m, "object": "model", "owned_by": "x"} for m in model_ids]})
    return h.HostileServer({"/v1/models": h.answer(body.encode())})


@pytest.mark.parametrize("encoding", ["latin-1", "ascii"])
def test_an_id_the_terminal_encoding_lacks_is_printed_replaced(encoding):
    from emulators.llamacpp import LlamaServerEmulator

    with LlamaServerEmulator(alias="通义-coder", context=131072, n_ctx_train=131072) as server:
        base = ["-p", "llamacpp", "--base-url", server.base_url]
        runs = [run(*command, *base, env={"PYTHONIOENCODING": encoding})
                for command in (["status"], ["env"], ["env", "--for", "aider"], ["--warm-up", "off"])]
    for completed in runs:
        assert completed.returncode == 0, text(completed)
        assert "Traceback" not in text(completed)
        assert b"-coder" in completed.stdout + completed.stderr


def test_a_lone_surrogate_in_a_served_id_is_no_traceback():
    with served(["a\ud800b", "m"]) as server:
        for args in (["status"], ["status", "--json"]):
            completed = run(*args, "-p", "openai", "--base-url", server.base_url, "-m", "m")
            assert completed.returncode == 0, text(completed)
            assert "Traceback" not in text(completed)
    with served(["a\ud800b"]) as server:
        only = run("status", "-p", "openai", "--base-url", server.base_url)
        ensure = run("-p", "openai", "--base-url", server.base_url, "--json")
    assert only.returncode == 8 and ensure.returncode == 8, text(only) + text(ensure)
    assert "lone surrogate" in text(ensure) and "Traceback" not in text(only)


AS_UID_12345 = ["setpriv", "--reuid", "12345", "--regid", "12345", "--clear-groups"]


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to become uid 12345")
def test_no_home_and_no_passwd_entry_keeps_state_in_a_private_temporary_folder(lmstudio_emulator):
    """`docker run -u 12345` with no HOME: internal_error, and `config path` printed `~/...`."""
    import pwd
    import tempfile

    with pytest.raises(KeyError):
        pwd.getpwuid(12345)
    lmstudio_emulator.downloaded = ["m"]
    env = {name: value for name, value in os.environ.items()
           if name not in ("HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}
    base = Path(tempfile.gettempdir()) / "lmprep-12345"

    def no_home(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(AS_UID_12345 + lmprep_argv() + list(args), capture_output=True, env=env, timeout=30,
                              stdin=subprocess.DEVNULL, cwd="/")

    path = no_home("config", "path")
    assert path.returncode == 0 and path.stdout.decode().strip() == str(base / "config" / "config.toml")
    # (--warm-up off: the background child re-runs the interpreter, which this uid may not reach here.)
    ready = no_home("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "m", "--warm-up", "off", "--json")
    assert ready.returncode == 0, text(ready)
    assert "no usable home folder" in ready.stderr.decode() or json.loads(ready.stdout)["ok"]
    shown = no_home("config", "show")
    assert shown.returncode == 0 and "There is no usable home folder (HOME is not set" in shown.stderr.decode()
    info = os.lstat(base)
    assert info.st_uid == 12345 and info.st_mode & 0o777 == 0o700


def test_home_set_to_dev_null_is_no_configuration_error(unused_port):
    """HOME=/dev/null made every command exit 3 (the config file 'cannot be read')."""
    env = {"HOME": "/dev/null", "XDG_CONFIG_HOME": "", "XDG_STATE_HOME": "", "XDG_CACHE_HOME": ""}
    for args, expected in ((["config", "show", "--json"], 0), (["config", "path"], 0),
                           (["-p", "llamacpp", "--base-url", f"http://127.0.0.1:{unused_port}/v1", "--json"], 4)):
        completed = run(*args, env=env)
        assert completed.returncode == expected, (args, text(completed))
        assert "Traceback" not in text(completed)
        assert not completed.stdout.decode().startswith("/dev/null/")

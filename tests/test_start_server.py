"""lmprep starts a local server that is down (issue 19): the real llama-server (plain and router
mode), a configured `command` (an emulator run as a program), servers that die, parallel runs,
detachment, Ctrl-C, and --no-start / `start = false`. Every server a test starts is stopped at
its end (the `servers` fixture)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep, wait_for
from lmprep import started

TESTS = Path(__file__).resolve().parent
EMULATOR = TESTS / "emulators" / "as_program.py"


@pytest.fixture
def servers():
    """Stops every server lmprep recorded as started in this test (and checks none is left)."""
    yield
    for record in started.started_servers():
        try:
            os.killpg(record.pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def llama_path(llama_server_binary, monkeypatch):
    """PATH with the real llama-server first: lmprep finds it as a user's would be found."""
    path = f"{llama_server_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    return path


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def llamacpp_config(tmp_path, port, model: Path | None = None, models_dir: Path | None = None,
                    args=("-np", "1", "-t", "1", "--no-webui"), extra: str = "") -> Path:
    where = f'model_path = "{model}"' if model else f'models_dir = "{models_dir}"' if models_dir else ""
    return write_config(tmp_path, f"""
[providers.llamacpp]
base_url = "http://127.0.0.1:{port}/v1"
{where}
args = {json.dumps(list(args))}
{extra}
""")


def only_record() -> started.StartedServer:
    records = started.started_servers()
    assert len(records) == 1, records
    return records[0]


# -- the real llama-server --------------------------------------------------------------------


@pytest.mark.real_server
def test_starts_llama_server_detached_and_reports_it(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf)
    begun = time.monotonic()
    # A pipeline: lmprep's stdout is a pipe that `cat` reads to its end, so lmprep returns only
    # when nothing else holds the pipe: the server it started must not.
    shell = subprocess.run(
        f"{' '.join(map(str, lmprep_argv()))} -p llamacpp --config {config} --json | cat",
        shell=True, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    took = time.monotonic() - begun
    result = json.loads(shell.stdout)
    assert result["ok"], result
    assert took < 15
    record = only_record()
    assert result["started"] == {"command": record.command, "pid": record.pid, "log": record.log,
                                 "seconds": record.seconds}
    assert record.command.startswith(f"llama-server -m {tiny_gguf} --host 127.0.0.1 --port {unused_port} --jinja")
    assert "-c" not in record.argv  # no agent, no window asked for: the model's own
    assert record.argv[0] == str(Path(llama_path.split(os.pathsep)[0]) / "llama-server")
    assert Path(record.log).is_file() and Path(record.log).parent == started.servers_dir().parent / "logs"
    assert result["timings_ms"]["start"] == pytest.approx(record.seconds * 1000, abs=1)
    # It outlives lmprep, holds none of its stdio, and answers.
    assert started.is_same_process(record)
    with open(f"/proc/{record.pid}/fd/1", "rb") if sys.platform.startswith("linux") else open(record.log) as _:
        pass
    if sys.platform.startswith("linux"):
        for fd in (0, 1, 2):
            target = os.readlink(f"/proc/{record.pid}/fd/{fd}")
            assert target in ("/dev/null", record.log), target
    # The next run finds it running: nothing started.
    again = run_lmprep("-p", "llamacpp", "--config", str(config), "--json")
    assert again.json["ok"] and again.json["started"] is None
    assert only_record() == record


@pytest.mark.real_server
def test_for_codex_from_not_running_to_ready_in_one_command(llama_path, servers, tmp_path, tiny_128k_gguf,
                                                             unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_128k_gguf)
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--for", "codex")
    assert result.returncode == 0, result.stderr
    record = only_record()
    assert "-c 65536" in record.command  # Codex's window, asked for at the start
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Ready for Codex:") and "context window 65536 tokens" in line
    assert f"started llama-server (`{record.command}`, log ~/" in line


@pytest.mark.real_server
def test_starts_llama_server_in_router_mode(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.gguf").write_bytes(tiny_gguf.read_bytes())
    config = llamacpp_config(tmp_path, unused_port, models_dir=models)
    result = run_lmprep("-p", "llamacpp", "-m", "tiny", "--config", str(config), "--warm-up", "wait", "--json",
                        "--min-context", "2048")
    assert result.json["ok"], result.json
    record = only_record()
    assert record.argv[1:3] == ("--models-dir", str(models)) and "-c" in record.argv
    assert result.json["warm_up"]["status"] in ("ok", "loaded")
    assert result.json["context_length"] == 2048  # the router handed -c to the model's child


@pytest.mark.real_server
@pytest.mark.parametrize("case", ["bad flag", "missing model file", "port taken"])
def test_a_server_that_dies_is_exit_4_at_once_with_its_log(case, llama_path, servers, tmp_path, tiny_gguf,
                                                           unused_port):
    model, args = tiny_gguf, ["-np", "1", "-t", "1"]
    if case == "bad flag":
        args.append("--no-such-flag")
    elif case == "missing model file":
        model = tmp_path / "absent.gguf"
    holder = socket.socket()
    if case == "port taken":  # bound but not listening: connections are refused, yet its bind fails
        holder.bind(("127.0.0.1", unused_port))
    try:
        config = llamacpp_config(tmp_path, unused_port, model, args=args)
        begun = time.monotonic()
        result = run_lmprep("-p", "llamacpp", "--config", str(config), "--json")
        took = time.monotonic() - begun
    finally:
        holder.close()
    assert result.returncode == 4 and result.json["state"] == "unreachable"
    assert took < 10  # at once, not at a deadline
    message = result.json["error"]["message"]
    assert "ended with exit status 1 before it answered" in message
    said = {"bad flag": "invalid argument: --no-such-flag", "missing model file": "failed to load model",
            "port taken": "bind"}[case]
    assert said in message, message
    assert "\x1b" not in message and "\n" not in message
    assert "its whole log is ~/" in result.json["error"]["hint"]
    assert started.started_servers() == []  # nothing left to stop


@pytest.mark.real_server
def test_parallel_runs_start_one_server(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf)
    argv = [*lmprep_argv(), "-p", "llamacpp", "--config", str(config), "--json"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            for _ in range(2)]
    results = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    assert all(result["ok"] for result in results), results
    assert sorted(result["started"] is None for result in results) == [False, True]
    record = only_record()
    assert [result["started"]["pid"] for result in results if result["started"]] == [record.pid]
    if sys.platform.startswith("linux"):
        servers_running = [pid for pid in os.listdir("/proc") if pid.isdigit()
                           and _cmdline(pid).count(f"--port\0{unused_port}\0")]
        assert servers_running == [str(record.pid)]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.real_server
@pytest.mark.parametrize("how", ["--no-start", "start = false", "per provider"])
def test_start_turned_off_is_the_old_exit_4_with_the_start_hint(how, llama_path, servers, tmp_path, tiny_gguf,
                                                               unused_port):
    top = "start = false\n" if how == "start = false" else ""
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf, extra="start = false" if how == "per provider" else "")
    config.write_text(top + config.read_text())
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--json",
                        *(["--no-start"] if how == "--no-start" else []))
    assert result.returncode == 4
    assert result.json["error"]["hint"] == (f"Start it with `llama-server -m MODEL.gguf --port {unused_port}`, "
                                            "or check the base URL.")
    assert result.json["started"] is None and started.started_servers() == []


@pytest.mark.real_server
def test_a_provider_may_start_although_the_file_says_no(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf, extra="start = true")
    config.write_text("start = false\n" + config.read_text())
    assert run_lmprep("-p", "llamacpp", "--config", str(config), "--json").json["started"] is not None


# -- a configured command ---------------------------------------------------------------------


def emulator_config(tmp_path, port, *extra: str, name: str = "box", kind: str = "vllm", top: str = "") -> Path:
    command = [sys.executable, str(EMULATOR), kind, str(port), *extra]
    return write_config(tmp_path, f"""{top}
[providers.{name}]
kind = "{kind}"
base_url = "http://127.0.0.1:{port}/v1"
command = {json.dumps(command)}
""")


def test_a_configured_command_starts_any_kind(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, "--listen-after", "0.3")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.json["ok"], result.json
    record = only_record()
    assert record.provider == "box" and record.kind == "vllm" and record.base_url == f"http://127.0.0.1:{unused_port}/v1"
    assert record.command == f"{Path(sys.executable).name} {EMULATOR} vllm {unused_port} --listen-after 0.3"
    assert result.json["started"]["seconds"] >= 0.3
    assert "listening at" in Path(record.log).read_text()
    assert result.json["model"] == "Qwen/Qwen3-8B"


def test_nothing_chosen_and_nothing_running_starts_the_first_configured(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, name="mine", kind="vllm")
    result = run_lmprep("--config", str(config), "--json")
    assert result.json["ok"], result.json
    assert result.json["provider"] == "mine" and result.json["provider_source"] == "started (nothing was running)"
    assert only_record().provider == "mine"


def test_a_command_that_dies_says_so_with_its_log(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, "--exit-after", "0.2")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.returncode == 4
    assert "ended with exit status 3 before it answered" in result.json["error"]["message"]
    assert "the emulator gives up (as told: --exit-after)" in result.json["error"]["message"]
    assert started.started_servers() == []


def test_a_command_that_is_not_there_keeps_exit_4_and_says_so(tmp_path, unused_port):
    config = write_config(tmp_path, f"""
[providers.box]
kind = "vllm"
base_url = "http://127.0.0.1:{unused_port}/v1"
command = ["no-such-server-program", "serve"]
""")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.returncode == 4
    assert "'no-such-server-program'" in result.json["error"]["hint"]


def test_the_deadline_stops_a_server_that_does_not_answer(servers, tmp_path, unused_port):
    pid_file = tmp_path / "server.pid"
    config = emulator_config(tmp_path, unused_port, "--listen-after", "60", "--pid-file", str(pid_file))
    result = run_lmprep("-p", "box", "--config", str(config), "--json", "--timeout", "1.5")
    assert result.returncode == 10, result.json
    assert "lmprep stopped the box (vLLM) it had started" in result.json["error"]["message"]
    assert not pid_alive(int(pid_file.read_text()))
    assert started.started_servers() == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_the_wait_leaves_no_server_behind(sig, servers, tmp_path, unused_port):
    pid_file = tmp_path / "server.pid"
    config = emulator_config(tmp_path, unused_port, "--listen-after", "60", "--pid-file", str(pid_file))
    process = subprocess.Popen([*lmprep_argv(), "-p", "box", "--config", str(config), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20)
    wait_for(lambda: started.started_servers(), timeout=10)  # recorded: lmprep is waiting for it
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == (130 if sig == signal.SIGINT else 143)
    assert json.loads(out)["state"] == "interrupted"
    wait_for(lambda: not pid_alive(int(pid_file.read_text())), timeout=10)
    assert started.started_servers() == []


def test_a_server_answering_elsewhere_than_loopback_is_never_started(tmp_path):
    config = write_config(tmp_path, f"""
[providers.box]
kind = "vllm"
base_url = "http://192.0.2.1:8000/v1"
command = {json.dumps([sys.executable, "-c", f"open({str(tmp_path / 'ran')!r}, 'w')"])}
""")
    result = run_lmprep("-p", "box", "--config", str(config), "--json", "--connect-timeout", "0.2")
    assert result.returncode == 4
    assert not (tmp_path / "ran").exists()


def test_something_listening_that_does_not_answer_is_not_started_again(tmp_path):
    """A port that accepts and never answers is a server in trouble, not one to start: a second
    one could not listen there anyway."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = emulator_config(tmp_path, port)
        result = run_lmprep("-p", "box", "--config", str(config), "--json", "--read-timeout", "0.5",
                            "--timeout", "5")
    assert result.returncode in (4, 10)
    assert result.json["started"] is None and started.started_servers() == []

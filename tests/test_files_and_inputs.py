"""Files that keep the original, regular files only, and hostile inputs that used to end in a
traceback or an internal error."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest

from e2e import run_lmprep
from hostile import HostileServer, answer, ollama_routes
from lmprep.starter_config import STARTER_CONFIG, AlreadyExists, write_starter


def test_config_init_force_twice_keeps_the_original(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("original = 1\n")
    assert write_starter(path, force=True) == tmp_path / "config.toml.bak"
    assert write_starter(path, force=True) == tmp_path / "config.toml.bak.1"
    assert (tmp_path / "config.toml.bak").read_text() == "original = 1\n"
    assert path.read_text() == STARTER_CONFIG
    with pytest.raises(AlreadyExists):
        write_starter(path)


@pytest.mark.parametrize("force", [True, False])
def test_a_full_disk_loses_nothing_and_leaves_nothing(tmp_path, monkeypatch, force):
    folder = tmp_path / "conf"
    folder.mkdir()
    path = folder / "config.toml"
    if force:
        path.write_text("original = 1\n")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space"):
        write_starter(path, force=force)
    left = sorted(p.name for p in folder.iterdir())
    assert left == (["config.toml"] if force else [])
    if force:
        assert path.read_text() == "original = 1\n"


def test_config_init_writes_into_a_new_folder(tmp_path):
    target = tmp_path / "sub" / "config.toml"
    result = run_lmprep("config", "init", "--config", str(target))
    assert result.returncode == 0 and target.read_text() == STARTER_CONFIG


def test_a_fifo_as_config_or_in_the_state_folder_never_hangs(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    started = time.monotonic()
    for command in (["config", "show"], ["--warm-up", "off"], ["status"]):
        result = run_lmprep(*command, "--config", str(fifo), timeout=20)
        assert result.returncode == 3 and "not a regular file but a FIFO" in result.stderr
    state = Path(os.environ["XDG_STATE_HOME"]) / "lmprep" / "warmups"
    state.mkdir(parents=True)
    os.mkfifo(state / "lmstudio-0000000000000000.json")
    with HostileServer(default=answer({"data": [{"id": "m"}]})) as server:
        result = run_lmprep("status", "-p", "openai", "--base-url", server.base_url, timeout=20)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20


@pytest.mark.parametrize("record", [
    {"status": "running", "pid": 10**30}, {"status": "ok", "seconds": 10**400, "started_at": 10**400},
    {"status": {"x": 1}, "model": 5, "error": ["e"], "finished_at": 1e300}, {"started_at": float("nan")},
    {"status": "error", "error": "\x1b]0;t\x07", "provider": "lmstudio", "base_url": "http://localhost:1234/v1"},
])
def test_a_corrupt_warm_up_record_never_breaks_status(record):
    state = Path(os.environ["XDG_STATE_HOME"]) / "lmprep" / "warmups"
    state.mkdir(parents=True)
    (state / "lmstudio-1111111111111111.json").write_text(json.dumps({"provider": "lmstudio",
                                                                        "base_url": "http://localhost:1234/v1",
                                                                        **record}))
    for args in ([], ["--json"]):
        result = run_lmprep("status", "-p", "lmstudio", "--base-url", "http://127.0.0.1:1/v1", *args)
        assert result.returncode == 4, result.stderr
        assert "Traceback" not in result.stderr and "internal" not in result.stdout + result.stderr


def test_a_pull_line_with_a_400_digit_total_is_still_a_pull(tmp_path):
    lines = [{"status": "pulling manifest"}, {"status": "pulling x", "digest": "sha256:1", "total": 10**400,
                                               "completed": 10**399}, {"status": "success"}]
    body = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    pulled = []

    def pull(connection, stop):
        pulled.append(True)
        answer(body, headers="")(connection, stop)

    listing = {"models": []}

    def tags(connection, stop):
        answer({"models": [{"name": "llama3:latest"}]} if pulled else listing)(connection, stop)

    with HostileServer(ollama_routes(api_pull=pull, api_tags=tags)) as server:
        result = run_lmprep("-p", "ollama", "--base-url", server.base_url, "-m", "llama3", "--warm-up", "off")
    assert result.returncode == 0, result.stderr


def test_loaded_instances_that_is_not_a_list(tmp_path):
    routes = {"/v1/models": answer({"data": [{"id": "m", "owned_by": "organization_owner"}]}),
              "/api/v1/models": answer({"models": [{"key": "m", "loaded_instances": 5}]})}
    with HostileServer(routes) as server:
        result = run_lmprep("-p", "lmstudio", "--base-url", server.base_url, "-m", "m", "--min-context", "4096",
                            "--warm-up", "off", "--timeout", "10")
    assert result.returncode in (0, 9, 11), result.stderr
    assert "Unexpected error" not in result.stderr


def test_an_unwritable_cache_folder_does_not_stop_a_download(tmp_path):
    from lmprep.lock import FileLock

    blocker = tmp_path / "file"
    blocker.write_text("")
    lock = FileLock(blocker / "locks" / "x.lock")
    assert lock.try_acquire() is True
    assert lock.unavailable
    lock.release()


@pytest.mark.parametrize("model", ["a\x00b", "a\udcffb", "x" * 140_000, "a\x1b[2Jb"])
def test_model_ids_no_process_can_take_are_exit_3(model):
    import subprocess
    import sys

    from e2e import lmprep_argv

    argv = lmprep_argv() + ["-p", "ollama", "--base-url", "http://127.0.0.1:1/v1", "--json"]
    env = {**os.environ, "LMPREP_MODEL": model} if "\x00" not in model and len(model) < 1000 else None
    if env is None:  # no argument or variable can hold a NUL or 140,000 characters: the config file can
        config = Path(os.environ["HOME"]) / "c.toml"
        config.write_text(f'[providers.ollama]\nmodel = {json.dumps(model)}\n')
        argv += ["--config", str(config)]
    try:
        completed = subprocess.run(argv, capture_output=True, env=env, timeout=30)
    except ValueError:  # the test's own exec refuses a surrogate in the environment
        pytest.skip("this platform cannot pass the value at all")
    assert completed.returncode == 3, completed.stderr
    assert json.loads(completed.stdout)["state"] == "not_configured"
    assert sys.getsizeof(completed.stdout) < 10_000


def test_a_served_model_id_with_a_nul_is_a_protocol_error():
    with HostileServer({"/v1/models": answer({"data": [{"id": "a\u0000b", "owned_by": "x"}]})}) as server:
        result = run_lmprep("-p", "openai", "--base-url", server.base_url, "--json")
    assert result.returncode == 8 and "cannot pass on" in result.json["error"]["message"]


def test_exec_with_a_value_no_process_can_take_is_126():
    from lmprep.launch import replace_process

    code, message = replace_process(["true"], {"X": "a\x00b"})
    assert code == 126 and "cannot be passed on" in message


def test_status_against_8000_models_asks_props_once():
    models = [{"id": f"model-{i}", "owned_by": "llamacpp"} for i in range(8000)]
    props = []

    def count_props(connection, stop):
        props.append(True)
        answer({"default_generation_settings": {"n_ctx": 4096}})(connection, stop)

    with HostileServer({"/v1/models": answer({"data": models}), "/props": count_props}) as server:
        started = time.monotonic()
        result = run_lmprep("status", "-p", "llamacpp", "--base-url", server.base_url, "-m", "model-7999", "--json")
        elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert len(props) == 1
    assert len(result.json["providers"][[p["name"] for p in result.json["providers"]].index("llamacpp")]["models"]) \
        == 8000
    assert elapsed < 30


def test_a_host_label_over_63_characters_is_exit_3_and_a_bad_ollama_host_spares_lm_studio():
    host = "a" * 64 + ".example"
    result = run_lmprep("-p", "ollama", "--base-url", f"http://{host}/v1", "--json")
    assert result.returncode == 3 and "not usable" in result.json["error"]["message"]
    detect = run_lmprep("--json", "--timeout", "10", env={"OLLAMA_HOST": host, "LMPREP_BASE_URL": ""})
    assert detect.returncode in (4, 10), detect.stdout  # nothing else runs: unreachable
    assert "Traceback" not in detect.stderr


def test_config_path_with_a_name_too_long():
    result = run_lmprep("config", "path", "--config", "/tmp/" + "x" * 5000)
    assert result.returncode == 0
    assert "cannot be checked" in result.stderr

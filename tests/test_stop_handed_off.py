"""A server handed off at its start (issue 19): `lms server start` has LM Studio's service serve and
exits 0, so the record names the process that listens on the port (the fake `lms` of
tests/emulators/fake_programs.py hands the server to a detached daemon, as the real one does) and
the plan's `lms server stop`; `lmprep stop` runs that command, and only while that listening process
is the same one (pid and start time), never signalling the service. Also: stop takes the start lock,
and `-p a,b`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep, wait_for
from lmprep import started

pytestmark = pytest.mark.e2e
MODEL = "openai/gpt-oss-20b"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def idle_port():
    """A port that nothing listens on while the test runs: bound, never listening (no other test
    can take it meanwhile, and a connection to it is refused)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield held.getsockname()[1]


def listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


def start_lm_studio(fakes, tmp_path: Path) -> tuple[int, Path, dict]:
    fakes.install("lms", lmstudio={"downloaded": [MODEL]})
    env = {"PATH": fakes.path_env()}
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.lmstudio]\nbase_url = "http://127.0.0.1:{port}/v1"\n')
    ready = run_lmprep("--for", "codex", "-p", "lmstudio", "--config", str(config), "--json", env=env, timeout=120)
    assert ready.returncode == 0, ready.stderr
    return port, config, {**env, "json": ready.json}


def lms_calls(fakes) -> list[list[str]]:
    return [call["argv"] for call in fakes.invocations("lms") if call["argv"][:1] == ["server"]]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_lm_studio_started_by_lmprep_is_recorded_shown_and_stopped_with_lms_server_stop(fake_programs, tmp_path):
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    service = fake_programs.llmster_pid()
    body = env.pop("json")
    assert body["started"]["pid"] == service  # not the `lms` that has exited
    [record] = started.started_servers()
    assert (record.pid, record.port, record.stop) == (service, port, (str(fake_programs.bin / "lms"), "server", "stop"))
    assert record.process_start == started.process_start_time(service) and started.is_same_process(record)
    status = run_lmprep("status", "-p", "lmstudio", "--json", "--config", str(config), env=env)
    row = next(row for row in status.json["providers"] if row["name"] == "lmstudio")
    assert row["started"]["pid"] == service and row["started"]["command"] == f"lms server start --port {port}"
    stop = run_lmprep("stop", "-p", "lmstudio", "--json", "--config", str(config), env=env)
    assert stop.returncode == 0, stop.stdout
    [stopped] = stop.json["stopped"]
    assert (stopped["pid"], stopped["stopped_with"], stopped["forced"]) == (service, "lms server stop", False)
    assert not listens(port) and lms_calls(fake_programs)[-1] == ["server", "stop"]
    assert pid_alive(service)  # the service was never signalled: it serves on (its models, other clients)
    assert started.started_servers() == []
    after = run_lmprep("status", "-p", "lmstudio", "--json", "--config", str(config), env=env)
    assert next(row for row in after.json["providers"] if row["name"] == "lmstudio")["started"] is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_the_stop_line_says_what_ran_and_that_the_service_lives_on(fake_programs, tmp_path):
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    env.pop("json")
    stop = run_lmprep("stop", "-p", "lmstudio", "--config", str(config), env=env)
    assert stop.returncode == 0, stop.stderr
    import re

    assert re.match(re.escape(f"Stopped LM Studio at http://127.0.0.1:{port}/v1 with `lms server stop` (lmprep started it ")
                    + r"\d+ s ago" + re.escape(f" with `lms server start --port {port}`; the service that served it, "
                                                f"pid {fake_programs.llmster_pid()}, runs on): it stopped answering in "),
                    stop.stderr), stop.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_a_reused_pid_gets_no_stop_command(fake_programs, tmp_path):
    """The record's pid is alive but started at another time (the system gave it to another
    process): `lms server stop` is not run, and what serves there is not lmprep's."""
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    env.pop("json")
    [record] = started.started_servers()
    started.save(record._replace(process_start="linux:1"))
    before = lms_calls(fake_programs)
    stop = run_lmprep("stop", "-p", "lmstudio", "--config", str(config), env=env)
    assert stop.returncode == 15, stop.stderr
    assert "lmprep did not start the server at" in stop.stderr and "has ended: what runs there now" in stop.stderr
    assert lms_calls(fake_programs) == before and listens(port)  # nothing ran, it serves on
    assert started.started_servers() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_the_daemon_already_stopped_is_nothing_to_stop(fake_programs, tmp_path):
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    env.pop("json")
    service = fake_programs.llmster_pid()
    subprocess.run([str(fake_programs.bin / "lms"), "daemon", "down"], env={**os.environ, **env}, timeout=30,
                   capture_output=True, check=True)
    wait_for(lambda: not pid_alive(service), timeout=10)
    status = run_lmprep("status", "-p", "lmstudio", "--json", "--config", str(config), env=env)
    assert next(row for row in status.json["providers"] if row["name"] == "lmstudio")["started"] is None
    before = lms_calls(fake_programs)
    stop = run_lmprep("stop", "-p", "lmstudio", "--config", str(config), env=env)
    assert stop.returncode == 4, stop.stderr
    assert "No server that lmprep started is running for LM Studio, and nothing answers at" in stop.stderr
    assert lms_calls(fake_programs) == before and started.started_servers() == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_a_server_stopped_in_lm_studio_is_no_longer_lmpreps(fake_programs, tmp_path):
    """`lms server stop` by hand: the service lives on, but it listens there no more."""
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    env.pop("json")
    subprocess.run([str(fake_programs.bin / "lms"), "server", "stop"], env={**os.environ, **env}, timeout=30,
                   capture_output=True, check=True)
    assert pid_alive(fake_programs.llmster_pid()) and not listens(port)
    [record] = started.started_servers()
    assert not started.is_same_process(record)
    stop = run_lmprep("stop", "-p", "lmstudio", "--config", str(config), env=env)
    assert stop.returncode == 4, stop.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the listener in /proc")
def test_a_stop_command_that_fails_says_what_to_do_and_keeps_the_record(fake_programs, tmp_path):
    port, config, env = start_lm_studio(fake_programs, tmp_path)
    env.pop("json")
    failing = tmp_path / "lms-broken"
    failing.write_text("#!/bin/sh\necho 'Error: could not reach LM Studio' >&2\nexit 3\n")
    failing.chmod(0o755)
    [record] = started.started_servers()
    started.save(record._replace(stop=(str(failing), "server", "stop")))
    stop = run_lmprep("stop", "-p", "lmstudio", "--json", "--config", str(config), env=env)
    assert stop.returncode == 10, stop.stdout
    message, hint = stop.json["error"]["message"], stop.json["error"]["hint"]
    assert ("`lms-broken server stop` ended with exit status 3: Error: could not reach LM Studio" in message)
    assert "lmprep never signals that process" in hint and "`lms-broken server stop`" in hint
    assert listens(port) and pid_alive(record.pid) and len(started.started_servers()) == 1


def test_a_hand_off_whose_listener_is_not_known_keeps_no_record_and_says_so(fake_programs, monkeypatch):
    import shutil

    from lmprep import listener, server_start
    from lmprep.config import ProviderSettings, Sourced
    from lmprep.deadline import Deadline
    from lmprep.events import Notice
    from lmprep.providers.lmstudio import LMStudio

    fake_programs.install("lms", lmstudio={"downloaded": [MODEL]})
    env = {**os.environ, "PATH": fake_programs.path_env()}
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    chosen = ProviderSettings("lmstudio", "lmstudio", Sourced(url, "--base-url"), None, None, None)
    request = server_start.StartRequest("lmstudio", "lmstudio", url, "127.0.0.1", port, None, None, {}, env,
                                        lambda name: shutil.which(name, path=env["PATH"]))
    monkeypatch.setattr(listener, "listening_pids", lambda port: None)  # no /proc/net, no lsof
    events = []
    result = server_start._start(chosen, request, LMStudio.start_plan(request), events.append, Deadline(None))
    assert result.as_dict()["pid"] is None and result.as_dict()["command"] == f"lms server start --port {port}"
    assert started.started_servers() == []
    [notice] = [event for event in events if isinstance(event, Notice)]
    assert ("handed LM Studio on to another process, and this machine does not say which process listens on a port "
            "(no /proc/net/tcp, no lsof): lmprep keeps no record of it, so `lmprep stop` will not stop it. Stop it "
            "with `lms server stop`.") in notice.message
    assert listens(port)


# -- the start lock, and `-p a,b` --------------------------------------------------------------------------


EMULATOR = Path(__file__).resolve().parent / "emulators" / "as_program.py"


def _config(tmp_path: Path, **boxes: int) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("".join(f'[providers.{name}]\nkind = "llamacpp"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                            for name, port in boxes.items()))
    return path


def _remember(name: str, port: int, process: subprocess.Popen) -> started.StartedServer:
    return started.remember(name, "llamacpp", f"http://127.0.0.1:{port}/v1", process.pid,
                            [sys.executable, str(EMULATOR), "llamacpp", str(port)], None)


def test_stop_waits_for_a_start_under_way_and_stops_what_it_started(tmp_path, emulator_programs):
    """Another lmprep holds the start lock (its server spawned, not yet answering): `lmprep stop`
    waits for it rather than saying "nothing to stop", then stops that server."""
    from lmprep.lock import FileLock, lock_path

    port = free_port()
    config = _config(tmp_path, box=port)
    lock = FileLock(lock_path("start", f"http://127.0.0.1:{port}/v1", "", purpose="start"))
    assert lock.try_acquire()
    stopper = subprocess.Popen(lmprep_argv() + ["stop", "-p", "box", "--json", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        assert stopper.poll() is None  # waiting for the start, not done with "nothing to stop"
        process = emulator_programs("llamacpp", port)  # what the start spawned, recorded as the runner does
        _remember("box", port, process)
        lock.release()
        out, err = stopper.communicate(timeout=60)
    finally:
        lock.release()
        if stopper.poll() is None:
            stopper.kill()
            stopper.communicate()
    assert stopper.returncode == 0, out + err
    assert process.wait(timeout=10) == 0


def test_the_wait_for_a_start_under_way_is_bounded(tmp_path):
    from lmprep.lock import FileLock, lock_path

    port = free_port()
    with FileLock(lock_path("start", f"http://127.0.0.1:{port}/v1", "", purpose="start")) as lock:
        assert lock.try_acquire()
        begun = time.monotonic()
        result = run_lmprep("stop", "-p", "box", "--timeout", "1", "--config", str(_config(tmp_path, box=port)))
        took = time.monotonic() - begun
    assert result.returncode == 10, result.stderr
    assert (f"Another lmprep is starting the server at http://127.0.0.1:{port}/v1, and it had not finished within "
            "1 s: lmprep stopped nothing there.") in result.stderr
    assert took < 10, took


def test_a_list_of_names_stops_each_in_turn_with_one_summary(tmp_path, emulator_programs, idle_port):
    first, second, third = free_port(), free_port(), idle_port
    one, two = emulator_programs("llamacpp", first), emulator_programs("llamacpp", second)
    _remember("box1", first, one)
    _remember("box2", second, two)
    config = _config(tmp_path, box1=first, box2=second, box3=third)
    both = run_lmprep("stop", "-p", "box1,box2", "--json", "--config", str(config))
    assert both.returncode == 0, both.stdout
    assert [server["provider"] for server in both.json["stopped"]] == ["box1", "box2"] and both.json["errors"] == []
    assert one.wait(timeout=10) == 0 and two.wait(timeout=10) == 0
    # One stopped, one with nothing to stop: the worst exit code (4), each said.
    three = emulator_programs("llamacpp", first)
    _remember("box1", first, three)
    mixed = run_lmprep("stop", "-p", "box1, box3", "--config", str(config))
    assert mixed.returncode == 4, mixed.stderr
    assert mixed.stderr.startswith("Stopped box1 (llama.cpp server) at ")
    assert "Error: box3: No server that lmprep started is running for box3 (llama.cpp server)" in mixed.stderr
    assert three.wait(timeout=10) == 0


def test_a_list_takes_the_worst_exit_code(tmp_path, emulator_programs, idle_port):
    """Nothing to stop (4) at one box, a server lmprep did not start (15) at another: 15."""
    running, idle = free_port(), idle_port
    emulator_programs("llamacpp", running)  # not lmprep's
    result = run_lmprep("stop", "-p", "idle,theirs", "--json", "--config", str(_config(tmp_path, idle=idle,
                                                                                       theirs=running)))
    assert result.returncode == 15, result.stdout
    assert [(error["provider"], error["exit_code"]) for error in result.json["errors"]] == [("idle", 4),
                                                                                           ("theirs", 15)]
    assert result.json["state"] == "not_started_by_lmprep"


def test_a_list_with_an_unknown_name_stops_nothing(tmp_path, emulator_programs):
    port = free_port()
    process = emulator_programs("llamacpp", port)
    _remember("box1", port, process)
    result = run_lmprep("stop", "-p", "box1,bxo2", "--config", str(_config(tmp_path, box1=port)))
    assert result.returncode == 3 and "Unknown provider 'bxo2'" in result.stderr
    assert process.poll() is None and len(started.started_servers()) == 1


def test_the_python_api_raises_the_worst_after_stopping_the_others(tmp_path, emulator_programs, idle_port):
    import lmprep
    from lmprep.errors import UnreachableError

    first, idle = free_port(), idle_port
    process = emulator_programs("llamacpp", first)
    _remember("box1", first, process)
    with pytest.raises(UnreachableError) as caught:
        lmprep.stop("box1,box2", config_path=str(_config(tmp_path, box1=first, box2=idle)))
    assert [server.record.provider for server in caught.value.stopped] == ["box1"]
    assert process.wait(timeout=10) == 0

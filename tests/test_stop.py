"""`lmprep stop` (issue 19): it stops a server lmprep started, checked to be that very process (pid
and start time), and never one it did not start; `lmprep status` shows the servers lmprep started.
The real llama-server is started by lmprep itself (the runner); the other servers are the
emulator run as a program, recorded by the test through started.remember as the runner would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import pid_alive, run_lmprep, wait_for
from emulators.llamacpp import LlamaServerEmulator
from emulators.lmstudio import LMStudioEmulator
from lmprep import started

pytestmark = pytest.mark.e2e
EMULATOR = Path(__file__).resolve().parent / "emulators" / "as_program.py"




def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _config(tmp_path: Path, **boxes: tuple[str, int]) -> Path:
    path = tmp_path / "config.toml"
    path.write_text("".join(f'[providers.{name}]\nkind = "{kind}"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                            for name, (kind, port) in boxes.items()))
    return path


def _remember(name: str, kind: str, port: int, process: subprocess.Popen) -> started.StartedServer:
    return started.remember(name, kind, f"http://127.0.0.1:{port}/v1", process.pid,
                            [sys.executable, str(EMULATOR), kind, str(port)], "/tmp/emulator.log")


def test_stop_stops_the_server_lmprep_started_and_says_so(tmp_path, emulator_programs, unused_port):
    process = emulator_programs("llamacpp", unused_port)
    record = _remember("box", "llamacpp", unused_port, process)
    config = _config(tmp_path, box=("llamacpp", unused_port))
    status = run_lmprep("status", "-p", "box", "--json", "--config", str(config))
    row = next(row for row in status.json["providers"] if row["name"] == "box")
    assert row["started"] == {"pid": process.pid, "since": row["started"]["since"], "command": record.command,
                              "log": "/tmp/emulator.log", "seconds": None}
    assert row["started"]["since"].endswith("Z")
    text = run_lmprep("status", "-p", "box", "--config", str(config))
    import re

    assert re.search(r"box: started by lmprep \d+ s ago " + re.escape(
        f"(pid {process.pid}, `{record.command}`), log /tmp/emulator.log; `lmprep stop -p box` stops it"),
        text.stdout), text.stdout  # "0 s ago", or 1 s on a loaded machine
    result = run_lmprep("stop", "-p", "box", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith(f"Stopped box (llama.cpp server) at http://127.0.0.1:{unused_port}/v1 "
                                    f"(pid {process.pid}, `{record.command}`), which lmprep started ")
    assert "its log stays at /tmp/emulator.log" in result.stderr and "SIGKILL" not in result.stderr
    assert process.wait(timeout=10) == 0  # it ended on SIGTERM, as a server does
    assert started.started_servers() == []  # the record is forgotten
    after = run_lmprep("status", "-p", "box", "--json", "--config", str(config))
    assert next(row for row in after.json["providers"] if row["name"] == "box")["started"] is None
    again = run_lmprep("stop", "-p", "box", "--config", str(config))
    assert again.returncode == 4
    assert (f"Error: No server that lmprep started is running for box (llama.cpp server), and nothing answers at "
            f"http://127.0.0.1:{unused_port}/v1: there is nothing to stop.") in again.stderr


def test_stop_as_json(tmp_path, emulator_programs, unused_port):
    process = emulator_programs("llamacpp", unused_port)
    record = _remember("box", "llamacpp", unused_port, process)
    result = run_lmprep("stop", "-p", "box", "--json", "--config", str(_config(tmp_path, box=("llamacpp", unused_port))))
    assert result.returncode == 0 and result.stderr == ""
    payload = result.json
    assert list(payload) == ["schema", "ok", "state", "exit_code", "stopped", "error", "errors"]
    (server,) = payload["stopped"]
    assert (payload["ok"], payload["state"], payload["exit_code"], payload["error"]) == (True, "stopped", 0, None)
    assert server == {"provider": "box", "kind": "llamacpp", "base_url": record.base_url, "pid": process.pid,
                      "command": record.command, "log": "/tmp/emulator.log", "started_at": server["started_at"],
                      "seconds": server["seconds"], "forced": False, "stopped_with": None}
    assert 0 <= server["seconds"] < 5
    nothing = run_lmprep("stop", "--json", "--config", str(_config(tmp_path, box=("llamacpp", unused_port))))
    assert (nothing.returncode, nothing.json["state"], nothing.json["stopped"]) == (4, "unreachable", [])
    assert nothing.json["error"]["message"] == "No server that lmprep started is running: there is nothing to stop."


def test_a_reused_pid_is_never_stopped(tmp_path, emulator_programs, unused_port):
    """The record's pid runs, but it is not the process lmprep started (another start time: the
    system gave the pid to another program): it is left alone, and the stale record forgotten."""
    process = emulator_programs("llamacpp", unused_port)
    record = _remember("box", "llamacpp", unused_port, process)
    started.save(record._replace(process_start="linux:1" if sys.platform.startswith("linux") else "ps:Thu Jan  1"))
    result = run_lmprep("stop", "-p", "box", "--config", str(_config(tmp_path, box=("llamacpp", unused_port))))
    assert result.returncode == 15, result.stderr
    assert (f"Error: lmprep did not start the server at http://127.0.0.1:{unused_port}/v1 (the python3 lmprep started "
            f"there, pid {process.pid}, has ended: what runs there now is another process); stop it yourself with "
            "Ctrl-C where it runs, or by ending its process.") in result.stderr.replace(
                os.path.basename(sys.executable), "python3")
    time.sleep(0.3)
    assert process.poll() is None and pid_alive(process.pid)  # never signalled
    assert started.started_servers() == []
    # Without -p too: a record that is not the same process is not a server to stop.
    started.save(record._replace(process_start="linux:1"))
    every = run_lmprep("stop", "--config", str(_config(tmp_path, box=("llamacpp", unused_port))))
    assert every.returncode == 4 and process.poll() is None


def test_a_server_lmprep_did_not_start_is_refused_with_how_to_stop_it(tmp_path):
    with LlamaServerEmulator() as box, LMStudioEmulator() as lms:
        config = _config(tmp_path, box=("llamacpp", box.port), lmstudio=("lmstudio", lms.port))
        result = run_lmprep("stop", "-p", "box", "--config", str(config))
        assert result.returncode == 15
        assert (f"Error: lmprep did not start the server at {box.base_url}; stop it yourself with Ctrl-C where it "
                "runs, or by ending its process.\nlmprep stops only the servers it started itself (`lmprep status` "
                "shows them).\n") in result.stderr
        studio = run_lmprep("stop", "-p", "lmstudio", "--json", "--config", str(config))
        assert (studio.returncode, studio.json["state"], studio.json["exit_code"]) == (15, "not_started_by_lmprep", 15)
        assert studio.json["error"]["message"] == (f"lmprep did not start the server at {lms.base_url}; stop it "
                                                   "yourself with `lms server stop`.")
        assert box.requests == [] and lms.requests == []  # not even asked anything
    unknown = run_lmprep("stop", "-p", "bxo", "--config", str(config))
    assert unknown.returncode == 3 and "Unknown provider 'bxo'" in unknown.stderr


def test_stop_without_a_name_stops_every_server_lmprep_started(tmp_path, emulator_programs, unused_port):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        other_port = probe.getsockname()[1]
    first, second = emulator_programs("llamacpp", unused_port), emulator_programs("vllm", other_port)
    _remember("llamacpp", "llamacpp", unused_port, first)
    _remember("vllm", "vllm", other_port, second)
    result = run_lmprep("stop", "--json")
    assert result.returncode == 0, result.stdout
    assert sorted(server["pid"] for server in result.json["stopped"]) == sorted([first.pid, second.pid])
    assert first.wait(timeout=10) == 0 and second.wait(timeout=10) == 0


def test_a_server_that_ignores_sigterm_gets_sigkill_within_the_timeout(tmp_path, unused_port):
    stubborn = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                                 "signal.SIG_IGN); print('ready', flush=True); time.sleep(120)"],
                                start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert stubborn.stdout.readline() == b"ready\n"
        started.remember("llamacpp", "llamacpp", f"http://127.0.0.1:{unused_port}/v1", stubborn.pid,
                         ["llama-server"], None)
        begun = time.monotonic()
        result = run_lmprep("stop", "-p", "llamacpp", "--timeout", "1", "--json",
                            "--config", str(_config(tmp_path, llamacpp=("llamacpp", unused_port))))
        took = time.monotonic() - begun
        assert result.returncode == 0, result.stdout
        assert result.json["stopped"][0]["forced"] is True
        assert stubborn.wait(timeout=5) == -signal.SIGKILL
        assert took < 5, took  # 1 s of grace, not the 10 s default
    finally:
        if stubborn.poll() is None:
            stubborn.kill()
        stubborn.wait()
        stubborn.stdout.close()


@pytest.mark.real_server
def test_the_real_llama_server_lmprep_started_is_listed_and_stopped(tmp_path, llama_server_binary, tiny_gguf,
                                                                    unused_port, monkeypatch):
    monkeypatch.setenv("PATH", f"{llama_server_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.llamacpp]\nbase_url = "http://127.0.0.1:{unused_port}/v1"\n'
                      f'model_path = "{tiny_gguf}"\nargs = ["-np", "1", "-t", "1", "--no-webui"]\n')
    try:
        ready = run_lmprep("-p", "llamacpp", "--config", str(config), "--json")
        assert ready.json["ok"], ready.stdout
        pid = ready.json["started"]["pid"]
        status = run_lmprep("status", "-p", "llamacpp", "--json", "--config", str(config))
        row = next(row for row in status.json["providers"] if row["name"] == "llamacpp")
        assert (row["state"], row["started"]["pid"], row["started"]["log"]) == ("ready", pid, ready.json["started"]["log"])
        assert row["started"]["command"].startswith(f"llama-server -m {tiny_gguf} --host 127.0.0.1 --port {unused_port}")
        begun = time.monotonic()
        stopped = run_lmprep("stop", "-p", "llamacpp", "--config", str(config))
        took = time.monotonic() - begun
        assert stopped.returncode == 0, stopped.stderr
        assert stopped.stderr.startswith(f"Stopped llama.cpp server at http://127.0.0.1:{unused_port}/v1 (pid {pid}, "
                                         "`llama-server -m ")
        wait_for(lambda: not pid_alive(pid), timeout=5)
        assert not _answers(unused_port)
        assert took < 5, took  # llama-server ends on SIGTERM at once
        assert started.started_servers() == []
        # Started by hand, not by lmprep: refused, and left running.
        by_hand = subprocess.Popen([str(llama_server_binary), "-m", str(tiny_gguf), "--port", str(unused_port),
                                    "-np", "1", "-t", "1", "--no-webui"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: _answers(unused_port), timeout=30)
            refused = run_lmprep("stop", "-p", "llamacpp", "--config", str(config))
            assert refused.returncode == 15
            assert f"lmprep did not start the server at http://127.0.0.1:{unused_port}/v1; stop it yourself" \
                in refused.stderr
            assert by_hand.poll() is None
        finally:
            by_hand.kill()
            by_hand.wait()
    finally:
        for record in started.started_servers():
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except OSError:
                pass


def test_stopped_line_exactly():
    from lmprep.cli.stop import stopped_line
    from lmprep.stopping import StoppedServer

    record = started.StartedServer("llamacpp", "llamacpp", "http://127.0.0.1:8080/v1", 4242, "linux:1",
                                   ("/usr/bin/llama-server", "-m", "m.gguf"), "llama-server -m m.gguf",
                                   "/s/logs/llamacpp.log", 1000.0, 1.5)
    assert stopped_line(StoppedServer(record, "llama.cpp server", 0.12, True), now=1300.0) == (
        "Stopped llama.cpp server at http://127.0.0.1:8080/v1 (pid 4242, `llama-server -m m.gguf`), which lmprep "
        "started 5 min ago: it ended in 0.1 s (it needed SIGKILL); its log stays at /s/logs/llamacpp.log")
    assert json.loads(json.dumps(StoppedServer(record, "x", 0.12, False).to_dict()))["started_at"] == \
        "1970-01-01T00:16:40Z"

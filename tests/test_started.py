"""The record of servers lmprep started (lmprep/started.py): written, read back, checked to be
the same process by pid and start time, stopped and forgotten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from lmprep import started


@pytest.fixture
def sleeper():
    """A process in a session of its own, as a started server is; killed at the end."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def test_remember_and_read_back(sleeper):
    record = started.remember("llamacpp", "llamacpp", "http://127.0.0.1:8080/v1", sleeper.pid,
                              ["/usr/bin/llama-server", "--port", "8080", "-m", "my model.gguf"], "/tmp/x.log")
    assert record.path == started.record_path("llamacpp", "http://127.0.0.1:8080/v1")
    assert record.path.parent == started.servers_dir()
    assert record.command == "llama-server --port 8080 -m 'my model.gguf'"
    assert started.started_servers() == [record]
    assert started.find_started("llamacpp", "http://127.0.0.1:8080/v1") == record
    assert started.is_same_process(record)
    stored = json.loads(record.path.read_text())
    assert stored["pid"] == sleeper.pid and stored["argv"][0] == "/usr/bin/llama-server" and "path" not in stored
    assert started.save(record._replace(seconds=1.5)).seconds == 1.5
    assert started.find_started("llamacpp", "http://127.0.0.1:8080/v1").seconds == 1.5


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_start_time_is_field_22_of_proc_stat(sleeper):
    with open(f"/proc/{sleeper.pid}/stat") as handle:
        stat = handle.read()
    assert started.process_start_time(sleeper.pid) == "linux:" + stat.rpartition(")")[2].split()[19]


def test_a_reused_pid_is_not_the_server(sleeper):
    """The same pid with another start time is another process: never taken for the server."""
    record = started.remember("llamacpp", "llamacpp", "http://127.0.0.1:8080/v1", sleeper.pid, ["x"], None)
    reused = record._replace(process_start="linux:1")
    assert not started.is_same_process(reused)
    assert started.stop_started(reused) == started.Stopped(False)
    assert sleeper.poll() is None  # not signalled
    assert not reused.path.exists()  # the stale record is forgotten


def test_an_ended_process_is_not_running(sleeper):
    record = started.remember("ollama", "ollama", "http://127.0.0.1:11434/v1", sleeper.pid, ["ollama", "serve"], None)
    sleeper.kill()
    sleeper.wait()
    assert not started.is_same_process(record)
    with pytest.raises(OSError):
        started.remember("ollama", "ollama", "http://127.0.0.1:11434/v1", sleeper.pid, ["ollama"], None)


def test_a_zombie_is_not_running(sleeper):
    record = started.remember("ollama", "ollama", "http://127.0.0.1:11434/v1", sleeper.pid, ["ollama", "serve"], None)
    sleeper.kill()
    time.sleep(0.3)  # ended, not yet waited for: a zombie
    assert not started.is_same_process(record)


def test_stop_started_ends_the_process_group(sleeper):
    record = started.remember("llamacpp", "llamacpp", "http://127.0.0.1:8080/v1", sleeper.pid, ["x"], None)
    import threading

    threading.Thread(target=sleeper.wait, daemon=True).start()  # reaped as the runner's reaper would
    outcome = started.stop_started(record)
    assert outcome.stopped and not outcome.forced
    assert sleeper.wait(timeout=5) != 0
    assert started.started_servers() == []


def test_stop_started_insists_with_sigkill():
    process = subprocess.Popen([sys.executable, "-c", "import signal, time\nsignal.signal(signal.SIGTERM, "
                                "signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)"],
                               start_new_session=True, stdout=subprocess.PIPE)
    try:
        assert process.stdout.readline() == b"ready\n"
        import threading

        threading.Thread(target=process.wait, daemon=True).start()
        record = started.remember("x", "openai", "http://127.0.0.1:9/v1", process.pid, ["x"], None)
        outcome = started.stop_started(record, grace=0.3)
        assert outcome.stopped and outcome.forced
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()


@pytest.mark.parametrize("content", [
    b"", b"not json", b"[]", b'{"provider": "x"}',
    b'{"provider": "x", "kind": "openai", "base_url": "u", "pid": true, "process_start": "linux:1", '
    b'"argv": [], "command": "", "log": null, "started_at": 1}',
    b'{"provider": "x", "kind": "openai", "base_url": "u", "pid": 5, "process_start": "linux:1", '
    b'"argv": [1], "command": "", "log": null, "started_at": 1}',
    b'{"provider": "x", "kind": "openai", "base_url": "u", "pid": 5, "process_start": "linux:1", '
    b'"argv": [], "command": "", "log": null, "started_at": 1e999}',
    b"[" * 100000,
])
def test_files_that_are_not_records_are_skipped(content):
    folder = started.servers_dir()
    folder.mkdir(parents=True)
    (folder / "bad.json").write_bytes(content)
    assert started.started_servers() == []


def test_a_fifo_or_huge_file_is_not_read():
    folder = started.servers_dir()
    folder.mkdir(parents=True)
    os.mkfifo(folder / "fifo.json")
    (folder / "huge.json").write_bytes(b" " * (started.MAX_RECORD_BYTES + 1))
    assert started.started_servers() == []


def test_records_are_listed_newest_first(sleeper):
    old = started.remember("a", "openai", "http://127.0.0.1:1/v1", sleeper.pid, ["a"], None, started_at=100.0)
    new = started.remember("b", "openai", "http://127.0.0.1:2/v1", sleeper.pid, ["b"], None, started_at=200.0)
    assert started.started_servers() == [new, old]
    started.forget(new)
    started.forget(new)  # twice: nothing to do
    assert started.started_servers() == [old]


def test_a_token_in_the_command_is_not_recorded(sleeper):
    from lmprep.redact import register_secret

    register_secret("sk-secret-token-1234567")
    record = started.remember("vllm", "vllm", "http://127.0.0.1:8000/v1", sleeper.pid,
                              ["vllm", "serve", "--api-key", "sk-secret-token-1234567"], None)
    assert "sk-secret-token-1234567" not in record.path.read_text()
    assert "sk-secret-token-1234567" not in record.command

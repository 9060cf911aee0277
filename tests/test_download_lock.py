"""One download at a time: parallel lmprep processes against one emulator."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from e2e import lmprep_argv, wait_for
from lmprep.deadline import Deadline
from lmprep.errors import TimedOutError
from lmprep.lock import FileLock, lock_path

pytestmark = pytest.mark.e2e
MODEL = "openai/gpt-oss-20b"


def test_parallel_runs_download_once(lmstudio_emulator, fake_lms):
    lmstudio_emulator.catalog = {MODEL: {"steps": 10, "step_seconds": 0.1}}
    argv = lmprep_argv() + ["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off"]
    processes = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  stdin=subprocess.DEVNULL) for _ in range(4)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    assert lmstudio_emulator.download_count[MODEL] == 1
    waiters = [err for _, err in outputs if f"Another lmprep is downloading {MODEL}; waiting for it" in err]
    assert len(waiters) >= 1
    assert all(f"{MODEL} was downloaded by the other lmprep" in err for err in waiters)


def test_a_killed_holder_does_not_block_the_next_run(lmstudio_emulator, fake_lms, tmp_path):
    lmstudio_emulator.catalog = {MODEL: {"steps": 1000, "step_seconds": 0.1}}
    pidfile = tmp_path / "lms.pid"
    argv = lmprep_argv() + ["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off"]
    holder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                              env={**os.environ, "FAKE_LMS_PIDFILE": str(pidfile)})
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=20)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    os.kill(int(pidfile.read_text()), signal.SIGKILL)  # SIGKILL gave lmprep no chance to stop it
    lmstudio_emulator.catalog = {MODEL: {"steps": 1}}
    completed = subprocess.run(argv + ["--timeout", "30"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    assert "waiting for it" not in completed.stderr


def test_waiting_for_the_lock_is_bounded_by_the_deadline(tmp_path):
    path = lock_path("lmstudio", "http://x/v1", MODEL)
    with FileLock(path) as held:
        held.acquire(Deadline(None), "taking", on_wait=lambda: None)
        waits = []
        with FileLock(path) as second, pytest.raises(TimedOutError, match="while waiting for the other"):
            second.acquire(Deadline(0.3), "waiting for the other", on_wait=lambda: waits.append(1))
        assert waits == [1]


def test_lock_is_free_after_release():
    path = lock_path("ollama", "http://y/v1", "m")
    with FileLock(path) as first:
        assert first.acquire(Deadline(None), "x", on_wait=lambda: None) is False
    with FileLock(path) as second:
        assert second.acquire(Deadline(1), "x", on_wait=lambda: pytest.fail("should not wait")) is False

"""Ctrl-C in every phase: exit 130, children stopped, lock released, no half-written state."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from e2e import lmprep_argv, wait_for
from lmprep.deadline import Deadline
from lmprep.lock import FileLock, lock_path
from lmprep.warmup import write_state

pytestmark = pytest.mark.e2e


def interrupt_when(argv: list[str], arrived) -> tuple[int, dict]:
    """Start lmprep --json, send SIGINT once ``arrived()`` is true, return (exit code, JSON)."""
    process = subprocess.Popen(lmprep_argv() + argv + ["--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        wait_for(arrived, timeout=20)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, json.loads(stdout)


def test_during_the_probe(lmstudio_emulator):
    lmstudio_emulator.hang = True
    code, payload = interrupt_when(["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url],
                                   lambda: lmstudio_emulator.requests_to("GET", "/v1/models"))
    assert (code, payload["state"]) == (130, "interrupted")


def test_during_an_ollama_pull_releases_the_lock(ollama_emulator):
    ollama_emulator.pull_catalog = {"llama3": {"chunks": 200, "chunk_seconds": 0.1}}
    code, payload = interrupt_when(["-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "llama3"],
                                   lambda: ollama_emulator.requests_to("POST", "/api/pull"))
    assert (code, payload["state"]) == (130, "interrupted")
    with FileLock(lock_path("ollama", ollama_emulator.base_url, "llama3")) as lock:
        assert lock.acquire(Deadline(1), "checking", on_wait=lambda: pytest.fail("lock still held")) is False


def test_during_a_waited_warm_up(lmstudio_emulator):
    lmstudio_emulator.downloaded = ["m"]
    lmstudio_emulator.load_seconds = 60
    code, payload = interrupt_when(["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "m",
                                    "--warm-up", "wait"],
                                   lambda: lmstudio_emulator.requests_to("POST", "/v1/responses"))
    assert (code, payload["state"]) == (130, "interrupted")
    assert payload["warm_up"]["status"] == "interrupted"  # the load was sent: not "not_started"


def test_state_file_is_never_half_written(tmp_path, monkeypatch):
    path = tmp_path / "warmups" / "state.json"
    write_state(path, {"status": "ok", "seconds": 1.0})

    def interrupted_fsync(fd):  # Ctrl-C with the new record written but not yet on disk
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_state(path, {"status": "running"})
    assert json.loads(path.read_text()) == {"status": "ok", "seconds": 1.0}
    assert os.listdir(path.parent) == ["state.json"]

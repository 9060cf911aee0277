"""Running the installed `lmprep` as a user would: a real process, real HTTP, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


def lmprep_argv() -> list[str]:
    """The installed console script next to this interpreter, else `python -m lmprep`."""
    script = Path(sys.executable).parent / "lmprep"
    return [str(script)] if script.exists() else [sys.executable, "-m", "lmprep"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> dict:
        return json.loads(self.stdout)


def run_lmprep(*args: str, env: dict | None = None, timeout: float = 60, cwd: Path | None = None) -> Run:
    completed = subprocess.run(
        lmprep_argv() + list(args), capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, cwd=cwd,
    )
    return Run(completed.returncode, completed.stdout, completed.stderr)


def warm_up_states(home: Path) -> list[dict]:
    folder = home / ".local" / "state" / "lmprep" / "warmups"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


def wait_for(condition, timeout: float = 10.0, interval: float = 0.05):
    """Poll until ``condition()`` is truthy; returns its value or raises AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        # A zombie is dead for our purposes.
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True

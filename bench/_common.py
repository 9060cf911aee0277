"""What the benchmarks share: a throwaway install of this checkout, and timing commands."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the emulators


def make_venv(where: Path, checkout: Path = REPO) -> Path:
    """A fresh venv on this interpreter with lmprep installed from ``checkout`` (this one by
    default) and its dependencies, as users get it (not editable); returns the venv's python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(checkout)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


def isolated_env(scratch: str) -> dict:
    """The caller's environment with HOME and the XDG dirs moved into ``scratch``."""
    return {**os.environ, "HOME": scratch, "XDG_CONFIG_HOME": f"{scratch}/config",
            "XDG_STATE_HOME": f"{scratch}/state", "XDG_CACHE_HOME": f"{scratch}/cache"}


def time_run(argv: list[str], env: dict, expect: int = 0) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if completed.returncode != expect:
        sys.exit(f"{argv} exited {completed.returncode}, expected {expect}")
    return elapsed


def alternate(commands: dict[str, tuple[list[str], int]], env: dict, runs: int) -> dict[str, float]:
    """Median seconds of each command, run alternately after one warm-up run each."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv, expect in commands.values():
        time_run(argv, env, expect)
    for _ in range(runs):
        for name, (argv, expect) in commands.items():
            samples[name].append(time_run(argv, env, expect))
    return {name: statistics.median(values) for name, values in samples.items()}


def print_ratio(medians: dict[str, float], runs: int, target: str) -> None:
    """Each median, then the first command's over the second's."""
    width = max(map(len, medians))
    for name, seconds in medians.items():
        print(f"{name:{width}} median {seconds * 1000:6.1f} ms over {runs} runs")
    first, second = medians.values()
    print(f"ratio: {first / second:.2f}x (target <= {target})")

"""Ready-path cost: `lmprep --warm-up off` against a running server with the model present,
compared with `python -c "import httpx, click"` on the same interpreter.

Installs this checkout (not editable, as users get it) into a throwaway virtual environment
that shares this interpreter and its site-packages, runs both commands alternately there and
prints the medians and their ratio (one run; these machines are noisy, so read the ratio,
not the absolute times).

    python bench/ready_path.py [--runs 31]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from emulators import LMStudioEmulator  # noqa: E402


REPO = Path(__file__).resolve().parent.parent


def make_venv(where: Path) -> Path:
    """A venv on this interpreter with lmprep installed from this checkout; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", str(REPO)],
        check=True, stdout=subprocess.DEVNULL,
    )
    return python


def time_run(argv: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, LMStudioEmulator(downloaded=["openai/gpt-oss-20b"]) as server:
        python = make_venv(Path(scratch) / "venv")
        env = {**os.environ, "HOME": scratch, "XDG_CONFIG_HOME": scratch}
        lmprep = [str(python.parent / "lmprep"), "-p", "lmstudio", "--base-url", server.base_url, "--warm-up", "off"]
        baseline = [str(python), "-c", "import httpx, click"]
        for argv in (lmprep, baseline):  # warm the page cache and .pyc files
            time_run(argv, env)
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(time_run(lmprep, env))
            theirs.append(time_run(baseline, env))
    ours_ms = statistics.median(ours) * 1000
    theirs_ms = statistics.median(theirs) * 1000
    print(f"lmprep --warm-up off (ready path): median {ours_ms:.1f} ms over {args.runs} runs")
    print(f'python -c "import httpx, click":   median {theirs_ms:.1f} ms over {args.runs} runs')
    print(f"ratio: {ours_ms / theirs_ms:.2f}x (target <= 1.5x; issue 5 tightens it to 1.3x)")


if __name__ == "__main__":
    main()

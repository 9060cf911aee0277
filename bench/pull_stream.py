"""Memory and CPU of following a long Ollama pull: 100,000 NDJSON progress lines
(targets: peak RSS <= 50 MB, CPU <= 2 s for the lmprep process).

    python bench/pull_stream.py [--lines 100000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from _common import isolated_env, make_venv

from emulators import OllamaEmulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, OllamaEmulator() as server:
        python = make_venv(Path(scratch) / "venv")
        server.pull_catalog = {"big": {"layers": [50_000_000_000], "chunks": args.lines}}
        argv = [str(python.parent / "lmprep"), "-p", "ollama", "--base-url", server.base_url, "-m", "big",
                "--warm-up", "off"]
        child = subprocess.Popen(argv, env=isolated_env(scratch), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"lmprep exited {child.returncode}")
    peak_mb = usage.ru_maxrss / 1024  # kilobytes on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(f"pull of {args.lines} progress lines: peak RSS {peak_mb:.1f} MB (target <= 50), "
          f"CPU {cpu:.2f} s (target <= 2)")


if __name__ == "__main__":
    main()

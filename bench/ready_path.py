"""Ready-path cost: `lmprep --warm-up off` against a running server with the model present,
compared with `python -c "import httpx, click"` on the same interpreter (target <= 1.3x).

Installs this checkout into a throwaway venv, runs both commands alternately and prints
the medians and their ratio from one run (the machines are noisy: read the ratio).

    python bench/ready_path.py [--runs 31]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import alternate, isolated_env, make_venv, print_ratio

from emulators import LMStudioEmulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, LMStudioEmulator(downloaded=["openai/gpt-oss-20b"]) as server:
        python = make_venv(Path(scratch) / "venv")
        lmprep = [str(python.parent / "lmprep"), "-p", "lmstudio", "--base-url", server.base_url, "--warm-up", "off"]
        medians = alternate({
            "lmprep --warm-up off": (lmprep, 0),
            'python -c "import httpx, click"': ([str(python), "-c", "import httpx, click"], 0),
        }, isolated_env(scratch), args.runs)
    print_ratio(medians, args.runs, "1.3x")


if __name__ == "__main__":
    main()

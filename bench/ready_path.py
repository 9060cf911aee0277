"""Ready-path cost, against an LM Studio emulator with the model on disk and loaded:

- `lmprep` as a pre-flight runs it, with no argument (the provider and base URL from
  LMPREP_PROVIDER and LMPREP_BASE_URL), compared with `python -c "import click"` (target <= 1.5x);
- `lmprep -p lmstudio --base-url URL --warm-up off` compared with `python -c "import httpx, click"`
  (target <= 1.3x).

Installs this checkout (or the one given with --checkout) into a throwaway venv, runs the
commands alternately and prints the medians and the ratios from one run (the machines are
noisy: read the ratios).

    python bench/ready_path.py [--runs 31] [--checkout PATH]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import REPO, alternate, isolated_env, make_venv, print_ratio

from emulators import LMStudioEmulator

MODEL = "openai/gpt-oss-20b"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    parser.add_argument("--checkout", type=Path, default=REPO, help="the lmprep source tree to measure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, \
            LMStudioEmulator(downloaded=[MODEL], loaded={MODEL: 65536}) as server:
        python = make_venv(Path(scratch) / "venv", args.checkout)
        lmprep = str(python.parent / "lmprep")
        env = {**isolated_env(scratch), "LMPREP_PROVIDER": "lmstudio", "LMPREP_BASE_URL": server.base_url}
        medians = alternate({
            "lmprep (model loaded)": ([lmprep], 0),
            'python -c "import click"': ([str(python), "-c", "import click"], 0),
            "lmprep -p ... --warm-up off": ([lmprep, "-p", "lmstudio", "--base-url", server.base_url,
                                             "--warm-up", "off"], 0),
            'python -c "import httpx, click"': ([str(python), "-c", "import httpx, click"], 0),
        }, env, args.runs)
    print_ratio(dict(list(medians.items())[:2]), args.runs, "1.5x")
    print_ratio(dict(list(medians.items())[2:]), args.runs, "1.3x")


if __name__ == "__main__":
    main()

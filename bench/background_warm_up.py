"""What a background warm-up adds to the ready path, however slow the model load
(target <= 10%): `--warm-up background` against `--warm-up off`, with a server whose
model takes 30 s to load.

    python bench/background_warm_up.py [--runs 21]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import alternate, isolated_env, make_venv, print_ratio

from emulators import LMStudioEmulator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, \
            LMStudioEmulator(downloaded=["openai/gpt-oss-20b"], load_seconds=30) as server:
        python = make_venv(Path(scratch) / "venv")
        base = [str(python.parent / "lmprep"), "-p", "lmstudio", "--base-url", server.base_url]
        medians = alternate({
            "--warm-up background": (base + ["--warm-up", "background"], 0),
            "--warm-up off": (base + ["--warm-up", "off"], 0),
        }, isolated_env(scratch), args.runs)
        loads = len(server.requests_to("POST", "/v1/responses"))
    print(f"background warm-up requests that reached the server: {loads}")
    print_ratio(medians, args.runs, "1.10x")


if __name__ == "__main__":
    main()

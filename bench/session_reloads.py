"""How many of an agent's turns wait for a reload over a session of idle periods longer than the
server's idle timeout (target: 0 under `lmprep exec`, one per idle period without it): the Ollama
emulator unloading a model idle for --idle seconds, an agent pausing 2.5 times that between turns;
with --llama-server, also the real llama-server router started with --sleep-idle-seconds.

    python bench/session_reloads.py [--idle 1] [--periods 3] [--llama-server PATH]
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


ROUTER_AGENT = """
import json, sys, time, urllib.request
origin, turns, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
woken = []
for turn in range(turns):
    if turn:
        time.sleep(pause)
    listing = json.load(urllib.request.urlopen(origin + "/models", timeout=10))
    woken += [e["status"]["value"] != "loaded" for e in listing["data"] if e["id"] == "tiny"]
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}).encode()
    request = urllib.request.Request(origin + "/v1/chat/completions", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=60).read()
open(sys.argv[4], "w").write(json.dumps(woken))
"""


def router_session(binary: Path, lmprep: str, env: dict, scratch: Path, idle: float, periods: int,
                   under_exec: bool) -> list[bool]:
    """For each turn against the real router, whether it found the model asleep (a wake: a reload)."""
    from realserver.server import LlamaServer
    from realserver.tiny_gguf import write_tiny_gguf

    models = scratch / "models"
    models.mkdir(exist_ok=True)
    write_tiny_gguf(models / "tiny.gguf")
    agent, seen = scratch / "router_agent.py", scratch / "woken.json"
    agent.write_text(ROUTER_AGENT)
    sleep_after = max(2, round(idle))
    with LlamaServer(binary, None, models_dir=models,
                     extra_args=["--no-models-autoload", "--sleep-idle-seconds", str(sleep_after)]) as server:
        ready = [lmprep, "-q", "-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--warm-up", "wait"]
        program = [sys.executable, str(agent), server.origin, str(periods + 1), str(sleep_after * 2.5), str(seen)]
        if under_exec:
            subprocess.run([ready[0], "exec", *ready[1:], "--", *program], env=env, check=True)
        else:
            subprocess.run(ready, env=env, check=True)
            subprocess.run(program, env=env, check=True)
    import json

    return json.loads(seen.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=1.0, help="the server's idle timeout in seconds")
    parser.add_argument("--periods", type=int, default=3, help="idle periods in the session")
    parser.add_argument("--llama-server", type=Path, help="a llama-server binary (b11434 or later)")
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
        if args.llama_server:
            sleep_after = max(2, round(args.idle))
            for label, under_exec in (("lmprep exec -- AGENT", True), ("lmprep && AGENT", False)):
                woken = router_session(args.llama_server, lmprep, env, Path(scratch), args.idle, args.periods,
                                       under_exec)
                print(f"{label:22} llama-server router, --sleep-idle-seconds {sleep_after}: wakes after "
                      f"{args.periods} idle periods of {sleep_after * 2.5:g} s: {sum(woken[1:])}")
    print("target: 0 under exec, one per idle period without it")


if __name__ == "__main__":
    os.chdir(Path(__file__).resolve().parent)
    main()

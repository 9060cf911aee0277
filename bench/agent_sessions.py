"""How much of each real agent's prompt the server's prefix cache reuses: within a session (a
continued conversation) and between two sessions with different first messages, by the real
llama-server's own counters (tests/realagents/sessions.py says how), with only what lmprep
sets and no internet (a proxy that refuses every request, whose hosts are printed).

tests/test_agent_sessions.py holds Claude Code, Codex and opencode to it in CI; this measures
any of them by hand (they are slow: one agent at a time, about a minute each on 2 cores).

    python bench/agent_sessions.py [AGENT ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts tests/ on the path)

from realagents.agents import find, install_report
from realagents.offline_proxy import RefusingProxy
from realagents.sessions import CONTINUE, measure_reuse
from realserver.loading_proxy import LoadingProxy
from realserver.server import LlamaServer, find_llama_server
from realserver.tiny_gguf import write_tiny_gguf

AGENTS = ("claude", "codex", "opencode", "qwen", "kilo", "copilot", "pi", "aider", "droid", "cline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", default=AGENTS)
    args = parser.parse_args()
    binary = find_llama_server()
    if binary is None:
        sys.exit("no llama-server: run .ci/install-llama-server, or set LMPREP_LLAMA_SERVER")
    with tempfile.TemporaryDirectory() as scratch:
        model = write_tiny_gguf(Path(scratch) / "tiny128k.gguf", context_length=131072)
        for name in args.agents:
            agent = find(name)
            if agent.program is None:
                print(f"{name}: not installed ({install_report()})")
                continue
            workdir = Path(tempfile.mkdtemp(dir=scratch))
            home = workdir / "home"
            home.mkdir()
            # Cline reads a grammar-made "Hi." as an answer; the others take any 16 tokens.
            extra = ["--grammar", 'root ::= "Hi."'] if name == "cline" else []
            with LlamaServer(binary, model, context=131072, alias="tiny",
                             extra_args=["-n", "16", "--repeat-penalty", "1.5", *extra]) as server, \
                    LoadingProxy(server.origin, loading_seconds=0) as proxy, RefusingProxy() as internet:
                env = {**internet.environ(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                       "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_CACHE_HOME": str(home / ".cache"),
                       "XDG_DATA_HOME": str(home / ".local" / "share"),
                       "PATH": f"{agent.program.parent}:{os.environ['PATH']}"}
                try:
                    reuse = measure_reuse(agent, server, proxy, workdir, env)
                except AssertionError as failed:
                    print(f"{name}: a run failed: {str(failed)[-600:]}")
                    continue
            if not CONTINUE.get(name):
                print(f"{name}: no way to continue its last session from the command line")
            print(reuse.line())
            print(f"    hosts asked beyond loopback: {sorted(set(internet.hosts)) or 'none'}")


if __name__ == "__main__":
    main()

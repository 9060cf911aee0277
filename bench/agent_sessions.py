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

import _common  # puts tests/ on the path

from realagents.offline_proxy import RefusingProxy
from realagents.sessions import CONTINUE, measure_reuse

AGENTS = ("claude", "codex", "opencode", "qwen", "kilo", "copilot", "pi", "aider", "droid", "cline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", default=AGENTS)
    args = parser.parse_args()
    for agent, server, proxy, workdir, (internet,) in _common.agents_on_fresh_servers(args.agents, RefusingProxy):
        home = workdir / "home"
        home.mkdir()
        env = {**internet.environ(), "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_STATE_HOME": str(home / ".local" / "state"), "XDG_CACHE_HOME": str(home / ".cache"),
               "XDG_DATA_HOME": str(home / ".local" / "share"), "PATH": f"{agent.program.parent}:{os.environ['PATH']}"}
        try:
            reuse = measure_reuse(agent, server, proxy, workdir, env)
        except AssertionError as failed:
            print(f"{agent.name}: a run failed: {str(failed)[-600:]}")
            continue
        if not CONTINUE.get(agent.name):
            print(f"{agent.name}: no way to continue its last session from the command line")
        print(reuse.line())
        print(f"    hosts asked beyond loopback: {sorted(set(internet.hosts)) or 'none'}")


if __name__ == "__main__":
    main()

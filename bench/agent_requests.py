"""Each real agent's first request, measured: its size in tokens and characters, the routes
it calls, and its version, as each agent module's FIRST_REQUEST records them.

Every agent (from .ci/install-agents) runs once through `lmprep exec` against a fresh real
llama-server (the tiny test model, 128k window) behind the recording proxy; the server's log
gives the prompt tokens and the prefill time.

    python bench/agent_requests.py [AGENT ...]
"""

from __future__ import annotations

import argparse
import datetime

import _common  # puts tests/ on the path

from realagents.measure import measure

AGENTS = ("codex", "claude", "opencode", "qwen", "aider", "llm", "openai", "copilot", "kilo", "pi", "droid", "cline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", default=AGENTS)
    args = parser.parse_args()
    today = datetime.date.today().isoformat()
    for agent, server, proxy, workdir, _ in _common.agents_on_fresh_servers(args.agents):
        measured = measure(agent, server, proxy, workdir)
        first = measured.first
        if measured.returncode != 0 or first is None:
            print(f"{agent.name}: exit {measured.returncode}, no model request measured: {measured.stderr[-500:]}")
            continue
        tokens, chars, prompt_ms = first
        routes = tuple(dict.fromkeys(r for r in measured.routes if not r.startswith("GET /health")))
        print(f"{agent.name}: {tokens} tokens, {chars} characters, prefill {prompt_ms / 1000:.1f} s; "
              f"routes {', '.join(routes)}; version {measured.version}")
        print(f"    FIRST_REQUEST = FirstRequest({tokens}, {chars}, {routes!r}, {measured.version!r}, {today!r})")


if __name__ == "__main__":
    main()

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
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts tests/ on the path)

from realagents.agents import find, install_report
from realagents.measure import measure
from realserver.loading_proxy import LoadingProxy
from realserver.server import LlamaServer, find_llama_server
from realserver.tiny_gguf import write_tiny_gguf

AGENTS = ("codex", "claude", "opencode", "qwen", "aider", "llm", "openai", "copilot", "kilo", "pi", "droid", "cline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("agents", nargs="*", default=AGENTS)
    args = parser.parse_args()
    binary = find_llama_server()
    if binary is None:
        sys.exit("no llama-server: run .ci/install-llama-server, or set LMPREP_LLAMA_SERVER")
    today = datetime.date.today().isoformat()
    with tempfile.TemporaryDirectory() as scratch:
        model = write_tiny_gguf(Path(scratch) / "tiny128k.gguf", context_length=131072)
        for name in args.agents:
            agent = find(name)
            if agent.program is None:
                print(f"{name}: not installed ({install_report()})")
                continue
            workdir = Path(tempfile.mkdtemp(dir=scratch))
            # Cline reads a grammar-made "Hi." as an answer; the others take any 16 tokens.
            extra = ["--grammar", 'root ::= "Hi."'] if name == "cline" else []
            with LlamaServer(binary, model, context=131072, alias="tiny",
                             extra_args=["-n", "16", "--repeat-penalty", "1.5", *extra]) as server, \
                    LoadingProxy(server.origin, loading_seconds=0) as proxy:
                measured = measure(agent, server, proxy, workdir)
            first = measured.first
            if measured.returncode != 0 or first is None:
                print(f"{name}: exit {measured.returncode}, no model request measured: {measured.stderr[-500:]}")
                continue
            tokens, chars, prompt_ms = first
            routes = tuple(dict.fromkeys(r for r in measured.routes if not r.startswith("GET /health")))
            print(f"{name}: {tokens} tokens, {chars} characters, prefill {prompt_ms / 1000:.1f} s; "
                  f"routes {', '.join(routes)}; version {measured.version}")
            print(f"    FIRST_REQUEST = FirstRequest({tokens}, {chars}, {routes!r}, {measured.version!r}, {today!r})")


if __name__ == "__main__":
    main()

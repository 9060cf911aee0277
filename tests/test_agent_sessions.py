"""The prompt cache survives from turn to turn and from session to session, for the real
Claude Code, Codex and opencode run through `lmprep exec` with only what lmprep sets, by the
real llama-server's own counters (realagents/sessions.py says how each share is measured).

Claude Code's system prompt starts with an attribution header that changes with the first
user message: without lmprep's CLAUDE_CODE_ATTRIBUTION_HEADER=0, two sessions share only the
few hundred tokens before it (measured: see the README), which the between-sessions check
catches. The other agents measured by hand: bench/agent_sessions.py.
"""

from __future__ import annotations

import os

import pytest

from realagents.agents import find, install_report
from realagents.offline_proxy import RefusingProxy
from realagents.sessions import measure_reuse

pytestmark = [pytest.mark.real_agent, pytest.mark.real_server]
#: Goal of issue 18: the server reuses at least this share, within a session and between two.
REUSE_GOAL = 0.9


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xdist_group(f"real_agents_{i % 2}"))
                                  for i, name in enumerate(("claude", "codex", "opencode"))])
def test_the_server_reuses_the_agents_prompt_within_and_between_sessions(name, llama_server_binary, tiny_128k_gguf,
                                                                        tmp_path, request):
    from realserver.loading_proxy import LoadingProxy
    from realserver.server import LlamaServer

    agent = find(name)
    if agent.program is None:
        pytest.skip(f"{name} is not installed ({install_report()})")
    server = LlamaServer(llama_server_binary, tiny_128k_gguf, context=131072, alias="tiny",
                         extra_args=["-n", "16", "--repeat-penalty", "1.5"])
    with server, LoadingProxy(server.origin, loading_seconds=0) as proxy, RefusingProxy() as internet:
        env = {**internet.environ(), "PATH": f"{agent.program.parent}:{os.environ['PATH']}"}
        reuse = measure_reuse(agent, server, proxy, tmp_path, env)
    print(reuse.line())  # the measure, shown with -rP
    request.node.user_properties.append(("real_agent_ran", name))
    assert reuse.within_share is not None and reuse.within_share >= REUSE_GOAL, reuse.line()
    assert reuse.common_prefix, reuse.line()
    assert reuse.between_share is not None and reuse.between_share >= REUSE_GOAL, reuse.line()

"""`lmprep bench`'s projection against the real agent: Claude Code, Codex and opencode each run
once through `lmprep exec` against a fresh real llama-server (the tiny model, 128k window)
behind the recording proxy, and then `lmprep bench --for AGENT` runs on the same server. The
agent's real first request, as the server counted and timed it (its log), and bench's
projection of it agree within 20%: its size in tokens, and its prefill time.

A prefill time is a wall time: beside the rest of the suite (four xdist workers on 2 cores) the
same prompt took from 2 to 10 s, and pairs measured a few seconds apart disagreed by up to 90%.
So this file runs alone, before the suite (`.ci/run`: `python -m pytest -n 0
tests/test_bench_real_agents.py`), and skips under xdist, saying so. A pair whose times disagree
is measured again, up to three pairs, on a fresh server each (the agent's second run would find
its own prompt in the server's cache).
"""

from __future__ import annotations

import os

import pytest

from e2e import run_lmprep
from lmprep.agents import agent_module
from realagents.agents import find, install_report
from realagents.measure import measure

pytestmark = [pytest.mark.real_agent, pytest.mark.real_server,
              pytest.mark.skipif(bool(os.environ.get("PYTEST_XDIST_WORKER")),
                                 reason="times prefills: runs alone, with -n 0 (.ci/run does, before the suite)")]
TOLERANCE = 0.20
PAIRS = 3


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xdist_group(f"real_agents_{i % 2}"))
                                  for i, name in enumerate(("claude", "codex", "opencode"))])
def test_bench_projects_the_real_agents_first_request(name, llama_server_binary, tiny_128k_gguf, tmp_path, request):
    from realserver.loading_proxy import LoadingProxy
    from realserver.server import LlamaServer

    agent = find(name)
    if agent.program is None:
        pytest.skip(f"{name} is not installed ({install_report()})")
    recorded = agent_module(name).FIRST_REQUEST
    pairs = []
    for attempt in range(PAIRS):
        workdir = tmp_path / f"pair{attempt}"
        workdir.mkdir()
        with LlamaServer(llama_server_binary, tiny_128k_gguf, context=131072, alias="tiny",
                         extra_args=["-n", "16", "--repeat-penalty", "1.5"]) as server, \
                LoadingProxy(server.origin, loading_seconds=0) as proxy:
            measured = measure(agent, server, proxy, workdir)
            assert measured.returncode == 0, measured.stderr[-3000:]
            assert measured.first is not None, measured.routes
            tokens, chars, prompt_ms = measured.first
            # What the agent module records is what the agent sends today (its size drifts with the
            # date and the folder it runs in, by a few tokens).
            assert abs(tokens - recorded.tokens) / recorded.tokens <= TOLERANCE, (tokens, recorded)
            assert abs(chars - recorded.chars) / recorded.chars <= TOLERANCE, (chars, recorded)
            bench = run_lmprep("bench", "--for", name, "-p", "box", "--config", str(workdir / "lmprep.toml"),
                               "--json", timeout=600)
            assert bench.returncode == 0, bench.stderr[-3000:]
        result = bench.json["bench"]
        projected = recorded.tokens / result["prefill_tps"]  # the server's own speed, at the agent's size
        real = prompt_ms / 1000
        pairs.append((round(projected, 2), round(real, 2)))
        if abs(projected - real) / real <= TOLERANCE:
            break
    request.node.user_properties.append(("bench_pairs", f"{name}: {pairs}"))
    projected, real = pairs[-1]
    assert abs(projected - real) / real <= TOLERANCE, f"projected vs real prefill seconds, per pair: {pairs}"

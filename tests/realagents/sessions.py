"""How much of a real agent's prompt the server's prefix cache reuses, from one turn to the
next and from one session to the next, by the server's own counters.

Three runs of the agent through `lmprep exec` against one llama-server (`-np 1`, so every
request meets the previous one's cache), in one HOME and one working directory:

1. a first session ("say hi");
2. that session continued (each agent's own continue flag, CONTINUE below): (a) within a
   session, the share of the first run's main prompt the server reused for the next turn;
3. a new session with another first message: (b) between sessions, the tokens the server
   reused, over the tokens it can reuse at best when only the first message differs: the
   first session's main request sent again as it was, then with its first message replaced
   by a third one (nothing else changed), the second's reused tokens by the server's count.
   That is the two prompts' longest common prefix in tokens as the server renders and
   tokenizes them (a chat template may put the tools after the messages; the tiny test
   model's does), and a per-session value ahead of the first message (Claude Code's
   attribution header) shortens the real sessions' common prefix, not this one.

The reused tokens are the server's: its log's prompt tokens less those it evaluated (see
measure.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from realagents.agents import PROMPT, RealAgent
from realagents.measure import MODEL_ROUTES, Measured, measure

OTHER_PROMPT = "list the files here"
REPLAY_PROMPT = "count to three"
#: Each agent's command line for a continued session (its last one, in this directory).
CONTINUE = {
    "claude": ("-c", "-p", "say more"),
    "codex": ("exec", "--skip-git-repo-check", "resume", "--last", "say more"),
    "opencode": ("run", "-c", "say more"),
    "qwen": ("-c", "say more"),
    "kilo": ("run", "-c", "say more"),
    "copilot": ("--continue", "-p", "say more", "-s", "--allow-all-tools"),
    "pi": ("-c", "-p", "say more"),
    "droid": None,  # `droid exec` has no continue flag for the last session (only -s ID)
    "cline": None,
    "aider": ("--message", "say more", "--yes-always", "--no-git", "--restore-chat-history"),
}


@dataclass
class Reuse:
    agent: str
    first_prompt: int  # tokens of the first session's main request
    within_reused: int | None  # tokens the continued turn took from the cache
    common_prefix: int | None  # tokens the server reuses at best when only the first message differs
    between_reused: int | None

    @property
    def within_share(self) -> float | None:
        return None if self.within_reused is None else self.within_reused / self.first_prompt

    @property
    def between_share(self) -> float | None:
        if self.between_reused is None or not self.common_prefix:
            return None
        return self.between_reused / self.common_prefix

    def line(self) -> str:
        def pct(value):
            return "n/a" if value is None else f"{value:.0%}"
        return (f"{self.agent}: first prompt {self.first_prompt} tokens; within a session reused "
                f"{self.within_reused} ({pct(self.within_share)} of it); between sessions reused "
                f"{self.between_reused} of a {self.common_prefix}-token common prefix ({pct(self.between_share)})")


def replayed_reuse(server, route: str, body: dict, first_message: str, other_message: str) -> int:
    """Send ``body`` to ``server`` as it was, then with ``first_message`` replaced by
    ``other_message``: the tokens the server reused for the second (from its log)."""
    from realagents.measure import server_tasks
    from realserver.server import http_request

    text = json.dumps(body)
    swapped = json.loads(text.replace(json.dumps(first_message)[1:-1], json.dumps(other_message)[1:-1]))
    assert swapped != body
    before = len(server.log_text())
    for payload in (body, swapped):
        http_request("POST", server.origin + route, payload, timeout=600)
    # The server logs a task's end just after its answer's last byte: wait for both.
    deadline = time.monotonic() + 30
    while len(tasks := server_tasks(server.log_text()[before:])) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(tasks) == 2, tasks
    return tasks[1].prompt_tokens - tasks[1].evaluated_tokens


def _main(measured: Measured, bodies: list[dict]) -> tuple[int, int, dict | None]:
    """(prompt tokens, reused tokens, body) of the run's main request: its largest prompt."""
    task = max(measured.tasks, key=lambda t: t.prompt_tokens)
    body = max(bodies, key=lambda b: len(json.dumps(b))) if bodies else None
    return task.prompt_tokens, task.prompt_tokens - task.evaluated_tokens, body


def _run(agent: RealAgent, argv, server, proxy, workdir: Path, env: dict, marker: bytes):
    before = len(proxy.requests)
    run = RealAgent(agent.name, agent.program, tuple(argv), agent.route)
    measured = measure(run, server, proxy, workdir, extra_env=env, quiet=False)
    assert measured.returncode == 0, measured.stderr[-3000:]
    assert measured.tasks, measured.routes
    bodies = [r.json() for r in proxy.requests[before:]
              if r.method == "POST" and r.path.split("?")[0] in MODEL_ROUTES and marker in r.body]
    return measured, bodies


def measure_reuse(agent: RealAgent, server, proxy, workdir: Path, env: dict | None = None) -> Reuse:
    """The three runs above; ``env`` (an isolated HOME, say) is the same for all three."""
    env = env or {}
    first, first_bodies = _run(agent, agent.argv, server, proxy, workdir, env, PROMPT.encode())
    first_prompt, _, first_body = _main(first, first_bodies)
    within = None
    if CONTINUE.get(agent.name):
        continued, _ = _run(agent, CONTINUE[agent.name], server, proxy, workdir, env, b"say more")
        within = _main(continued, [])[1]
    other_argv = tuple(OTHER_PROMPT if arg == PROMPT else arg for arg in agent.argv)
    other, other_bodies = _run(agent, other_argv, server, proxy, workdir, env, OTHER_PROMPT.encode())
    _, other_reused, _ = _main(other, other_bodies)
    # A first message no run sent: the server's prompt cache (--cache-ram) holds the other
    # session's prompt too, which would match a replay with OTHER_PROMPT beyond its first message.
    prefix = None if first_body is None else replayed_reuse(server, agent.route, first_body, PROMPT, REPLAY_PROMPT)
    return Reuse(agent.name, first_prompt, within, prefix, other_reused)

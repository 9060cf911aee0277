"""A real agent's first request, measured: run it once through `lmprep exec` against a real
llama-server behind the recording proxy, and read what it sent (routes, characters) and what
the server made of it (prompt tokens, prefill time) from the server's own log.

llama-server b11434 logs, per task: `prompt eval time = T ms / N tokens` (the tokens it
evaluated, less what its cache held), `eval time = ... / M tokens` (generated) and `stop
processing: n_tokens = K` (the whole conversation in its slot), so the prompt is K - M.
With one slot (`-np 1`) tasks run in the order the requests arrived.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from e2e import run_lmprep
from realagents.agents import QUIET, RealAgent

_PROMPT_EVAL = re.compile(r"task (\d+) \| prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_EVAL = re.compile(r"task (\d+) \|\s+eval time =\s*([\d.]+) ms /\s*(\d+) tokens")
_STOP = re.compile(r"task (\d+) \| stop processing: n_tokens = (\d+)")
MODEL_ROUTES = ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/chat/completions", "/responses")


@dataclass
class Task:
    prompt_tokens: int  # the whole prompt, cached or not
    evaluated_tokens: int
    prompt_ms: float


@dataclass
class Measured:
    agent: str
    version: str
    routes: list[str]  # every request, in order: "POST /v1/messages"
    model_requests: list[int] = field(default_factory=list)  # body characters of each model request
    tasks: list[Task] = field(default_factory=list)  # the server's view of each model request
    returncode: int = 0
    stderr: str = ""

    @property
    def first(self) -> tuple[int, int, float] | None:
        """The largest model request (the one carrying the system prompt and the tools; some agents
        send a short title request first): (prompt tokens, body characters, prefill ms)."""
        if not self.tasks or not self.model_requests:
            return None
        index = max(range(len(self.tasks)), key=lambda i: self.tasks[i].prompt_tokens)
        chars = max(self.model_requests)
        task = self.tasks[index]
        return task.prompt_tokens, chars, task.prompt_ms


def server_tasks(log: str) -> list[Task]:
    """Every finished task in a llama-server log, in order."""
    evaluated: dict[str, tuple[float, int]] = {}
    generated: dict[str, int] = {}
    tasks: list[Task] = []
    for line in log.splitlines():
        if match := _PROMPT_EVAL.search(line):
            evaluated[match[1]] = (float(match[2]), int(match[3]))
        elif match := _EVAL.search(line):
            generated[match[1]] = int(match[3])
        elif (match := _STOP.search(line)) and match[1] in evaluated:
            prompt_ms, count = evaluated.pop(match[1])
            tasks.append(Task(int(match[2]) - generated.pop(match[1], 0), count, prompt_ms))
    return tasks


def agent_version(agent: RealAgent) -> str:
    # The `openai` agent is a script run by the venv's python: its version is the SDK's.
    argv = ([str(agent.program), "-c", "import openai; print(openai.__version__)"] if agent.name == "openai"
            else [str(agent.program), "--version"])
    try:
        completed = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                                   stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"\d+\.\d+(\.\d+)?", completed.stdout + completed.stderr)
    return match[0] if match else "unknown"


def measure(agent: RealAgent, server, proxy, workdir: Path, token: str | None = None,
            extra_env: dict | None = None, quiet: bool = True) -> Measured:
    """Run ``agent`` once through lmprep exec against ``proxy`` (in front of ``server``);
    ``quiet=False``: without the agents' offline switches of QUIET (only what lmprep sets)."""
    config = workdir / "lmprep.toml"
    config.write_text(f'[providers.box]\nkind = "llamacpp"\nbase_url = "{proxy.base_url}"\n'
                      + ('api_key_env = "BOX_TOKEN"\n' if token else ""))
    command = agent.command()
    if agent.name == "llm" and token:
        command += ["--key", token]
    work = workdir / "work"
    work.mkdir(exist_ok=True)
    log_before = len(server.log_text())
    requests_before = len(proxy.requests)
    env = {**(QUIET if quiet else {}), **(extra_env or {}), "PATH": f"{agent.program.parent}:{os.environ['PATH']}"}
    if token:
        env["BOX_TOKEN"] = token
    result = run_lmprep("exec", "--for", agent.name, "-p", "box", "--config", str(config), "--", *command,
                        env=env, timeout=600, cwd=work)
    # The agent's own requests: lmprep's probe and checks before it say who they are.
    sent = [r for r in proxy.requests[requests_before:] if "lmprep" not in r.headers.get("user-agent", "")]
    measured = Measured(agent.name, agent_version(agent), [f"{r.method} {r.path.split('?')[0]}" for r in sent],
                        returncode=result.returncode, stderr=result.stderr)
    measured.model_requests = [len(r.body) for r in sent
                               if r.method == "POST" and r.path.split("?")[0] in MODEL_ROUTES and b"say hi" in r.body]
    measured.tasks = server_tasks(server.log_text()[log_before:])
    return measured

"""Qwen Code: the OpenAI variables; Chat Completions, streamed, with tools.

Seen from Qwen Code 0.24.4 (2026-11): `POST {base}/chat/completions` with `stream: true`,
`stream_options: {"include_usage": true}`, `max_tokens: 32000` and 10 function tools: 60 kB in
all, which llama-server b11434 refused on a 2048-token window ("request (28382 tokens) exceeds
the available context size"). It takes an empty answer for an error and retries.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms
from ._trust import NODE

LABEL = "Qwen Code"
COMMAND = "qwen"
INSTALL = "npm install -g @qwen-code/qwen-code@0.24.4"
#: `lmprep smoke`: the positional prompt is one-shot ("Positional prompt. Defaults to one-shot",
#: `qwen --help`, 0.24.4, where -p/--prompt is deprecated for it). As tests/realagents/agents.py
#: runs it on CI.
SMOKE_ARGV = (SMOKE_PROMPT,)
MIN_CONTEXT = 65536  # its first request alone is ~60 kB (15-28k tokens) of prompt and tools, and asks for 32000 out
#: Its private CA: NODE_EXTRA_CA_CERTS (a Node program).
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(28309, 60150, ("POST /v1/chat/completions",), "0.24.4", "2026-12-02")
# Timeouts, read from its bundle (0.24.4): QWEN_CODE_API_TIMEOUT_MS (the request, default 120 s),
# QWEN_STREAM_IDLE_TIMEOUT_MS (no chunk, default 240 s), QWEN_STREAM_MAX_LIFETIME_MS (the whole
# stream, default 900 s). Its 28k-token first request took 125 s to prefill on 2 busy cores.
TIMEOUTS_MS = {"QWEN_CODE_API_TIMEOUT_MS": 120_000, "QWEN_STREAM_IDLE_TIMEOUT_MS": 240_000,
               "QWEN_STREAM_MAX_LIFETIME_MS": 900_000}


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, first_turn_s=None, **_) -> AgentSetup:
    # Its settings' auth type wins over the OPENAI_* variables; --auth-type wins over both.
    return AgentSetup("qwen", {"OPENAI_BASE_URL": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model},
                      [("--auth-type", "openai")], defaults=timeouts(first_turn_s))


def timeouts(first_turn_s: float | None) -> dict[str, str]:
    raised = {name: raised_timeout_ms(first_turn_s, default) for name, default in TIMEOUTS_MS.items()}
    return {name: str(value) for name, value in raised.items() if value}

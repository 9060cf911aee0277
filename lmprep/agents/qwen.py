"""Qwen Code: the OpenAI variables; Chat Completions, streamed, with tools.

Seen from Qwen Code 0.24.4 (2026-11): `POST {base}/chat/completions` with `stream: true`,
`stream_options: {"include_usage": true}`, `max_tokens: 32000` and 10 function tools: 60 kB in
all, which llama-server b11434 refused on a 2048-token window ("request (28382 tokens) exceeds
the available context size"). It takes an empty answer for an error and retries.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import AgentSetup

LABEL = "Qwen Code"
COMMAND = "qwen"
INSTALL = "npm install -g @qwen-code/qwen-code@0.24.4"
MIN_CONTEXT = 65536  # its first request alone is ~60 kB (15-28k tokens) of prompt and tools, and asks for 32000 out
FIRST_REQUEST = FirstRequest(28309, 60150, ("POST /v1/chat/completions",), "0.24.4", "2026-12-02")


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, **_) -> AgentSetup:
    # Its settings' auth type wins over the OPENAI_* variables; --auth-type wins over both.
    return AgentSetup("qwen", {"OPENAI_BASE_URL": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model},
                      [("--auth-type", "openai")])

"""Qwen Code: the OpenAI variables; Chat Completions, streamed, with tools.

Seen from Qwen Code 0.24.4 (2026-11): `POST {base}/chat/completions` with `stream: true`,
`stream_options: {"include_usage": true}`, `max_tokens: 32000` and 10 function tools.
"""

from ..protocols import CHAT, AgentNeeds
from . import AgentSetup

LABEL = "Qwen Code"
MIN_CONTEXT = None


def needs(kind: str) -> AgentNeeds:
    return AgentNeeds(LABEL, CHAT, tools=True, fields=(("stream_options", {"include_usage": True}),))


def setup(*, v1, model, key, **_) -> AgentSetup:
    return AgentSetup("qwen", {"OPENAI_BASE_URL": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model},
                      ["--auth-type", "openai"])

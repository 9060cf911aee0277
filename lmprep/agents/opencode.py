"""opencode: an inline provider config; Chat Completions, streamed, with tools.

Seen from opencode 1.18.33 (2026-11): a title request first, then the main turn, both
`POST {base}/chat/completions` with `stream: true`, `stream_options: {"include_usage": true}`,
`max_tokens: 32000`; the main turn has 10 function tools and `tool_choice: "auto"`.
"""

import json

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import AgentSetup

LABEL = "opencode"
COMMAND = "opencode"
INSTALL = "npm install -g opencode-ai@1.18.33"
MIN_CONTEXT = 65536  # Ollama's guidance for coding agents
FIRST_REQUEST = FirstRequest(8322, 30696, ("POST /v1/chat/completions",), "1.18.33", "2026-12-02")


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, provider, v1, model, token, context_length, **_) -> AgentSetup:
    return AgentSetup("opencode", {"OPENCODE_CONFIG_CONTENT": inline_config(provider, v1, model, token,
                                                                             context_length)})


def inline_config(provider: str, v1: str, model: str, token: str | None, context_length: int | None) -> str:
    """An @ai-sdk/openai-compatible provider `lmprep` serving ``model``, as opencode (and its
    fork kilo) read it from a variable."""
    options: dict[str, str] = {"baseURL": v1}
    if token:
        options["apiKey"] = token
    entry: dict = {"name": model}
    if context_length:
        entry["limit"] = {"context": context_length, "output": min(context_length // 2, 16384)}
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "lmprep": {
                "npm": "@ai-sdk/openai-compatible",
                "name": f"{provider} (lmprep)",
                "options": options,
                "models": {model: entry},
            }
        },
        "model": f"lmprep/{model}",
    }
    return json.dumps(config, separators=(",", ":"))

"""opencode: an inline provider config; Chat Completions, streamed, with tools.

Seen from opencode 1.18.33 (2026-11): a title request first, then the main turn, both
`POST {base}/chat/completions` with `stream: true`, `stream_options: {"include_usage": true}`,
`max_tokens: 32000`; the main turn has 10 function tools and `tool_choice: "auto"`.
"""

import json

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms
from ._trust import NODE

LABEL = "opencode"
COMMAND = "opencode"
INSTALL = "npm install -g opencode-ai@1.18.33"
#: `lmprep smoke`: `opencode run MESSAGE` runs one message and exits (`opencode run --help`,
#: 1.18.33). As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("run", SMOKE_PROMPT)
MIN_CONTEXT = 65536  # Ollama's guidance for coding agents
#: Its private CA: NODE_EXTRA_CA_CERTS (the 1.18.33 binary is a Bun 1.3.14 build, which reads it).
CA_VARIABLES = (NODE,)
#: With only lmprep's other variables and no internet, opencode 1.18.33 asked for
#: models.opencode.ai (its model catalogue) and registry.npmjs.org (its default plugins, and
#: updates) before it answered (seen through a refusing proxy, 2026-12). With these, only its
#: background install of @opencode-ai/plugin into its config directory is left: no switch turns
#: it off, and its failure is only a warning.
OFFLINE = {"OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1",
           "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1", "OPENCODE_DISABLE_SHARE": "1", "OPENCODE_DISABLE_LSP_DOWNLOAD": "1"}
#: A provider's options.headerTimeout (until the response headers) and options.chunkTimeout
#: (between two chunks of the stream) default to 300 s in 1.18.33; options.timeout (the whole
#: request) has no default.
STREAM_TIMEOUT_MS = 300_000
FIRST_REQUEST = FirstRequest(8322, 30696, ("POST /v1/chat/completions",), "1.18.33", "2026-12-02")


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, provider, v1, model, token, context_length, first_turn_s=None, **_) -> AgentSetup:
    timeout = raised_timeout_ms(first_turn_s, STREAM_TIMEOUT_MS)
    timeouts = {"headerTimeout": timeout, "chunkTimeout": timeout} if timeout else None
    return AgentSetup("opencode", {"OPENCODE_CONFIG_CONTENT": inline_config(provider, v1, model, token,
                                                                             context_length, timeouts)})


def inline_config(provider: str, v1: str, model: str, token: str | None, context_length: int | None,
                  timeouts: dict[str, int] | None = None) -> str:
    """An @ai-sdk/openai-compatible provider `lmprep` serving ``model``, as opencode (and its
    fork kilo) read it from a variable; ``timeouts`` go into the provider's options."""
    options: dict = {"baseURL": v1, **(timeouts or {})}
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

"""Kilo Code CLI: a fork of opencode that reads the same inline config from KILO_CONFIG_CONTENT.

Seen from @kilocode/cli 7.7.7 (2026-11): `POST {base}/chat/completions`, streamed with usage,
`max_tokens: 32000`, `tool_choice: "auto"`, 16 function tools, 50 kB in all.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup
from ._trust import NODE
from .opencode import inline_config

LABEL = "Kilo Code"
COMMAND = "kilo"
INSTALL = "npm install -g @kilocode/cli@7.7.7"
#: `lmprep smoke`: `kilo run MESSAGE` (`kilo run --help`, 7.7.7, as opencode's). As
#: tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("run", SMOKE_PROMPT)
MIN_CONTEXT = 65536  # ~14k tokens of prompt and tools, and it asks for 32000 out
#: Its private CA: NODE_EXTRA_CA_CERTS (the 7.7.7 binary is a Bun 1.3.14 build, which reads it).
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(11885, 50517, ("POST /v1/chat/completions",), "7.7.7", "2026-12-02")
#: Its update check, share links and model catalogue fetch (the opencode switches, renamed).
#: Its provider timeouts (options.timeout, headerTimeout, chunkTimeout) have no default in
#: 7.7.7: nothing to raise.
OFFLINE = {"KILO_DISABLE_AUTOUPDATE": "1", "KILO_DISABLE_SHARE": "1", "KILO_DISABLE_MODELS_FETCH": "1",
           "KILO_DISABLE_DEFAULT_PLUGINS": "1", "KILO_DISABLE_LSP_DOWNLOAD": "1",
           "KILO_TELEMETRY_LEVEL": "off"}  # PostHog (us.i.posthog.com) only when it is "all"


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, provider, v1, model, token, context_length, **_) -> AgentSetup:
    return AgentSetup("kilo", {"KILO_CONFIG_CONTENT": inline_config(provider, v1, model, token, context_length)})

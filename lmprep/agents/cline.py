"""Cline CLI: its provider settings file, found through CLINE_PROVIDER_SETTINGS_PATH.

Read from @cline/shared (cline 3.0.65): `CLINE_PROVIDER_SETTINGS_PATH` names the providers file
(default `<data>/settings/providers.json`), in the shape `cline auth -p openai-compatible -b URL`
writes; cline rewrites that file on every run (lmprep writes it again whenever it changed), and a
session backend other than `local` leaves a daemon running after a one-shot prompt. Seen
(2026-11): `POST {base}/chat/completions`, streamed with usage, `tool_choice: "auto"`, 25
function tools, 22 kB in all.
"""

import json

from ..errors import NotConfiguredError
from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup
from ._trust import NODE

LABEL = "Cline"
COMMAND = "cline"
INSTALL = "npm install -g cline@3.0.65"
#: `lmprep smoke`: a prompt argument runs one task and exits when stdin is not a terminal (`cline
#: --help`, 3.0.65: "Your prompt"). As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = (SMOKE_PROMPT,)
MIN_CONTEXT = 32768  # ~6k tokens of prompt and 25 tools, with no output limit of its own
#: Its private CA: NODE_EXTRA_CA_CERTS (the 3.0.65 binary is a Bun 1.3.13 build, which reads it).
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(3643, 21754, ("POST /v1/chat/completions",), "3.0.65", "2026-12-02")
#: No self-update check at start.
OFFLINE = {"CLINE_NO_AUTO_UPDATE": "1"}
# Timeouts, read from @cline/llms (3.0.65): a provider's `timeoutMs` setting is applied only by its
# Ollama provider (default 300000 ms); the openai-compatible one sets no request or stream timeout
# of its own, and no CLINE_* variable sets one: nothing to raise. Not checked against the real agent.


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, token, **_) -> AgentSetup:
    if token:
        raise NotConfiguredError(
            "Cline reads the server's API key only from its settings file, and lmprep never writes a token to a file.",
            "Run `cline auth -p openai-compatible -b URL -m MODEL -k KEY` yourself, or turn the server's key off.",
        )
    providers = {
        "version": 1, "lastUsedProvider": "openai-compatible", "modes": {},
        "providers": {"openai-compatible": {
            "settings": {"provider": "openai-compatible", "apiKey": key, "model": model, "baseUrl": v1},
            "updatedAt": "2026-01-01T00:00:00.000Z", "tokenSource": "manual",
        }},
    }
    return AgentSetup("cline", {"CLINE_SESSION_BACKEND_MODE": "local"},
                      files={"CLINE_PROVIDER_SETTINGS_PATH": ("cline-providers.json", json.dumps(providers, indent=2))})

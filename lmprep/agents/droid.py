"""Factory's Droid CLI: a settings file given with `--settings` ("merged for this process only").

From docs.factory.ai/cli/byok: `customModels` entries with `baseUrl`, `apiKey` (which may be
"${VARIABLE}"), `provider: "generic-chat-completion-api"` and `maxOutputTokens`; the session's
model from `sessionDefaultSettings.model`. Seen from droid 0.215.0 (2026-11): `droid --settings F
exec "..."` works with no Factory login; `POST {base}/chat/completions`, streamed with usage,
`max_tokens` from `maxOutputTokens`, 7 function tools (read-only mode), 37 kB in all.
"""

import json

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms
from ._trust import NODE

LABEL = "Droid"
COMMAND = "droid"
INSTALL = "npm install -g droid@0.215.0"
#: `lmprep smoke`: `droid exec PROMPT` ("Execute a single command (non-interactive mode)", `droid
#: exec --help`, 0.215.0); lmprep's --settings goes before `exec`, as exec places it. As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("exec", SMOKE_PROMPT)
MIN_CONTEXT = 32768  # ~10k tokens of prompt and tools, and its output limit
#: Its private CA: NODE_EXTRA_CA_CERTS (the 0.215.0 binary is a Bun 1.3.14 build, which reads it).
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(11334, 37069, ("POST /v1/chat/completions",), "0.215.0", "2026-12-02")
# No offline switch: with only lmprep's variables and no internet, droid 0.215.0 asked for
# api.factory.ai, telemetry.factory.ai and an OpenTelemetry collector (seen through a refusing
# proxy, 2026-12), and FACTORY_DISABLE_DYNAMIC_CONFIG=1 with FACTORY_OTEL_ENABLED=false (names in
# its binary) did not stop them; it answers all the same.
#: Its OpenAI client's timeout (the request, until the answer's headers) is the settings key
#: `llmRequestTimeout` (ms, at least 1000), default 600000: `getLlmRequestTimeout(){return
#: this.settings.general?.llmRequestTimeout??600000}` in the 0.215.0 binary, where the settings
#: file's top-level keys (customModels, sessionDefaultSettings) are `settings.general`. Its 240 s
#: stream idle limit wraps only the Anthropic route, not Chat Completions.
LLM_REQUEST_TIMEOUT_MS = 600_000


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, context_length, first_turn_s=None, **_) -> AgentSetup:
    model_id = "custom:lmprep"
    settings = {
        "customModels": [{
            "id": model_id, "index": 0, "model": model, "displayName": f"{model} (lmprep)", "baseUrl": v1,
            "apiKey": "${LMPREP_DROID_API_KEY}", "provider": "generic-chat-completion-api",
            "maxOutputTokens": min(context_length // 4, 16384) if context_length else 4096,
        }],
        "sessionDefaultSettings": {"model": model_id},
    }
    timeout = raised_timeout_ms(first_turn_s, LLM_REQUEST_TIMEOUT_MS)
    if timeout:
        settings["llmRequestTimeout"] = timeout
    return AgentSetup("droid", {"LMPREP_DROID_API_KEY": key},
                      files={"--settings": ("droid-settings.json", json.dumps(settings, indent=2))})

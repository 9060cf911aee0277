"""GitHub Copilot CLI: its own provider variables ("bring your own key"), no GitHub login.

From `copilot help environment` (Copilot CLI 1.0.102): with COPILOT_PROVIDER_BASE_URL set "the
CLI uses this provider instead of GitHub Copilot's model routing. GitHub authentication is not
required"; COPILOT_PROVIDER_TYPE (openai), COPILOT_PROVIDER_WIRE_API (completions|responses),
COPILOT_PROVIDER_API_KEY, COPILOT_MODEL, COPILOT_PROVIDER_MAX_PROMPT_TOKENS and _MAX_OUTPUT_TOKENS.
Seen (2026-11): `POST {base}/chat/completions`, streamed with usage, 17 function tools, a 22k-
character system prompt (48 kB in all); `max_tokens` is the output limit it is given.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import AgentSetup

LABEL = "GitHub Copilot CLI"
COMMAND = "copilot"
INSTALL = "npm install -g @github/copilot@1.0.102"
MIN_CONTEXT = 65536  # ~12k tokens of prompt and tools before the first word of the task
FIRST_REQUEST = FirstRequest(19003, 47937, ("POST /v1/chat/completions",), "1.0.102", "2026-12-02")
#: From `copilot help environment`: no GitHub calls, no self-update.
OFFLINE = {"COPILOT_OFFLINE": "true", "COPILOT_AUTO_UPDATE": "false"}


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, context_length, **_) -> AgentSetup:
    variables = {
        "COPILOT_PROVIDER_BASE_URL": v1, "COPILOT_PROVIDER_TYPE": "openai", "COPILOT_PROVIDER_WIRE_API": "completions",
        "COPILOT_PROVIDER_API_KEY": key, "COPILOT_MODEL": model,
    }
    if context_length:
        output = min(context_length // 4, 16384)
        variables["COPILOT_PROVIDER_MAX_PROMPT_TOKENS"] = str(context_length - output)
        variables["COPILOT_PROVIDER_MAX_OUTPUT_TOKENS"] = str(output)
    return AgentSetup("copilot", variables)

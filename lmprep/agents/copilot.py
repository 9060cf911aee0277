"""GitHub Copilot CLI: its own provider variables ("bring your own key"), no GitHub login.

From `copilot help environment` (Copilot CLI 1.0.102): with COPILOT_PROVIDER_BASE_URL set "the
CLI uses this provider instead of GitHub Copilot's model routing. GitHub authentication is not
required"; COPILOT_PROVIDER_TYPE (openai), COPILOT_PROVIDER_WIRE_API (completions|responses),
COPILOT_PROVIDER_API_KEY, COPILOT_MODEL, COPILOT_PROVIDER_MAX_PROMPT_TOKENS and _MAX_OUTPUT_TOKENS.
Seen (2026-11): `POST {base}/chat/completions`, streamed with usage, 17 function tools, a 22k-
character system prompt (48 kB in all); `max_tokens` is the output limit it is given.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms
from ._trust import NODE

LABEL = "GitHub Copilot CLI"
COMMAND = "copilot"
INSTALL = "npm install -g @github/copilot@1.0.102"
#: `lmprep smoke`: -p/--prompt ("Execute a prompt in non-interactive mode", `copilot --help`,
#: 1.0.102), -s (--silent) for only the answer, and --allow-all-tools, which a prompt run needs to use a
#: tool without asking. As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("-p", SMOKE_PROMPT, "-s", "--allow-all-tools")
MIN_CONTEXT = 65536  # ~12k tokens of prompt and tools before the first word of the task
#: Its private CA: NODE_EXTRA_CA_CERTS, which both its Node runtime (a Node single executable) and its
#: native HTTP client (reqwest and rustls in runtime.node, 1.0.102, beside CURL_CA_BUNDLE) read.
CA_VARIABLES = (NODE,)
FIRST_REQUEST = FirstRequest(19003, 47937, ("POST /v1/chat/completions",), "1.0.102", "2026-12-02")
#: From `copilot help environment`: no GitHub calls, no self-update.
OFFLINE = {"COPILOT_OFFLINE": "true", "COPILOT_AUTO_UPDATE": "false"}
#: Its model requests go through its native HTTP client, whose limit is COPILOT_NATIVE_HTTP_TIMEOUT_MS
#: (read from prebuilds/linux-x64/runtime.node in the 1.0.102 package: "Ignoring invalid
#: COPILOT_NATIVE_HTTP_TIMEOUT_MS: expected a positive integer in milliseconds; using the 600000 ms
#: default"); no COPILOT_PROVIDER_* variable sets a timeout. Not yet checked against the real agent.
NATIVE_HTTP_TIMEOUT_MS = 600_000


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL)


def setup(*, v1, model, key, context_length, first_turn_s=None, **_) -> AgentSetup:
    variables = {
        "COPILOT_PROVIDER_BASE_URL": v1, "COPILOT_PROVIDER_TYPE": "openai", "COPILOT_PROVIDER_WIRE_API": "completions",
        "COPILOT_PROVIDER_API_KEY": key, "COPILOT_MODEL": model,
    }
    if context_length:
        output = min(context_length // 4, 16384)
        variables["COPILOT_PROVIDER_MAX_PROMPT_TOKENS"] = str(context_length - output)
        variables["COPILOT_PROVIDER_MAX_OUTPUT_TOKENS"] = str(output)
    timeout = raised_timeout_ms(first_turn_s, NATIVE_HTTP_TIMEOUT_MS)
    defaults = {"COPILOT_NATIVE_HTTP_TIMEOUT_MS": str(timeout)} if timeout else {}
    return AgentSetup("copilot", variables, defaults=defaults)

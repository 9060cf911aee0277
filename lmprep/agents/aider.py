"""aider: Chat Completions through litellm, streamed; its edit formats need no function tools.

On Ollama it speaks Ollama's native /api/chat (litellm's ``ollama_chat/``), which every Ollama has.
Seen from aider 0.86.2 (2026-11): `POST {base}/chat/completions` with `stream: true`,
`temperature: 0`, no tools and no token limit.

Every aider option has a variable (``AIDER_`` + its name; aider reads them with configargparse),
and an option the user gives wins over it: so aider gets variables only. For a model litellm
does not know, aider warns "Unknown context window size" and offers its docs, which `--yes`
accepts by opening a browser; a model metadata file (``--model-metadata-file``, in litellm's
format) with the window read from the server answers that, and release notes, update checks
and the analytics question are turned off for the run.
"""

import json

from ..protocols import CHAT, AgentNeeds, FirstRequest
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms
from ._trust import LITELLM, REQUESTS

LABEL = "aider"
COMMAND = "aider"
INSTALL = "pipx install aider-chat==0.86.2"
#: `lmprep smoke`: --message sends one message and exits, --yes-always answers its questions,
#: --no-git keeps it from making a repository in the smoke run's folder (`aider --help`, 0.86.2).
#: As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("--message", SMOKE_PROMPT, "--yes-always", "--no-git")
MIN_CONTEXT = 8192  # its prompt with the repository map and the files in the chat; seen: 2.3k tokens for "say hi"
#: Its private CA: SSL_CERT_FILE, which litellm (its model requests) reads, and REQUESTS_CA_BUNDLE
#: for what aider fetches itself with requests (models.py, versioncheck.py in 0.86.2).
CA_VARIABLES = (LITELLM, REQUESTS)
#: On Ollama aider sends `num_ctx` with every request (aider/models.py, send_completion: the
#: prompt's tokens x 1.25 + 8192, unless the model's extra_params set it), and litellm's
#: `ollama_chat/` puts it in /api/chat's `options`: Ollama loads the model with that window
#: for the request. The window it is loaded with beforehand (Ollama's default, 4096) does not
#: limit aider there; only the model's own maximum does.
SETS_OWN_WINDOW = ("ollama",)
FIRST_REQUEST = FirstRequest(2266, 2833, ("POST /v1/chat/completions",), "0.86.2", "2026-12-02")
#: No release notes, update checks or analytics; and litellm's own model price map instead of
#: the one it fetches from raw.githubusercontent.com at start (aider 0.86.2 asked for that host
#: with no internet, through a refusing proxy, 2026-12).
OFFLINE = {"AIDER_CHECK_UPDATE": "false", "AIDER_SHOW_RELEASE_NOTES": "false", "AIDER_ANALYTICS": "false",
           "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
#: `--timeout` (AIDER_TIMEOUT, seconds) for each API call; without it aider uses 600 s (models.py).
TIMEOUT_S = 600


def needs(kind: str) -> AgentNeeds | None:
    return None if kind == "ollama" else AgentNeeds(LABEL, CHAT, tools=False)


def setup(*, kind, host, v1, model, key, context_length, first_turn_s=None, **_) -> AgentSetup:
    if kind == "lmstudio":
        provider, variables = "lm_studio", {"LM_STUDIO_API_BASE": v1, "LM_STUDIO_API_KEY": key}
    elif kind == "ollama":
        provider, variables = "ollama_chat", {"OLLAMA_API_BASE": host}
    else:
        provider, variables = "openai", {"OPENAI_API_BASE": v1, "OPENAI_API_KEY": key}
    name = f"{provider}/{model}"
    variables = {**variables, "AIDER_MODEL": name}
    files = {}
    if context_length and kind in SETS_OWN_WINDOW:
        context_length = max(context_length, MIN_CONTEXT)  # it asks for at least that, whatever is loaded
    if context_length:
        metadata = {name: {
            "max_input_tokens": context_length, "max_tokens": context_length,
            "max_output_tokens": min(context_length // 4, 8192),
            "input_cost_per_token": 0.0, "output_cost_per_token": 0.0,
            "litellm_provider": provider, "mode": "chat",
        }}
        files["AIDER_MODEL_METADATA_FILE"] = ("aider-model-metadata", json.dumps(metadata, indent=2))
    timeout = raised_timeout_ms(first_turn_s, TIMEOUT_S * 1000)
    defaults = {"AIDER_TIMEOUT": str(timeout // 1000)} if timeout else {}
    return AgentSetup("aider", variables, files=files, defaults=defaults)

"""Codex CLI: the Responses API only (`wire_api = "chat"` is refused at start), streamed, with tools.

Seen from Codex 0.171 against a capturing server (2026-11): its first request is
`POST {base}/responses` with `stream: true`, no token limit, `tool_choice: "auto"`,
`parallel_tool_calls: true`, `store: false`, `reasoning: {"summary": "auto"}`,
`include: ["reasoning.encrypted_content"]`, ~20k characters of prompt and 9 tools of the types
function, namespace and web_search (a model it knows also gets custom and tool_search tools).
llama-server b11434 skips the types it does not know; earlier builds refused them with
"'type' of tool must be 'function'" (openai/codex#10635). A stream that ends without
`response.completed` is retried five times, then fails. `--oss` reads `CODEX_OSS_BASE_URL`,
probes Ollama's `/api/version` (0.13.4 or later) and `/api/tags`, and never sends a token: a
server that wants one gets the custom model provider instead, as every other server does.
"""

import json

from ..protocols import RESPONSES, AgentNeeds, FirstRequest
from . import PLACEHOLDER_KEY, SMOKE_PROMPT, AgentSetup, raised_timeout_ms, too_slow_note
from ._trust import CODEX

LABEL = "Codex"
COMMAND = "codex"
INSTALL = "npm install -g @openai/codex@0.171.0"
#: `lmprep smoke`: `codex exec` runs one prompt and exits ("Run Codex non-interactively", `codex exec
#: --help`, 0.171.0); outside a git repository (the smoke run's empty folder) it refuses to start
#: without --skip-git-repo-check. As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("exec", "--skip-git-repo-check", SMOKE_PROMPT)
MIN_CONTEXT = 65536  # Ollama's guidance for coding agents
#: Its private CA: CODEX_CA_CERTIFICATE (_trust.CODEX), which it reads before SSL_CERT_FILE.
CA_VARIABLES = (CODEX,)
# On every server, the window as loaded: a Responses request carries none (not even --oss on Ollama).
FIRST_REQUEST = FirstRequest(17458, 40444, ("POST /v1/responses",), "0.171.0", "2026-12-02")

#: What keeps it off OpenAI's cloud against a local server: with only lmprep's other settings and
#: no internet, Codex 0.171 asked for ab.chatgpt.com (its metrics exporter: otel.metrics_exporter),
#: and github.com, api.github.com and chatgpt.com (its curated plugins sync: features.plugins)
#: before it answered (seen through a refusing proxy, 2026-12); with these two it asked for none.
#: The interactive update check and analytics are config keys of the same binary.
OFFLINE_OPTIONS = [("-c", 'otel.metrics_exporter="none"'), ("-c", "features.plugins=false"),
                   ("-c", "check_for_update_on_startup=false"), ("-c", "analytics.enabled=false")]
#: A provider's stream_idle_timeout_ms (no event on the stream) defaults to 300 s, with no cap;
#: the built-in lmstudio and ollama providers of --oss cannot be given another.
STREAM_IDLE_TIMEOUT_MS = 300_000

_INNER = {"type": "function", "name": "lmprep_inner", "description": "Never needs calling.", "strict": False,
          "parameters": {"type": "object", "properties": {}}}
NEEDS = AgentNeeds(
    LABEL, RESPONSES, tools=True,
    other_tools=(
        {"type": "namespace", "name": "lmprep_namespace", "description": "Tools Codex groups.", "tools": [_INNER]},
        {"type": "web_search", "external_web_access": False},
    ),
    fields=(("parallel_tool_calls", True), ("reasoning", {"summary": "auto"}),
            ("include", ["reasoning.encrypted_content"])),
)


def needs(kind: str) -> AgentNeeds:
    # `codex --oss` asks Ollama's /api/version and stops below 0.13.4 ("Ollama 0.12.0 is too old.
    # Codex requires Ollama 0.13.4 or newer."), though /v1/responses came in 0.13.3.
    return NEEDS._replace(min_version=(0, 13, 4)) if kind == "ollama" else NEEDS


def setup(*, kind, v1, model, token, context_length, first_turn_s=None, **_) -> AgentSetup:
    # Codex cannot ask a local server for its window: tell it, or it assumes its own (272k).
    # These are global options: they also go before a subcommand (`codex -c ... exec "..."`).
    window = [("-c", f"model_context_window={context_length}")] if context_length else []
    if kind in ("lmstudio", "ollama") and not token:
        notes = too_slow_note(LABEL, first_turn_s, STREAM_IDLE_TIMEOUT_MS / 1000,
                              "the stream idle limit of its --oss providers")
        return AgentSetup("codex", {"CODEX_OSS_BASE_URL": v1},
                          [("--oss",), ("--local-provider", kind), ("-m", model), *window], notes)
    # Any other OpenAI-compatible server, and LM Studio or Ollama with a token (which --oss never
    # sends: it would get 401): a model provider given with -c overrides, its token read from the
    # variable named by env_key, so it never reaches a command line.
    prefix = "model_providers.lmprep"
    options = [
        ("-c", "model_provider=lmprep"),
        ("-c", f"{prefix}.name=lmprep"),
        ("-c", f"{prefix}.base_url={json.dumps(v1)}"),
        ("-c", f"{prefix}.env_key=LMPREP_CODEX_API_KEY"),
        ("-c", f"{prefix}.wire_api=responses"),
        *window,
        ("-m", model),
    ]
    idle = raised_timeout_ms(first_turn_s, STREAM_IDLE_TIMEOUT_MS)
    if idle:
        options.insert(5, ("-c", f"{prefix}.stream_idle_timeout_ms={idle}"))
    return AgentSetup("codex", {"LMPREP_CODEX_API_KEY": token or PLACEHOLDER_KEY}, options)

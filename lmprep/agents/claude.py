"""Claude Code: the Anthropic Messages API at the server root, streamed, with tools.

Seen from Claude Code 2.1.332 against a capturing server (2026-11): its first request is
`POST /v1/messages?beta=true` with `anthropic-version: 2023-06-01`, `Authorization: Bearer`
(from ANTHROPIC_AUTH_TOKEN), `stream: true`, `max_tokens: 32000`, 12 tools in Anthropic form
and ~50k characters in all. For a model it does not know it assumes a 1M-token window,
hence CLAUDE_CODE_AUTO_COMPACT_WINDOW.
"""

from ..protocols import MESSAGES, AgentNeeds, FirstRequest
from . import SMOKE_PROMPT, AgentSetup, raised_timeout_ms, too_slow_note
from ._trust import NODE

LABEL = "Claude Code"
COMMAND = "claude"
INSTALL = "npm install -g @anthropic-ai/claude-code@2.1.332"
#: `lmprep smoke`: -p/--print answers once and exits ("use -p/--print for non-interactive output",
#: `claude --help`, 2.1.332). As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = ("-p", SMOKE_PROMPT)
MIN_CONTEXT = 100_000  # its system prompt and tools alone run to tens of thousands of tokens
#: Its private CA: NODE_EXTRA_CA_CERTS (the 2.1.332 binary is a Bun 1.4.6 build, which reads it).
CA_VARIABLES = (NODE,)
# On every server, the window as loaded: an Anthropic Messages request carries none.
FIRST_REQUEST = FirstRequest(14619, 48814, ("POST /v1/messages",), "2.1.332", "2026-12-02")


#: What keeps it off Anthropic's cloud against a local server: with only lmprep's other
#: variables and no internet, Claude Code 2.1.332 asked for api.anthropic.com:443 before it
#: answered (seen through a refusing proxy, 2026-12). This one covers its update check,
#: telemetry, error reports and feedback surveys; DISABLE_AUTOUPDATER is the older spelling.
OFFLINE = {"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1"}
# Timeouts, read from the 2.1.332 binary: API_TIMEOUT_MS (the whole request, default 600 s) and
# CLAUDE_STREAM_IDLE_TIMEOUT_MS (no byte of the stream, default 300 s: a prefill longer than that
# fails; it is raised to at most 1,800 s, which nothing raises).
API_TIMEOUT_MS = 600_000
STREAM_IDLE_TIMEOUT_MS = 300_000
STREAM_IDLE_CAP_MS = 1_800_000

NEEDS = AgentNeeds(LABEL, MESSAGES, tools=True, query="?beta=true")


def needs(kind: str) -> AgentNeeds:
    return NEEDS


def setup(*, host, model, key, context_length, first_turn_s=None, **_) -> AgentSetup:
    # ANTHROPIC_MODEL chooses the model as --model does, and a --model the user gives wins.
    variables = {
        "ANTHROPIC_BASE_URL": host,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
    }
    if context_length:
        # Compact before the local window overflows, not at Claude's own 200k.
        variables["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(context_length)
    # Its system prompt starts with an attribution header that changes with the first user
    # message ("x-anthropic-billing-header: cc_version=2.1.332.0b8; ..." for one, ".93d" for
    # another), so two sessions share no prefix in the server's cache; with this, none is sent.
    defaults = {"CLAUDE_CODE_ATTRIBUTION_HEADER": "0"}
    idle = raised_timeout_ms(first_turn_s, STREAM_IDLE_TIMEOUT_MS, STREAM_IDLE_CAP_MS)
    if idle:
        defaults["CLAUDE_STREAM_IDLE_TIMEOUT_MS"] = str(idle)
    whole = raised_timeout_ms(first_turn_s, API_TIMEOUT_MS)
    if whole:
        defaults["API_TIMEOUT_MS"] = str(whole)
    notes = too_slow_note(LABEL, first_turn_s, STREAM_IDLE_CAP_MS / 1000, "the longest it waits for a byte")
    return AgentSetup("claude", variables, notes=notes, defaults=defaults)

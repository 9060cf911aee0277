"""Claude Code: the Anthropic Messages API at the server root, streamed, with tools.

Seen from Claude Code 2.1.332 against a capturing server (2026-11): its first request is
`POST /v1/messages?beta=true` with `anthropic-version: 2023-06-01`, `Authorization: Bearer`
(from ANTHROPIC_AUTH_TOKEN), `stream: true`, `max_tokens: 32000`, 12 tools in Anthropic form
and ~50k characters in all. For a model it does not know it assumes a 1M-token window,
hence CLAUDE_CODE_AUTO_COMPACT_WINDOW.
"""

from ..protocols import MESSAGES, AgentNeeds, FirstRequest
from . import AgentSetup

LABEL = "Claude Code"
COMMAND = "claude"
INSTALL = "npm install -g @anthropic-ai/claude-code@2.1.332"
MIN_CONTEXT = 100_000  # its system prompt and tools alone run to tens of thousands of tokens
# On every server, the window as loaded: an Anthropic Messages request carries none.
FIRST_REQUEST = FirstRequest(14619, 48814, ("POST /v1/messages",), "2.1.332", "2026-12-02")


NEEDS = AgentNeeds(LABEL, MESSAGES, tools=True, query="?beta=true")


def needs(kind: str) -> AgentNeeds:
    return NEEDS


def setup(*, host, model, key, context_length, **_) -> AgentSetup:
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
    return AgentSetup("claude", variables)

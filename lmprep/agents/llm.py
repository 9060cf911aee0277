"""llm (simonw): `llm openai endpoint URL PROMPT -m MODEL` reaches any OpenAI-compatible
server with no config file and no plugin (llm 0.36), Ollama's and LM Studio's included.

Seen from llm 0.36 (2026-11): `POST {base}/chat/completions` with `stream: true` and
`stream_options: {"include_usage": true}`, no tools unless a prompt asks for them (`-T`).
It sends `Authorization: Bearer DUMMY_KEY` unless `--key` is given on its command line, the
only way it takes a token there: lmprep never puts a token on a command line.
"""

from ..protocols import AgentNeeds, FirstRequest, chat_agent
from . import SMOKE_PROMPT, AgentSetup, missing_options
from ._trust import PYTHON

LABEL = "llm"
COMMAND = "llm"
INSTALL = "pipx install llm==0.36"
#: `lmprep smoke`: `llm PROMPT` answers once (place() makes it `llm openai endpoint URL PROMPT -m M`).
#: As tests/realagents/agents.py runs it on CI.
SMOKE_ARGV = (SMOKE_PROMPT,)
MIN_CONTEXT = None
#: Its private CA: SSL_CERT_FILE (the openai SDK's httpx client reads it).
CA_VARIABLES = (PYTHON,)
FIRST_REQUEST = FirstRequest(30, 118, ("POST /v1/chat/completions",), "0.36", "2026-12-02")

#: llm's own subcommands: a command line starting with one of them is left as it is.
_SUBCOMMANDS = {"aliases", "chat", "collections", "embed", "embed-models", "embed-multi", "fragments", "install",
                "keys", "logs", "models", "openai", "plugins", "prompt", "schemas", "similar", "templates", "tools",
                "uninstall"}


def needs(kind: str) -> AgentNeeds:
    return chat_agent(LABEL, tools=False)


def setup(*, v1, model, token, **_) -> AgentSetup:
    notes = ["Needs llm 0.36 or later (`llm openai endpoint`)."]
    if token:
        notes.append("llm takes the server's token only as --key on its command line: add it yourself.")
    return AgentSetup("llm", {}, [("openai",), ("endpoint",), (v1,), ("-m", model)], notes)


def place(argv: list[str], setup: AgentSetup) -> tuple[list[str], list[str]]:
    """`llm PROMPT` and `llm prompt PROMPT` become `llm openai endpoint URL PROMPT -m M`,
    `llm chat` the same with --chat; llm's other subcommands are left alone."""
    program, *rest = argv
    first = rest[0] if rest else None
    if first in _SUBCOMMANDS - {"prompt", "chat"}:
        return argv, [f"`llm {first}` does not talk to a model: lmprep left its command line as it is."]
    endpoint, model = setup.options[:3], setup.options[3:]
    if first in ("prompt", "chat"):
        rest = rest[1:] + (["--chat"] if first == "chat" else [])
    arguments, notices = missing_options(rest, model, LABEL)
    return [program, *(part for option in endpoint for part in option), *rest, *arguments], notices

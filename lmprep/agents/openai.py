"""Generic OpenAI SDK clients: the variables every OpenAI SDK reads."""

from ..protocols import CHAT, AgentNeeds, FirstRequest
from . import AgentSetup
from ._trust import NODE, PYTHON, REQUESTS

LABEL = "an OpenAI SDK client"
COMMAND = None  # any program: only variables
INSTALL = None
SMOKE_ARGV = None  # no program of its own to run
MIN_CONTEXT = None
#: Its private CA: an OpenAI SDK client may be Python (httpx; requests) or Node.
CA_VARIABLES = (PYTHON, REQUESTS, NODE)
FIRST_REQUEST = FirstRequest(30, 79, ("POST /v1/chat/completions",), "3.57.0", "2026-12-02")


def needs(kind: str) -> AgentNeeds:
    return AgentNeeds(LABEL, CHAT, tools=True)


def setup(*, v1, model, key, **_) -> AgentSetup:
    return AgentSetup("openai", {
        "OPENAI_BASE_URL": v1, "OPENAI_API_BASE": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model,
    })

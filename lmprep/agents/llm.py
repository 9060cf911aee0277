"""llm (simonw): its Ollama and LM Studio plugins by variables.

llm-ollama speaks Ollama's native API; elsewhere llm sends Chat Completions, streamed, and
function tools only when a prompt asks for them.
"""

from ..errors import NotConfiguredError
from ..protocols import CHAT, AgentNeeds
from . import AgentSetup

LABEL = "llm"
MIN_CONTEXT = None


def needs(kind: str) -> AgentNeeds | None:
    return None if kind == "ollama" else AgentNeeds(LABEL, CHAT, tools=False)


def setup(*, kind, host, model, **_) -> AgentSetup:
    if kind == "ollama":
        return AgentSetup("llm", {"OLLAMA_HOST": host}, ["-m", model], ["Needs the llm-ollama plugin."])
    if kind == "lmstudio":
        return AgentSetup("llm", {"LMSTUDIO_API_BASE": host}, ["-m", model], ["Needs the llm-lmstudio plugin."])
    raise NotConfiguredError(
        "llm cannot be pointed at this server with variables: it reaches OpenAI-compatible servers "
        "through its extra-openai-models.yaml file, which lmprep does not edit.",
        "Add an entry with `api_base` set to the base URL to that file, or use `--for openai`.",
    )

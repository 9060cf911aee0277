"""aider: Chat Completions through litellm, streamed; its edit formats need no function tools.

On Ollama it speaks Ollama's native /api/chat (litellm's ``ollama_chat/``), which every Ollama has.
Seen from aider 0.86.2 (2026-11): `POST {base}/chat/completions` with `stream: true`,
`temperature: 0`, no tools and no token limit.
"""

from ..protocols import CHAT, AgentNeeds
from . import AgentSetup

LABEL = "aider"
MIN_CONTEXT = 8192  # its prompt with the repository map and the files in the chat; seen: 2.3k tokens for "say hi"


def needs(kind: str) -> AgentNeeds | None:
    return None if kind == "ollama" else AgentNeeds(LABEL, CHAT, tools=False)


def setup(*, kind, host, v1, model, key, **_) -> AgentSetup:
    if kind == "lmstudio":
        return AgentSetup("aider", {"LM_STUDIO_API_BASE": v1, "LM_STUDIO_API_KEY": key},
                          ["--model", f"lm_studio/{model}"])
    if kind == "ollama":
        return AgentSetup("aider", {"OLLAMA_API_BASE": host}, ["--model", f"ollama_chat/{model}"])
    return AgentSetup("aider", {"OPENAI_API_BASE": v1, "OPENAI_API_KEY": key}, ["--model", f"openai/{model}"])

"""What lmprep knows about each provider kind before talking to it.

Kept free of imports so that configuration can be resolved without loading
any provider implementation.
"""

from typing import NamedTuple


class Kind(NamedTuple):
    name: str
    label: str
    default_base_url: str | None
    default_model: str | None
    default_api_key_env: str | None
    can_download: bool
    # Codex reads CODEX_OSS_BASE_URL / CODEX_OSS_PORT for these kinds only.
    codex_oss: bool = False


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("lmstudio", "LM Studio", "http://localhost:1234/v1", "openai/gpt-oss-20b",
             "LM_API_TOKEN", can_download=True, codex_oss=True),
        Kind("ollama", "Ollama", "http://localhost:11434/v1", "gpt-oss:20b",
             None, can_download=True, codex_oss=True),
        Kind("llamacpp", "llama.cpp server", "http://localhost:8080/v1", None,
             None, can_download=False),
        Kind("vllm", "vLLM", "http://localhost:8000/v1", None, None, can_download=False),
        # Lemonade Server: port 13305 since its C++ server (8000 before), OpenAI API under /api/v1.
        Kind("lemonade", "Lemonade Server", "http://localhost:13305/api/v1", None, "LEMONADE_API_KEY",
             can_download=True),
        # Docker Model Runner: port 12434 (TCP access enabled), OpenAI API under /engines/v1.
        Kind("dmr", "Docker Model Runner", "http://localhost:12434/engines/v1", None, None, can_download=True),
        # LiteLLM's proxy: port 4000 (`litellm --port`'s default); its own client CLI reads the key from
        # LITELLM_PROXY_API_KEY. Not auto-detected (see AUTO_DETECT_KINDS).
        Kind("litellm", "LiteLLM proxy", "http://localhost:4000/v1", None, "LITELLM_PROXY_API_KEY",
             can_download=False),
        # llama-swap: a front that starts an upstream per model; :8080 as llama-server (8443 with TLS).
        Kind("llamaswap", "llama-swap", "http://localhost:8080/v1", None, None, can_download=False),
        Kind("openai", "OpenAI-compatible server", None, None, None, can_download=False),
    )
}

# Kinds probed when no provider is chosen anywhere: each has a default endpoint and a way
# to recognise itself (LM Studio's greeting, Ollama's root text, `owned_by` in its models listing:
# llamacpp, vllm, lemonade, docker, llama-swap). Not the LiteLLM proxy, a gateway: it usually
# fronts one of these on the same machine, which auto-detection would then find twice ("several
# are running"), and its port, 4000, is many another dev server's default; it is chosen by name
# (-p litellm).
AUTO_DETECT_KINDS = ("lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr",
                     "llamaswap")

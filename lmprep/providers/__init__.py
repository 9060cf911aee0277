"""Provider kinds, each behind the small interface in base.py."""

from __future__ import annotations

import importlib

from .kinds import AUTO_DETECT_KINDS, KINDS, Kind

_IMPLEMENTATIONS = {
    "lmstudio": ("lmstudio", "LMStudio"),
    "ollama": ("ollama", "Ollama"),
    "llamacpp": ("openai_compat", "LlamaCpp"),
    "vllm": ("openai_compat", "VLLM"),
    "lemonade": ("lemonade", "Lemonade"),
    "dmr": ("dmr", "DockerModelRunner"),
    "litellm": ("litellm", "LiteLLM"),
    "llamaswap": ("llamaswap", "LlamaSwap"),
    "openai": ("openai_compat", "OpenAICompatible"),
}


def provider_class(kind: str):
    """The Provider subclass for ``kind``, imported only when needed (start-up stays fast)."""
    module_name, class_name = _IMPLEMENTATIONS[kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, class_name)


def open_provider(settings, **options):
    return provider_class(settings.kind)(settings, **options)


__all__ = ["AUTO_DETECT_KINDS", "KINDS", "Kind", "open_provider", "provider_class"]

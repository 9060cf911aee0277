"""What each coding agent needs to use the ready server: environment variables and arguments.

Pure functions (no I/O): ``agent_setup`` turns a ready provider into the variables
``lmprep env`` prints and ``lmprep exec`` sets. No agent config file is ever touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .errors import NotConfiguredError
from .hosts import origin_of, strip_v1

#: ``--for`` values; ``openai`` (generic OpenAI SDK variables) is the default.
AGENTS = ("openai", "codex", "aider", "claude", "opencode", "qwen", "goose", "llm")
DEFAULT_AGENT = "openai"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The API key agents get when the server needs none (most SDKs refuse an empty key).
PLACEHOLDER_KEY = "lmprep-no-key"
#: The context window each agent needs, in tokens: `env`/`exec --for AGENT` default
#: --min-context to it (Codex and opencode by Ollama's guidance; Claude Code's prompts run ~100k).
AGENT_MIN_CONTEXT = {"codex": 65536, "opencode": 65536, "claude": 100_000}


@dataclass(frozen=True)
class AgentSetup:
    """The variables to set and the arguments the user adds to the agent's command line."""

    agent: str
    variables: dict[str, str]
    args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def merged_no_proxy(environ: Mapping[str, str]) -> str:
    """``NO_PROXY``/``no_proxy`` as they are (both spellings merged, order kept) plus loopback."""
    entries: list[str] = []
    for name in ("NO_PROXY", "no_proxy"):
        for entry in environ.get(name, "").split(","):
            entry = entry.strip()
            if entry and entry not in entries:
                entries.append(entry)
    entries.extend(host for host in LOOPBACK if host not in entries)
    return ",".join(entries)


def agent_setup(
    agent: str,
    *,
    provider: str,
    kind: str,
    base_url: str,
    model: str,
    token: str | None = None,
    context_length: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentSetup:
    """The setup for ``agent`` against the ready ``provider`` (its ``kind``, ``base_url``, ``model``).

    ``token`` is the provider's API token when one is configured; it is handed to the agent in
    the variable that agent reads, and nowhere else. ``context_length`` is the loaded model's
    context window where known (opencode is told it). Raises NotConfiguredError for an unknown
    agent, or one that cannot be pointed at this kind of server by variables and arguments.
    """
    if agent not in AGENTS:
        raise NotConfiguredError(f"Unknown agent {agent!r}.", f"Use one of: {', '.join(AGENTS)}.")
    environ = {} if environ is None else environ
    host = strip_v1(base_url)  # the server root: ``H`` in the reference table
    v1 = base_url  # ``H/v1``: the OpenAI-compatible base URL as configured
    key = token or PLACEHOLDER_KEY
    build = _BUILDERS[agent]
    setup = build(provider=provider, kind=kind, host=host, v1=v1, model=model, key=key, token=token,
                  context_length=context_length)
    no_proxy = merged_no_proxy(environ)
    setup.variables["NO_PROXY"] = no_proxy
    setup.variables["no_proxy"] = no_proxy
    return setup


def _openai(*, v1, model, key, **_) -> AgentSetup:
    return AgentSetup("openai", {
        "OPENAI_BASE_URL": v1, "OPENAI_API_BASE": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model,
    })


def _codex(*, kind, v1, model, token, context_length, **_) -> AgentSetup:
    # Codex cannot ask a local server for its window: tell it, or it assumes its default.
    window = ["-c", f"model_context_window={context_length}"] if context_length else []
    if kind in ("lmstudio", "ollama"):
        variables = {"CODEX_OSS_BASE_URL": v1}
        notes = []
        if token:
            notes.append("Codex's --oss sends no API token: turn authentication off in LM Studio, "
                         "or use a custom model provider in ~/.codex/config.toml.")
        return AgentSetup("codex", variables, ["--oss", "--local-provider", kind, "-m", model, *window], notes)
    # Any other OpenAI-compatible server: a model provider given with -c overrides.
    prefix = "model_providers.lmprep"
    args = [
        "-c", "model_provider=lmprep",
        "-c", f"{prefix}.name=lmprep",
        "-c", f"{prefix}.base_url={json.dumps(v1)}",
        "-c", f"{prefix}.env_key=LMPREP_CODEX_API_KEY",
        "-c", f"{prefix}.wire_api=responses",
        *window,
        "-m", model,
    ]
    return AgentSetup("codex", {"LMPREP_CODEX_API_KEY": token or PLACEHOLDER_KEY}, args)


def _aider(*, kind, host, v1, model, key, **_) -> AgentSetup:
    if kind == "lmstudio":
        return AgentSetup("aider", {"LM_STUDIO_API_BASE": v1, "LM_STUDIO_API_KEY": key},
                          ["--model", f"lm_studio/{model}"])
    if kind == "ollama":
        return AgentSetup("aider", {"OLLAMA_API_BASE": host}, ["--model", f"ollama_chat/{model}"])
    return AgentSetup("aider", {"OPENAI_API_BASE": v1, "OPENAI_API_KEY": key}, ["--model", f"openai/{model}"])


def _claude(*, kind, host, model, key, context_length, **_) -> AgentSetup:
    variables = {
        "ANTHROPIC_BASE_URL": host,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
    }
    if context_length:
        # Compact before the local window overflows, not at Claude's own 200k.
        variables["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] = str(context_length)
    notes = ["Claude Code needs the Anthropic API (/v1/messages): LM Studio 0.4.1 or later, Ollama 0.14 or "
             "later, or llama-server."]
    return AgentSetup("claude", variables, ["--model", model], notes)


def _opencode(*, provider, v1, model, token, context_length, **_) -> AgentSetup:
    options: dict[str, str] = {"baseURL": v1}
    if token:
        options["apiKey"] = token
    entry: dict = {"name": model}
    if context_length:
        entry["limit"] = {"context": context_length, "output": min(context_length // 2, 16384)}
    config = {
        "$schema": "https://opencode.ai/config.json",
        "provider": {
            "lmprep": {
                "npm": "@ai-sdk/openai-compatible",
                "name": f"{provider} (lmprep)",
                "options": options,
                "models": {model: entry},
            }
        },
        "model": f"lmprep/{model}",
    }
    return AgentSetup("opencode", {"OPENCODE_CONFIG_CONTENT": json.dumps(config, separators=(",", ":"))})


def _qwen(*, v1, model, key, **_) -> AgentSetup:
    return AgentSetup("qwen", {"OPENAI_BASE_URL": v1, "OPENAI_API_KEY": key, "OPENAI_MODEL": model},
                      ["--auth-type", "openai"])


def _goose(*, kind, host, v1, model, key, context_length, **_) -> AgentSetup:
    limit = {"GOOSE_INPUT_LIMIT": str(context_length)} if context_length else {}
    if kind == "ollama":
        return AgentSetup("goose", {"GOOSE_PROVIDER": "ollama", "OLLAMA_HOST": host, "GOOSE_MODEL": model, **limit})
    parts = urlsplit(v1)
    base_path = (parts.path.strip("/") + "/chat/completions").lstrip("/")
    return AgentSetup("goose", {
        "GOOSE_PROVIDER": "openai", "OPENAI_HOST": origin_of(v1), "OPENAI_BASE_PATH": base_path,
        "OPENAI_API_KEY": key, "GOOSE_MODEL": model, **limit,
    })


def _llm(*, kind, host, model, **_) -> AgentSetup:
    if kind == "ollama":
        return AgentSetup("llm", {"OLLAMA_HOST": host}, ["-m", model], ["Needs the llm-ollama plugin."])
    if kind == "lmstudio":
        return AgentSetup("llm", {"LMSTUDIO_API_BASE": host}, ["-m", model], ["Needs the llm-lmstudio plugin."])
    raise NotConfiguredError(
        "llm cannot be pointed at this server with variables: it reaches OpenAI-compatible servers "
        "through its extra-openai-models.yaml file, which lmprep does not edit.",
        "Add an entry with `api_base` set to the base URL to that file, or use `--for openai`.",
    )


_BUILDERS = {
    "openai": _openai, "codex": _codex, "aider": _aider, "claude": _claude,
    "opencode": _opencode, "qwen": _qwen, "goose": _goose, "llm": _llm,
}

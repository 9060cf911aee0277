"""What each coding agent needs to use the ready server.

One module per agent, each with the same few names:

- ``LABEL``: the agent's name as people know it;
- ``MIN_CONTEXT``: the context window it needs in tokens (None: no minimum of its own);
- ``needs(kind)``: the shape of its requests to that kind of server (protocols.AgentNeeds),
  or None where it talks to the server's native API, which every such server has;
- ``setup(...)``: the variables and arguments that point it at the server (pure, no I/O).

No agent config file is ever touched. Agent modules are imported on first use: the names
below are all that `lmprep` needs at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

from ..errors import NotConfiguredError
from ..hosts import strip_v1

#: ``--for`` values; ``openai`` (generic OpenAI SDK variables) is what env/exec set without it.
AGENTS = ("openai", "codex", "aider", "claude", "opencode", "qwen", "goose", "llm")
DEFAULT_AGENT = "openai"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The API key agents get when the server needs none (most SDKs refuse an empty key).
PLACEHOLDER_KEY = "lmprep-no-key"


@dataclass(frozen=True)
class AgentSetup:
    """The variables to set and the arguments the user adds to the agent's command line."""

    agent: str
    variables: dict[str, str]
    args: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def agent_module(agent: str) -> ModuleType:
    """The module describing ``agent``; NotConfiguredError for a name lmprep does not know."""
    if agent not in AGENTS:
        raise NotConfiguredError(f"Unknown agent {agent!r}.", f"Use one of: {', '.join(AGENTS)}.")
    return importlib.import_module(f"{__name__}.{agent}")


def min_context(agent: str) -> int | None:
    """The context window ``agent`` needs, in tokens (None: no minimum of its own)."""
    return agent_module(agent).MIN_CONTEXT


def agent_needs(agent: str, kind: str):
    """The shape of ``agent``'s requests to a ``kind`` server (None: its native API)."""
    return agent_module(agent).needs(kind)


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
    the variable that agent reads, and nowhere else. ``context_length`` is the window the
    server really has the model loaded with, where lmprep read it (agents with a setting for it
    are told). Raises NotConfiguredError for an unknown agent, or one that cannot be pointed at
    this kind of server by variables and arguments.
    """
    module = agent_module(agent)
    setup = module.setup(
        provider=provider, kind=kind, host=strip_v1(base_url), v1=base_url, model=model,
        key=token or PLACEHOLDER_KEY, token=token, context_length=context_length,
    )
    no_proxy = merged_no_proxy({} if environ is None else environ)
    setup.variables["NO_PROXY"] = no_proxy
    setup.variables["no_proxy"] = no_proxy
    return setup

"""What each coding agent needs to use the ready server.

One module per agent, each with the same few names:

- ``LABEL``: the agent's name as people know it;
- ``MIN_CONTEXT``: the context window it needs in tokens (None: no minimum of its own);
- optionally ``SETS_OWN_WINDOW``: the server kinds it asks for its window with each request
  (aider on Ollama): there the window the model is loaded with does not limit it;
- ``needs(kind)``: the shape of its requests to that kind of server (protocols.AgentNeeds),
  or None where it talks to the server's native API, which every such server has;
- ``COMMAND``: the program's name, by which ``lmprep exec`` knows it runs this agent;
- ``INSTALL``: the command that installs it, at the version lmprep's tests run (.ci/install-agents
  installs the same), which ``lmprep exec`` names when the program is missing;
- ``SMOKE_ARGV``: the arguments after ``COMMAND`` that run it once on ``SMOKE_PROMPT`` with no
  terminal and exit (its own headless form: `codex exec`, `claude -p`, ...), for `lmprep smoke`;
- ``setup(...)``: the variables and arguments that point it at the server (pure, no I/O);
  files the agent reads by a variable (aider's model metadata) come back as text, and
  ``write_files`` puts them in lmprep's own state directory;
- optionally ``place(args, setup)``: where its arguments go in a command line, when the rule
  is not "right after the program's name".

No agent config file is ever touched. Agent modules are imported on first use, and so is
_setup.py (what points an agent at a server): the names below are all `lmprep` needs at start-up.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import NotConfiguredError

#: ``--for`` values; ``openai`` (generic OpenAI SDK variables) is what env/exec set without it.
AGENTS = ("openai", "codex", "aider", "claude", "opencode", "qwen", "goose", "llm", "copilot", "kilo", "pi", "droid",
          "cline")
DEFAULT_AGENT = "openai"
#: The API key agents get when the server needs none (most SDKs refuse an empty key).
PLACEHOLDER_KEY = "lmprep-no-key"
#: The one-line task of `lmprep smoke`: any answer will do (a tiny model's need not make sense).
SMOKE_PROMPT = "Reply with the word ready."


def agent_module(agent: str) -> ModuleType:
    """The module describing ``agent``; NotConfiguredError for a name lmprep does not know."""
    if agent not in AGENTS:
        raise NotConfiguredError(f"Unknown agent {agent!r}.", f"Use one of: {', '.join(AGENTS)}.")
    return importlib.import_module(f"{__name__}.{agent}")


def tested_version(agent: str) -> str | None:
    """The version of ``agent`` lmprep's tests run: the one its INSTALL command pins
    (`npm install -g PACKAGE@VERSION`, `pipx install PACKAGE==VERSION`), which .ci/install-agents
    installs too; None where the command pins none (goose's install script)."""
    import re

    install = getattr(agent_module(agent), "INSTALL", None) or ""
    pinned = re.search(r"(?:@|==)(\d[\w.+-]*)\s*$", install)
    return pinned[1] if pinned else None


def missing_note(agent: str) -> str:
    """What `--for`, `exec` and `doctor` say of an agent whose command is not on PATH: the
    command that installs it, at the version lmprep is tested with."""
    module = agent_module(agent)
    install = getattr(module, "INSTALL", None)
    return f"{module.COMMAND} is not on PATH" + (f": install {module.LABEL} with `{install}`." if install else ".")


def min_context(agent: str) -> int | None:
    """The context window ``agent`` needs, in tokens (None: no minimum of its own)."""
    return agent_module(agent).MIN_CONTEXT


def sets_own_window(agent: str, kind: str) -> bool:
    """Whether ``agent`` asks a ``kind`` server for its window with each request."""
    return kind in getattr(agent_module(agent), "SETS_OWN_WINDOW", ())


def agent_needs(agent: str, kind: str):
    """The shape of ``agent``'s requests to a ``kind`` server (None: its native API)."""
    return agent_module(agent).needs(kind)


_SETUP_NAMES = ("AgentSetup", "agent_setup", "merged_no_proxy", "write_files", "runs_agent", "agent_run_by", "place",
                "missing_options", "LOOPBACK", "MODEL_OPTIONS", "CONFIG_OPTIONS")


def __getattr__(name: str):
    if name in _SETUP_NAMES:
        from . import _setup

        return getattr(_setup, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# -- the session: offline switches and timeouts (pure helpers the agent modules share) ------

#: With this variable set to 1 in the user's environment, lmprep leaves an agent's own
#: offline switches (each module's OFFLINE variables and OFFLINE_OPTIONS) alone.
ONLINE_VARIABLE = "LMPREP_AGENT_ONLINE"
#: An agent's timeouts get this many times the measured first turn (`lmprep bench`): a
#: first turn varies with the machine's load, and the next turns of a long session grow.
TIMEOUT_HEADROOM = 3


def raised_timeout_ms(first_turn_s: float | None, default_ms: int, cap_ms: int | None = None) -> int | None:
    """The timeout (ms) an agent needs for a first turn of ``first_turn_s``: HEADROOM times
    it, never below the agent's own ``default_ms`` (None: the default is enough, set nothing)
    and never above ``cap_ms``, the most the agent accepts."""
    if not first_turn_s or first_turn_s <= 0:
        return None
    wanted = int(first_turn_s * TIMEOUT_HEADROOM * 1000)
    if cap_ms is not None:
        wanted = min(wanted, cap_ms)
    return wanted if wanted > default_ms else None


def too_slow_note(label: str, first_turn_s: float | None, limit_s: float, limit: str,
                  setting: str | None = None) -> list[str]:
    """A note when the projected first turn exceeds a limit lmprep cannot raise: one the agent
    has no setting for, or only ``setting`` in a file of the user's that lmprep does not write."""
    if not first_turn_s or first_turn_s <= limit_s:
        return []
    why = f"which only {setting} raises" if setting else "which it has no setting to raise"
    return [f"{label}'s first turn is projected at {first_turn_s:,.0f} s on this server (lmprep bench), beyond "
            f"{limit} ({limit_s:,.0f} s, {why}): it will give up before the first "
            "word. Load the model with a smaller window, use a smaller model, or a faster server."]

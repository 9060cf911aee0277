"""What points an agent at a ready server: its variables, its arguments and where they go in
its command line, and the files it reads by a variable (written in lmprep's state directory).
Imported on first use: `lmprep` without --for, env or exec never needs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..hosts import strip_v1
from . import ONLINE_VARIABLE, PLACEHOLDER_KEY, agent_module

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: Options that choose the model: the user's own wins over lmprep's, with a notice.
MODEL_OPTIONS = ("-m", "--model")
#: Options whose value is ``key=value``: the key decides whether the user gave the same one.
CONFIG_OPTIONS = ("-c", "--config")


@dataclass(frozen=True)
class AgentSetup:
    """The variables to set and the arguments the agent's command line needs.

    ``options`` holds the arguments one option at a time (``("-m", "M")``, ``("--oss",)``), so
    that one the user gave already is never repeated; ``args`` is them in a row. ``files``:
    variable (or option) → (file name, text) of files to write for the agent (``write_files``).
    ``defaults``: variables that give way to the user's own (a timeout, a cache or offline
    switch): agent_setup sets each only where the user's environment has none.
    """

    agent: str
    variables: dict[str, str]
    options: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def args(self) -> list[str]:
        return [part for option in self.options for part in option]


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
    first_turn_s: float | None = None,
    ca_cert: str | None = None,
) -> AgentSetup:
    """The setup for ``agent`` against the ready ``provider`` (its ``kind``, ``base_url``, ``model``).

    ``token`` is the provider's API token when one is configured; it is handed to the agent in
    the variable that agent reads, and nowhere else. ``context_length`` is the window the
    server really has the model loaded with, where lmprep read it (agents with a setting for it
    are told). ``first_turn_s``: the agent's first turn as `lmprep bench` projected it on this
    server, model and window, which raises the agent's timeouts where it has them. The agent's
    own offline switches (update checks, telemetry, model catalogues: its module's OFFLINE and
    OFFLINE_OPTIONS) are set unless ``environ`` has LMPREP_AGENT_ONLINE=1, and a variable the
    user set already wins over every one of them. ``ca_cert``: the private CA (PEM file or
    folder) lmprep verified an https ``base_url`` with; the agent is told to trust it too, in the
    variables its runtime reads (_trust.py), unless the user set them. Raises NotConfiguredError
    for an unknown agent, or one that cannot be pointed at this kind of server by variables and
    arguments.
    """
    module = agent_module(agent)
    setup = module.setup(
        provider=provider, kind=kind, host=strip_v1(base_url), v1=base_url, model=model,
        key=token or PLACEHOLDER_KEY, token=token, context_length=context_length, first_turn_s=first_turn_s,
    )
    environ = {} if environ is None else environ
    if ca_cert and base_url.lower().startswith("https://"):  # over http there is no certificate to trust
        from ._trust import hand_off_ca

        hand_off_ca(setup, module, ca_cert, environ)
    defaults = dict(setup.defaults)
    if environ.get(ONLINE_VARIABLE, "").strip() != "1":
        defaults = {**getattr(module, "OFFLINE", {}), **defaults}
        setup.options[:0] = getattr(module, "OFFLINE_OPTIONS", ())
    for name, value in defaults.items():
        if name not in environ and name not in setup.variables:
            setup.variables[name] = value
    no_proxy = merged_no_proxy(environ)
    setup.variables["NO_PROXY"] = no_proxy
    setup.variables["no_proxy"] = no_proxy
    return setup


def write_files(setup: AgentSetup, directory) -> AgentSetup:
    """Write the setup's files into ``directory`` (lmprep's own state directory, never the
    agent's config) and point their variables (or options, for keys such as ``-e``) at them.
    A file is named by its content and written whole or not at all, so runs side by side never
    see half of one; one an agent rewrote since (cline reformats its own) is written again."""
    if not setup.files:
        return setup
    import hashlib
    from pathlib import Path

    from ..files import read_regular, replace

    directory = Path(directory)
    variables = dict(setup.variables)
    options = list(setup.options)
    for key, (name, text) in setup.files.items():
        stem, dot, suffix = name.partition(".")
        path = directory / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}{dot}{suffix}"
        data = text.encode("utf-8")
        try:
            current = read_regular(path, len(data))  # a FIFO or a /dev/zero link there: written anew
        except OSError:
            current = None
        if current != data:
            replace(path, data)  # whole or not at all; on a full disk no temporary file is left
        if key.startswith("-"):
            options.insert(0, (key, str(path)))
        else:
            variables[key] = str(path)
    return AgentSetup(setup.agent, variables, options, setup.notes)


def runs_agent(agent: str, program: str) -> bool:
    """Whether ``program`` (as given to `lmprep exec`) is ``agent``'s own command."""
    command = getattr(agent_module(agent), "COMMAND", None)
    return command is not None and _command_name(program) == command


def agent_run_by(program: str) -> str | None:
    """The agent whose own command ``program`` (as given to `lmprep exec`) is, or None."""
    from . import AGENTS

    return next((agent for agent in AGENTS if runs_agent(agent, program)), None)


def _command_name(program: str) -> str:
    """``program``'s name without its folder, and without the suffix Windows runs it by."""
    import os

    name = os.path.basename(program)
    if name.lower().endswith((".exe", ".cmd", ".bat")):
        name = name[:-4]
    return name


def place(agent: str, argv: list[str], setup: AgentSetup) -> tuple[list[str], list[str]]:
    """``argv`` (the agent's command line) with the setup's arguments where the agent takes
    them, leaving out every option the user gave; returns it and the notices to show."""
    module = agent_module(agent)
    arranged = getattr(module, "place", None)
    if arranged is not None:
        return arranged(argv, setup)
    arguments, notices = missing_options(argv[1:], setup.options, module.LABEL)
    return [argv[0], *arguments, *argv[1:]], notices


def missing_options(given: list[str], options: list[tuple[str, ...]], label: str) -> tuple[list[str], list[str]]:
    """Of ``options``, those the user did not give (as arguments), and a notice where the user
    chose another model than the one lmprep made ready."""
    names, config_keys, model = _given(given)
    arguments: list[str] = []
    notices: list[str] = []
    for option in options:
        flag = option[0]
        if flag in CONFIG_OPTIONS and len(option) > 1:
            if option[1].split("=", 1)[0] in config_keys:
                continue
        elif flag in MODEL_OPTIONS and names & set(MODEL_OPTIONS):
            if len(option) > 1 and model is not None and model != option[1]:
                notices.append(f"{label} uses the model {model!r} from your command, not {option[1]!r}, "
                               "which lmprep made ready.")
            continue
        elif flag in names:
            continue
        arguments.extend(option)
    return arguments, notices


def _given(args: list[str]) -> tuple[set[str], set[str], str | None]:
    """The option names, the ``-c`` keys and the model in the user's arguments (up to ``--``)."""
    names: set[str] = set()
    config_keys: set[str] = set()
    model = None
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if not arg.startswith("-") or arg == "-":
            continue
        name, has_value, inline = arg.partition("=")
        value = inline if has_value else (args[index + 1] if index + 1 < len(args) else None)
        names.add(name)
        if name in CONFIG_OPTIONS and value is not None:
            config_keys.add(value.split("=", 1)[0].strip())
        if name in MODEL_OPTIONS:
            model = value
    return names, config_keys, model

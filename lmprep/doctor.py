"""`lmprep doctor`: every server lmprep sees against every coding agent on this machine (or
named), one cell per pair, each the verdict `lmprep --for AGENT -p SERVER` gives for it.

A cell is the pipeline itself (pipeline.run_ensure) on the settings that command line
resolves to, run with ``act=False``: every check that needs no download and no load, in
ensure's order and with ensure's errors; where the next step would load the model (or
download it, or start the server), the cell says so (``needs_load``, ``needs_download``,
``needs_start``) instead of guessing what that would show. With ``load=True`` each cell is that
command's own run, loads, downloads and starts included. There is no second copy of any check here.

Above the cells, the facts that decide most failures: each server's version (where it says),
its loaded models and their windows (what `lmprep status` reads, GET requests only), the
memory free for models on this machine (lmprep/fit.py), and each agent's version (`COMMAND
--version`, bounded in time and size, cleaned) against the version lmprep's tests run.

Everything runs at once under one deadline (lmprep/parallel.py) and at most MAX_AT_ONCE pair
checks at a time: a pair still being checked when the deadline passes is ``timed_out``,
however many pairs there are. Core code: no click, no printing (lmprep/views.py renders).
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from .config import Flags, ProviderSettings, Settings, resolve_settings
from .deadline import Deadline
from .errors import ExitCode, LmprepError, NotConfiguredError

DOCTOR_SCHEMA_VERSION = 1
#: How long `lmprep doctor` takes at most without --load, when no --timeout is given: every
#: check it makes then is a GET, an empty POST or a one-token answer of a loaded model.
DEFAULT_DOCTOR_TIMEOUT = 30.0
#: Pair checks in flight at once (each holds a connection or two): one budget for all of them,
#: so 10 servers x 13 agents never open 130 connections to one single-slot server at a time.
MAX_AT_ONCE = 16
#: `COMMAND --version`: seconds it may take (the node agents take 0.1 to 3 s here, cline the
#: most), and the bytes of its output read (one line is wanted).
VERSION_TIMEOUT = 10.0
MAX_VERSION_BYTES = 4096
MAX_VERSION_CHARS = 80
#: The states of a pair doctor did not check to the end because that needs a load, a download or
#: a server started (what `lmprep --for` does next there, and doctor only with --load).
NOT_CHECKED = ("needs_load", "needs_download", "needs_start")
#: doctor's exit code when no pair failed, but some could only be checked with a load (--load).
NOT_CHECKED_EXIT = 13


@dataclass
class AgentInfo:
    """A known agent on this machine: where its command is, and which version it says it is."""

    name: str
    label: str
    command: str | None
    path: str | None = None  # on PATH; None: not installed here
    version: str | None = None  # the first line `COMMAND --version` printed, cleaned
    tested_version: str | None = None  # the version lmprep's tests run (its INSTALL pin)
    install: str | None = None  # the command that installs it at that version
    version_error: str | None = None  # why the version is unknown, when it is installed

    @property
    def installed(self) -> bool:
        return self.path is not None

    @property
    def version_number(self) -> str | None:
        """The version in what it printed: `codex-cli 0.171.0` → 0.171.0."""
        found = re.search(r"\d+(?:\.\d+)+(?:[-+][\w.]+)?", self.version or "")
        return found[0] if found else None

    @property
    def tested(self) -> bool | None:
        """Whether it is the version lmprep was tested with (None: unknown)."""
        if self.version_number is None or self.tested_version is None:
            return None
        return self.version_number == self.tested_version

    def to_dict(self) -> dict:
        return {"name": self.name, "label": self.label, "command": self.command, "installed": self.installed,
                "path": self.path, "version": self.version, "version_number": self.version_number,
                "tested_version": self.tested_version, "tested": self.tested, "install": self.install,
                "version_error": self.version_error}


@dataclass
class ServerInfo:
    """A server doctor checks: what `lmprep status` read of it, and its version."""

    status: object  # status_report.ProviderStatus
    version: str | None = None

    @property
    def name(self) -> str:
        return self.status.name

    @property
    def loaded(self) -> list:
        """The models it has loaded (status_report.ModelInfo), where it says."""
        return [model for model in self.status.models or () if model.loaded]

    def to_dict(self) -> dict:
        row = self.status
        return {"name": row.name, "kind": row.kind, "label": row.label, "state": row.state, "running": row.running,
                "base_url": row.base_url, "base_url_source": row.base_url_source, "version": self.version,
                "models": None if row.models is None else len(row.models),
                "loaded": [model.to_dict() for model in self.loaded],
                "error": None if row.error is None else {"message": row.error.message, "hint": row.error.hint}}


@dataclass
class Cell:
    """One server and one agent: `lmprep --for AGENT -p SERVER`'s verdict, or what needs a load."""

    server: str
    agent: str
    state: str
    exit_code: int
    message: str | None = None
    hint: str | None = None
    model: str | None = None
    context_length: int | None = None
    warm_up: str | None = None  # the warm-up status of a ready pair: loaded, or ok (with --load)
    seconds: float | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ready"

    @property
    def checked(self) -> bool:
        return self.state not in NOT_CHECKED

    def to_dict(self) -> dict:
        return {"server": self.server, "agent": self.agent, "ok": self.ok, "state": self.state,
                "exit_code": self.exit_code, "model": self.model, "context_length": self.context_length,
                "warm_up": self.warm_up, "seconds": self.seconds,
                "error": None if self.message is None else {"message": self.message, "hint": self.hint}}


@dataclass
class DoctorReport:
    servers: list[ServerInfo]
    agents: list[AgentInfo]  # every known agent, installed or not, and those named
    columns: list[str]  # the agents checked, in order
    cells: list[Cell]  # server by server, each in the order of ``columns``
    memory: object | None  # fit.Memory: free for models on this machine, where known
    load: bool  # --load: the pairs were loaded (and downloaded) as `lmprep --for` does
    timeout: float | None
    config_path: str
    warnings: list[str] = field(default_factory=list)
    error: LmprepError | None = None  # why there is no pair at all (no server, no agent)
    seconds: float | None = None

    def cell(self, server: str, agent: str) -> Cell | None:
        return next((c for c in self.cells if c.server == server and c.agent == agent), None)

    @property
    def first_failure(self) -> Cell | None:
        return next((c for c in self.cells if not c.ok and c.checked), None)

    @property
    def exit_code(self) -> int:
        """0 when every pair asked for is ready; else the code of the first pair (in the order
        shown) that is not, as `lmprep --for AGENT -p SERVER` exits for it; NOT_CHECKED_EXIT
        when none failed but some need a load to be checked."""
        if self.error is not None:
            return int(self.error.exit_code)
        failure = self.first_failure
        if failure is not None:
            return failure.exit_code
        return NOT_CHECKED_EXIT if any(not c.checked for c in self.cells) else 0

    @property
    def state(self) -> str:
        if self.error is not None:
            return self.error.state
        failure = self.first_failure
        if failure is not None:
            return failure.state
        unchecked = next((c for c in self.cells if not c.checked), None)
        return unchecked.state if unchecked is not None else "ready"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict:
        memory = self.memory
        return {
            "schema": DOCTOR_SCHEMA_VERSION,
            "ok": self.ok,
            "state": self.state,
            "exit_code": self.exit_code,
            "load": self.load,
            "timeout": self.timeout,
            "config_path": self.config_path,
            "memory": None if memory is None else {"free_bytes": round(memory.free),
                                                   "total_bytes": None if memory.total is None else round(memory.total),
                                                   "where": memory.where, "gpu": memory.gpu},
            "servers": [server.to_dict() for server in self.servers],
            "agents": [agent.to_dict() for agent in self.agents],
            "pairs": [cell.to_dict() for cell in self.cells],
            "seconds": self.seconds,
            "error": None if self.error is None else {"message": self.error.message, "hint": self.error.hint},
        }


def doctor(
    provider: str | Sequence[str] | None = None,
    model: str | None = None,
    *,
    agents: str | Sequence[str] | None = None,
    load: bool = False,
    offline: bool = False,
    start: bool = True,
    config_path: str | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] | None = None,
) -> DoctorReport:
    """Check every server (``provider``: only these, by name) against every agent installed here
    (``agents``: these instead, installed or not), within ``timeout`` seconds (default
    DEFAULT_DOCTOR_TIMEOUT; none with ``load``). ``model`` is `-m` for every server. Nothing is
    loaded, downloaded or started unless ``load``; ``start=False`` is --no-start. Raises NotConfiguredError for an unknown provider or
    agent name, or a config file that cannot be used; every pair's failure is a cell."""
    started = time.monotonic()
    env = os.environ if env is None else env
    if which is None:  # an agent is installed where this environment's PATH finds its command
        def which(command: str) -> str | None:
            return shutil.which(command, path=env.get("PATH", os.defpath))
    servers_named = _names(provider)
    columns_named = _names(agents)
    from .agents import AGENTS, agent_module

    for agent in columns_named:
        if agent not in AGENTS:
            agent_module(agent)  # the NotConfiguredError that names the agents there are
    base = Flags(model=model, offline=offline or None, connect_timeout=connect_timeout, read_timeout=read_timeout,
                 timeout=timeout, config_path=config_path, start=None if start else False)
    settings = resolve_settings(base._replace(provider=",".join(servers_named) or None), env)
    seconds = settings.timeout.value if settings.timeout.value is not None else (None if load
                                                                                 else DEFAULT_DOCTOR_TIMEOUT)
    deadline = Deadline(seconds)

    known = _agents(which)
    columns = columns_named or [info.name for info in known if info.installed]
    # Named with --for: those agents only (their versions are all that is asked); else every
    # known one, the missing ones with the command that installs them.
    shown_agents = [_agent_info(name, which) for name in columns_named] if columns_named else known
    servers, status_warnings = _servers(settings, servers_named, deadline)
    report = DoctorReport(servers=servers, agents=shown_agents, columns=columns, cells=[], memory=None, load=load,
                          timeout=seconds, config_path=str(settings.config_path.value),
                          warnings=list(dict.fromkeys([*settings.warnings, *status_warnings])))
    if not servers:
        report.error = _no_server(settings)
    elif not columns:
        report.error = _no_agent(known)

    pairs = [(server.name, agent) for server in servers for agent in columns] if report.error is None else []
    cells: dict[tuple[str, str], Cell] = {}
    gate = threading.BoundedSemaphore(MAX_AT_ONCE)

    def check(pair_list: list[tuple[str, str]]):
        def run() -> None:
            for server, agent in pair_list:
                cells[(server, agent)] = _check_pair(server, agent, base, env, deadline, not load, gate)
        return run

    if load:  # loads on one server one after the other, the largest window first: one load serves the rest
        groups = [sorted(((s, a) for s, a in pairs if s == server.name), key=lambda pair: -_window(pair[1]))
                  for server in servers]
        tasks = [check(group) for group in groups if group]
    else:
        tasks = [check([pair]) for pair in pairs]
    infos = [info for info in shown_agents if info.installed]
    tasks += [_version_task(info, deadline) for info in infos]
    running = [server for server in servers if server.status.running]
    tasks += [_server_version_task(server, settings, deadline) for server in running]
    memory: list = []
    tasks.append(lambda: memory.append(_free_memory()))

    from .parallel import run_all

    run_all(tasks, deadline, name="lmprep-doctor")
    for info in infos:
        if info.version is None and info.version_error is None:
            info.version_error = f"`{info.command} --version` did not answer within the deadline"
    report.memory = memory[0] if memory else None
    for server, agent in pairs:
        cell = cells.get((server, agent))
        if cell is None:  # still being checked when the deadline passed
            error = deadline.error(f"checking {server} for {agent}")
            cell = Cell(server, agent, error.state, int(error.exit_code), error.message, error.hint)
        report.cells.append(cell)
    report.seconds = round(time.monotonic() - started, 3)
    return report


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else list(value)
    return list(dict.fromkeys(part.strip() for part in parts if part and part.strip()))


def _window(agent: str) -> int:
    from .agents import min_context

    return min_context(agent) or 0


# -- the agents -------------------------------------------------------------------------------

def _agents(which: Callable[[str], str | None]) -> list[AgentInfo]:
    """Every agent with a command of its own, in lmprep's order, found on PATH or not."""
    from .agents import AGENTS, agent_module

    return [_agent_info(name, which) for name in AGENTS if agent_module(name).COMMAND]


def _agent_info(name: str, which: Callable[[str], str | None]) -> AgentInfo:
    from .agents import agent_module, tested_version

    module = agent_module(name)
    command = module.COMMAND
    return AgentInfo(name, module.LABEL, command, which(command) if command else None, None, tested_version(name),
                     getattr(module, "INSTALL", None))


def _version_task(info: AgentInfo, deadline: Deadline):
    def run() -> None:
        info.version, info.version_error = agent_version(info.path, deadline, info.command or info.name)
    return run


def agent_version(path: str, deadline: Deadline, command: str) -> tuple[str | None, str | None]:
    """(version, None) from `PATH --version`: its first line of output, cleaned and cut; or
    (None, why) where it fails, is slow or says nothing. Its output is untrusted: at most
    MAX_VERSION_BYTES are kept, escape sequences and control characters go."""
    from .proc import run_streaming
    from .termtext import one_line

    kept: list[bytes] = []
    size = 0

    def collect(data: bytes, stream: str) -> None:
        nonlocal size
        if stream == "stdout" and size < MAX_VERSION_BYTES:
            kept.append(data[:MAX_VERSION_BYTES - size])
            size += len(kept[-1])

    try:
        timeout = deadline.cap(VERSION_TIMEOUT, f"asking {command} its version")
        # Stopped a little before the deadline, by this thread: once the deadline has passed
        # doctor returns, and a child nobody waits for would outlive it.
        timeout = timeout if deadline.remaining() is None else max(0.1, min(timeout, deadline.remaining() - 0.5))
        result = run_streaming([path, "--version"], on_output=collect, deadline=deadline, timeout=timeout,
                               doing=f"asking {command} its version")
    except TimeoutError:
        from .termtext import seconds_text

        return None, f"`{command} --version` did not answer within {seconds_text(timeout)} s"
    except LmprepError:
        return None, f"`{command} --version` did not answer within the deadline"
    except OSError as exc:
        return None, f"`{command} --version` could not run: {one_line(exc.strerror or str(exc), 120)}"
    text = b"".join(kept).decode("utf-8", "replace")
    if not text.strip():
        text = result.stderr_tail  # a few print it there
    line = next((one_line(part, MAX_VERSION_CHARS) for part in text.splitlines() if one_line(part)), None)
    if result.returncode != 0:
        return None, f"`{command} --version` exited with {result.returncode}" + (f": {line}" if line else "")
    return (line, None) if line else (None, f"`{command} --version` printed nothing")


# -- the servers -------------------------------------------------------------------------------

def _servers(settings: Settings, named: list[str], deadline: Deadline) -> tuple[list[ServerInfo], list[str]]:
    """What `lmprep status` sees (GET requests only), then the servers doctor checks: those
    named, else each that answers as its kind where auto-detection looks (what `lmprep` alone
    could pick), and each the config file names, running or not."""
    from .status_report import ProviderStatus, collect_status

    if named:
        entries = [settings.providers[name] for name in named if name in settings.providers]
    else:
        entries = list(settings.providers.values())
        # Every server auto-detection would find, also where a provider is chosen for `lmprep`
        # alone (oss_provider, LMPREP_PROVIDER, Codex's config): doctor looks at all of them.
        settings = settings._replace(provider=None)
    report = collect_status(settings, entries, deadline)
    rows = {row.name: row for row in report.providers}
    if named:
        servers = []
        for name in named:
            row = rows.get(name)
            if row is None:  # its variables are unusable (a bad OLLAMA_HOST): the cells say why
                error = settings.broken.get(name) or NotConfiguredError(f"Unknown provider {name!r}.")
                row = ProviderStatus(name=name, kind=name, label=name, state=error.state, error=error)
            servers.append(ServerInfo(row))
        return servers, report.warnings
    by_name = {entry.name: entry for entry in entries}
    return [ServerInfo(row) for row in report.providers if row.identified or _configured(by_name[row.name])], \
        report.warnings


def _configured(entry: ProviderSettings) -> bool:
    """A server the config file names (its own entry, or a base URL for a built-in one)."""
    from .providers import KINDS

    if entry.name not in KINDS:
        return True
    return entry.base_url is not None and entry.base_url.source.startswith("config ")


def _server_version_task(server: ServerInfo, settings: Settings, deadline: Deadline):
    def run() -> None:
        from .providers import open_provider

        entry = settings.providers.get(server.name)
        if entry is None or entry.base_url is None:
            return
        try:
            with open_provider(entry, **settings.http_timeouts(), deadline=deadline) as provider:
                server.version = provider.server_version()
        except LmprepError:
            server.version = None
    return run


def _free_memory():
    from .fit import free_memory

    return free_memory()


def _no_server(settings: Settings) -> LmprepError:
    from .detect import none_running

    looked = ", ".join(f"{c.label} at {c.base_url.value}" for c in settings.auto_detect_candidates())
    return none_running(looked or "nothing", "", settings)


def _no_agent(known: list[AgentInfo]) -> LmprepError:
    from .termtext import listed

    return NotConfiguredError(
        "No coding agent was named with --for, and none is installed here (on PATH).",
        f"Name the agents to check with --for (e.g. `--for codex,claude`), or install one: "
        f"{listed(f'`{info.install}`' for info in known[:3] if info.install)}; `lmprep doctor` lists them all.",
    )


# -- one pair: the pipeline itself ---------------------------------------------------------------

def _check_pair(server: str, agent: str, base: Flags, env: Mapping[str, str], deadline: Deadline, dry: bool,
                gate: threading.BoundedSemaphore) -> Cell:
    """`lmprep --for AGENT -p SERVER` (with doctor's -m, --offline and timeouts), checking only
    (``dry``) or acting; never raises but for Ctrl-C."""
    from .loading import ActionNeeded
    from .pipeline import Readiness, run_ensure

    started = time.monotonic()
    readiness = Readiness()
    remaining = deadline.remaining()
    if not gate.acquire(timeout=None if remaining is None else max(0.0, remaining)):
        error = deadline.error(f"waiting to check {server} for {agent}")
        return Cell(server, agent, error.state, int(error.exit_code), error.message, error.hint)
    try:
        settings = resolve_settings(base._replace(provider=server, agent=agent), env)
        run_ensure(settings, readiness=readiness, deadline=deadline, act=not dry, background="thread")
    except ActionNeeded as exc:
        return _cell(server, agent, exc.state, NOT_CHECKED_EXIT, exc.message, exc.hint, readiness, started)
    except LmprepError as exc:
        return _cell(server, agent, exc.state, int(exc.exit_code), exc.message, exc.hint, readiness, started)
    except Exception as exc:  # one broken pair must not hide the others
        from .status_report import _internal

        error = _internal(exc)
        return _cell(server, agent, error.state, int(error.exit_code), error.message, error.hint, readiness, started)
    finally:
        gate.release()
    return _cell(server, agent, "ready", int(ExitCode.READY), None, None, readiness, started)


def _cell(server: str, agent: str, state: str, code: int, message: str | None, hint: str | None, readiness,
          started: float) -> Cell:
    warm_up = readiness.warm_up.status if readiness.warm_up is not None and state == "ready" else None
    return Cell(server, agent, state, code, message, hint, readiness.model, readiness.context_length, warm_up,
                round(time.monotonic() - started, 3))

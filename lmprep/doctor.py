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
however many pairs there are.

With ``smoke``, every pair found ready (with ``load``: also those it made ready), and every one
lmprep's check refuses (agent_unsupported, which it keeps), then gets a smoke run of its real agent (lmprep/smoke.py's smoke(), the `lmprep smoke --for AGENT -p
SERVER` run), at most SMOKE_AT_ONCE at a time, each within its time limit and what the
deadline leaves; a failed run makes the pair ``smoke_failed``. Every child doctor starts (an
agent's `--version`, a smoke run's agent) is stopped, with its process group, when doctor is
interrupted or gives up: none outlives it. Core code: no click, no printing (lmprep/views.py renders).
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
from .events import Reporter, Step, ignore

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
#: Smoke runs at once (--smoke-jobs): each is a real agent, a Node or Python process of 100-400 MB
#: that keeps a core busy while it starts, and its requests queue on a server's few slots
#: (measured here, 2 shared cores: two at once took 1.5-2.5 times as long each as one alone).
SMOKE_AT_ONCE = 2
#: How long each child doctor stops (SIGINT, then SIGTERM, then SIGKILL) may take per step.
STOP_GRACE = 1.0
#: How long an interrupted doctor waits for its stopped smoke runs to remove their folders.
CLEAN_UP_WAIT = 3.0


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
    smoke: object = None  # smoke.SmokeResult of the pair's smoke run (--smoke, a ready pair)
    smoke_skipped: str | None = None  # why a ready pair had no smoke run (--smoke)

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
                "error": None if self.message is None else {"message": self.message, "hint": self.hint},
                "smoke": None if self.smoke is None else self.smoke.to_dict(), "smoke_skipped": self.smoke_skipped}


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
    smoke: bool = False  # --smoke: each ready pair's agent was run once
    time_limit: float | None = None  # --time-limit: each smoke run's

    def cell(self, server: str, agent: str) -> Cell | None:
        return next((c for c in self.cells if c.server == server and c.agent == agent), None)

    @property
    def first_failure(self) -> Cell | None:
        return next((c for c in self.cells if not c.ok and c.checked), None)

    @property
    def exit_code(self) -> int:
        """0 when every pair asked for is ready (and, with --smoke, its smoke run passed); else the
        code of the first pair (in the order shown) that is not, as `lmprep --for AGENT -p SERVER`
        exits for it, or `lmprep smoke` for a ready pair whose run failed (14, smoke_failed);
        NOT_CHECKED_EXIT when none failed but some need a load to be checked."""
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
            "smoke": self.smoke,
            "time_limit": self.time_limit,
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
    smoke: bool = False,
    time_limit: float | None = None,
    smoke_jobs: int = SMOKE_AT_ONCE,
    report: Reporter = ignore,
) -> DoctorReport:
    """Check every server (``provider``: only these, by name) against every agent installed here
    (``agents``: these instead, installed or not), within ``timeout`` seconds (default
    DEFAULT_DOCTOR_TIMEOUT; none with ``load``). ``model`` is `-m` for every server. Nothing is
    loaded, downloaded or started unless ``load``; ``start=False`` is --no-start. Raises NotConfiguredError for an unknown provider or
    agent name, or a config file that cannot be used; every pair's failure is a cell.

    ``smoke``: then run each ready pair's agent once (smoke.smoke), ``smoke_jobs`` at a time, each
    within ``time_limit`` seconds (default smoke.DEFAULT_TIME_LIMIT) and, where ``timeout`` is
    given, what is left of it (without one, the checks keep their 30 s and the runs only their
    time limits). ``report`` hears each run start and end (Step events, from one thread at a time)."""
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
    children = _Children()
    say = _one_at_a_time(report)  # the runs end in several threads; a reporter hears one at a time

    known = _agents(which)
    columns = columns_named or [info.name for info in known if info.installed]
    # Named with --for: those agents only (their versions are all that is asked); else every
    # known one, the missing ones with the command that installs them.
    shown_agents = [_agent_info(name, which) for name in columns_named] if columns_named else known
    servers, status_warnings = _servers(settings, servers_named, deadline)
    if smoke:
        from .smoke import DEFAULT_TIME_LIMIT

        time_limit = time_limit or DEFAULT_TIME_LIMIT
    else:
        time_limit = None
    report = DoctorReport(servers=servers, agents=shown_agents, columns=columns, cells=[], memory=None, load=load,
                          timeout=seconds, config_path=str(settings.config_path.value),
                          warnings=list(dict.fromkeys([*settings.warnings, *status_warnings])), smoke=smoke,
                          time_limit=time_limit)
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
    tasks += [_version_task(info, deadline, children) for info in infos]
    running = [server for server in servers if server.status.running]
    tasks += [_server_version_task(server, settings, deadline) for server in running]
    memory: list = []
    tasks.append(lambda: memory.append(_free_memory()))

    from .parallel import run_all

    run_all(tasks, deadline, name="lmprep-doctor", on_abandon=children.stop_all)
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
    if smoke and report.cells:
        # An explicit --timeout bounds the whole doctor; the default 30 s is the checks' alone.
        shared = deadline if settings.timeout.value is not None else Deadline(None)
        _smoke_ready(report, base, env, shared, time_limit, max(1, smoke_jobs), children, say, which)
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


def _version_task(info: AgentInfo, deadline: Deadline, children: _Children):
    def run() -> None:
        info.version, info.version_error = agent_version(info.path, deadline, info.command or info.name,
                                                         on_start=children.add)
    return run


def agent_version(path: str, deadline: Deadline, command: str,
                  on_start: Callable | None = None) -> tuple[str | None, str | None]:
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
                               doing=f"asking {command} its version", on_start=on_start)
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
    could pick), each the config file names, running or not, and each that is down where
    auto-detection looks but installed here (what `lmprep` alone would start: its cells say
    `needs_start`, as a configured one's do)."""
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
    down = {row.name for row in report.providers if not row.running and row.state == "unreachable"}
    startable: set[str] = set()
    if down:  # server_start decides what it would start, running nothing (only then imported, as elsewhere)
        from .server_start import installed_here

        startable = {chosen.name for chosen, _ in installed_here(settings)}
    return [ServerInfo(row) for row in report.providers
            if row.identified or _configured(by_name[row.name]) or (row.name in down and row.name in startable)], \
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


# -- the smoke runs -------------------------------------------------------------------------------

class _Children:
    """The children doctor's threads start (`--version`, the agents of smoke runs), so that the
    main thread can stop them, each with its process group, on Ctrl-C or when it gives up: a
    worker thread never hears the interrupt, and a child nobody waits for would outlive doctor."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: list = []
        self.stopping = False

    def add(self, process) -> None:
        with self._lock:
            if not self.stopping:
                self._live.append(process)
                return
        from .proc import stop

        stop(process, grace=STOP_GRACE)  # started as doctor gave up: it goes at once

    def stop_all(self) -> None:
        from .proc import stop

        with self._lock:
            self.stopping = True
            live = [process for process in self._live if process.poll() is None]
        # Each in a thread of its own: their grace periods run side by side.
        stoppers = [threading.Thread(target=stop, args=(process,), kwargs={"grace": STOP_GRACE}, daemon=True)
                    for process in live]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=4 * STOP_GRACE)


def _one_at_a_time(report: Reporter) -> Reporter:
    lock = threading.Lock()

    def say(event) -> None:
        with lock:
            report(event)
    return say


def _smoke_ready(report: DoctorReport, base: Flags, env: Mapping[str, str], deadline: Deadline, time_limit: float,
                 jobs: int, children: _Children, say: Reporter, which) -> None:
    """Each ready pair's agent run once (smoke.smoke), ``jobs`` at a time; the cell of a failed
    run becomes ``smoke_failed`` (or the ensure's own state, where the server stopped being
    ready in between), with the run's reason and hint."""
    from .agents import agent_module
    from .parallel import UNFINISHED, run_all
    from .smoke import SmokeResult

    agents = {info.name: info for info in report.agents}
    queued: list[Cell] = []
    for cell in report.cells:
        # A pair lmprep's own check refuses (agent_unsupported: the server lacks a route or the
        # tools the agent sends) is run too: the agent's own words show what the check found,
        # and a run that passes says the check was wrong. Its cell keeps the check's verdict.
        if cell.state not in ("ready", "agent_unsupported"):
            continue
        module = agent_module(cell.agent)
        info = agents.get(cell.agent) or _agent_info(cell.agent, which)
        if module.COMMAND is None or getattr(module, "SMOKE_ARGV", None) is None:
            cell.smoke_skipped = f"--for {cell.agent} is no program of its own: there is nothing to run."
        elif not info.installed:
            cell.smoke_skipped = (f"{module.LABEL} is not installed here" +
                                  (f": `{info.install}` installs it." if info.install else "."))
        else:
            queued.append(cell)
    gate = threading.BoundedSemaphore(jobs)
    ended = [threading.Event() for _ in queued]

    def task(cell: Cell, done: threading.Event):
        def run():
            try:
                return attempt()
            finally:
                done.set()

        def attempt():
            from .smoke import smoke

            remaining = deadline.remaining()
            if not gate.acquire(timeout=None if remaining is None else max(0.0, remaining)):
                return UNFINISHED
            try:
                remaining = deadline.remaining()
                # Stopped a little before the deadline, by its own thread (as `--version` is).
                limit = time_limit if remaining is None else min(time_limit, remaining - 0.5)
                if children.stopping or limit <= 0:
                    return UNFINISHED
                label = agent_module(cell.agent).LABEL
                say(Step(f"Smoke run of {label} on {cell.server} (time limit {_seconds(limit)} s)"))
                flags = base._replace(provider=cell.server, agent=cell.agent,
                                      timeout=None if remaining is None else max(0.1, remaining))
                try:
                    result = smoke(flags, cell.agent, time_limit=limit, environ=env, on_start=children.add)
                except LmprepError as exc:
                    say(Step(f"Smoke run of {label} on {cell.server}: {exc.state}"))
                    return exc
                say(Step(f"Smoke run of {label} on {cell.server}: {'passed' if result.passed else 'failed'} "
                         f"in {_seconds(result.seconds)} s"))
                return result
            finally:
                gate.release()
        return run

    def abandon() -> None:
        # The agents stopped, each run ends by itself within moments: its throw-away folder is
        # removed by its own thread, which a process that exits at once would cut short.
        children.stop_all()
        end = time.monotonic() + CLEAN_UP_WAIT
        for done in ended:
            done.wait(max(0.0, end - time.monotonic()))

    results = run_all([task(cell, done) for cell, done in zip(queued, ended)], deadline,
                      name="lmprep-doctor-smoke", on_abandon=abandon)
    for cell, result in zip(queued, results):
        if cell.state == "agent_unsupported":  # the check's verdict stands; the run is shown beside it
            if isinstance(result, SmokeResult):
                cell.smoke = result
            else:
                cell.smoke_skipped = ("the run did not finish within the deadline" if result is UNFINISHED
                                      else f"the run could not be made: {getattr(result, 'message', result)}")
            continue
        if result is UNFINISHED:
            error = deadline.error(f"running {cell.agent} on {cell.server} (--smoke)")
            cell.state, cell.exit_code, cell.message, cell.hint = (error.state, int(error.exit_code), error.message,
                                                                   error.hint)
        elif isinstance(result, LmprepError):  # no longer ready (or the agent cannot run at all)
            cell.state, cell.exit_code, cell.message, cell.hint = (result.state, int(result.exit_code),
                                                                   result.message, result.hint)
        elif isinstance(result, BaseException):
            from .status_report import _internal

            error = _internal(result)
            cell.state, cell.exit_code, cell.message, cell.hint = (error.state, int(error.exit_code), error.message,
                                                                   error.hint)
        else:
            cell.smoke = result
            if not result.passed:
                cell.state, cell.exit_code, cell.message, cell.hint = (result.state, result.exit_code, result.reason,
                                                                       result.hint)


def _seconds(value: float) -> str:
    from .termtext import seconds_text

    return seconds_text(value)

"""`lmprep stop`: stop the servers lmprep started, and never another.

A server is stopped only when its record (started.py) names a process that still runs *and*
started when the record says: a pid the system reused for another process, or a server someone
started by hand on the same port, is never signalled. Records of servers that have ended are
forgotten on the way.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import NamedTuple

from .config import Flags, ProviderSettings, Settings, resolve_settings
from .deadline import Deadline
from .errors import LmprepError, NotStartedByLmprepError, TimedOutError, UnreachableError
from .started import StartedServer, command_line

#: How long the check "does anything listen at the provider's address?" may wait.
LISTEN_TIMEOUT = 1.0


class StoppedServer(NamedTuple):
    """A server `lmprep stop` stopped."""

    record: StartedServer
    label: str  # the provider's label (`llama.cpp server`, `box (llama.cpp server)`)
    seconds: float  # from the first signal until it had ended
    forced: bool  # it needed SIGKILL

    def to_dict(self) -> dict:
        from .status_report import _iso

        record = self.record
        return {"provider": record.provider, "kind": record.kind, "base_url": record.base_url, "pid": record.pid,
                "command": record.command, "log": record.log, "started_at": _iso(record.started_at),
                "seconds": self.seconds, "forced": self.forced,
                "stopped_with": command_line(record.stop) if record.handed_off else None}


#: How long `lmprep stop` waits for a start of the same server (another lmprep holding the start
#: lock) to end when no --timeout is given: a start holds it until its server answers.
START_LOCK_WAIT = 60.0


class StopReport(NamedTuple):
    """What `lmprep stop` did: the servers stopped, and each name's error (`-p a,b`: every one)."""

    stopped: list[StoppedServer]
    errors: list[tuple[str | None, LmprepError]]

    @property
    def worst(self) -> LmprepError | None:
        return max((error for _, error in self.errors), key=severity, default=None)


#: The order in which `-p a,b` picks its exit code from its names' outcomes: nothing to stop (4)
#: is the mildest, then a server lmprep did not start (15), then one that would not stop (10),
#: then anything else; a name that is not a provider (3) is refused before anything is stopped.
_SEVERITY = {"unreachable": 1, "not_started_by_lmprep": 2, "timed_out": 3}


def severity(error: LmprepError) -> int:
    return _SEVERITY.get(error.state, 4)


def stop(provider: str | None = None, *, config_path: str | None = None, timeout: float | None = None,
         env: Mapping[str, str] | None = None) -> list[StoppedServer]:
    """Stop the server lmprep started for ``provider`` (every one it started and that still runs,
    when None; `"box1,box2"`: each in turn), each within ``timeout`` seconds in all (default:
    started.STOP_GRACE after SIGTERM, then SIGKILL). Raises UnreachableError when none of them
    runs (nothing to stop), NotStartedByLmprepError when a server runs at ``provider``'s address
    that lmprep did not start, TimedOutError when one does not end; with several names, the worst
    of their errors once each was tried (its ``stopped`` attribute: what was stopped)."""
    report = stop_report(provider, config_path=config_path, timeout=timeout, env=env)
    if report.worst is not None:
        report.worst.stopped = report.stopped
        raise report.worst
    return report.stopped


def stop_report(provider: str | None = None, *, config_path: str | None = None, timeout: float | None = None,
                env: Mapping[str, str] | None = None) -> StopReport:
    """As stop, but each name's outcome instead of the worst error. A name that is not a
    provider raises NotConfiguredError before anything is stopped."""
    settings = resolve_settings(Flags(provider=provider, config_path=config_path, timeout=timeout), env)
    deadline = Deadline(timeout)
    names = [name.strip() for name in provider.split(",") if name.strip()] if provider is not None else [None]
    stopped: list[StoppedServer] = []
    errors: list[tuple[str | None, LmprepError]] = []
    for name in names or [None]:
        try:
            stopped += stop_servers(settings, name, deadline)
        except LmprepError as exc:
            errors.append((name, exc))
    return StopReport(stopped, errors)


def stop_servers(settings: Settings, provider: str | None, deadline: Deadline) -> list[StoppedServer]:
    """Stop ``provider``'s servers (every one lmprep started, for None), holding the start lock of
    each base URL concerned: a start under way there (another lmprep waiting for the server it
    spawned to answer) ends first, so its server is stopped rather than reported as nothing."""
    if provider is None:
        from .started import started_servers

        urls = {record.base_url for record in started_servers()}
        urls |= {entry.base_url.value for entry in settings.providers.values() if entry.base_url is not None}
    else:
        chosen = settings.provider_settings(provider.strip())
        from .started import started_servers

        urls = {record.base_url for record in started_servers() if record.provider == chosen.name}
        if chosen.base_url is not None:
            urls.add(chosen.base_url.value)
    with _start_locks(sorted(urls), settings, deadline):
        return _stop_servers(settings, provider, deadline)


class _start_locks:
    """The start locks (server_start's) of ``urls`` on this machine, taken in turn, each within
    the deadline (START_LOCK_WAIT where none is given). A lock still held then is a TimedOutError
    that names the start under way."""

    def __init__(self, urls: list[str], settings: Settings, deadline: Deadline) -> None:
        self.urls, self.settings, self.deadline, self.held = urls, settings, deadline, []

    def __enter__(self):
        from .hosts import is_loopback_url
        from .lock import FileLock, lock_path

        wait = self.deadline if self.deadline.remaining() is not None else Deadline(START_LOCK_WAIT)
        try:
            for url in self.urls:
                if not is_loopback_url(url):
                    continue  # lmprep starts servers on this machine only
                lock = FileLock(lock_path("start", url, "", purpose="start"))
                if not lock.try_acquire():
                    try:
                        lock.acquire(wait, f"waiting for another lmprep to finish starting the server at {url}",
                                     on_wait=lambda: None)
                    except TimedOutError as exc:
                        exc.message = (f"Another lmprep is starting the server at {url}, and it had not finished "
                                       f"within {wait.seconds:g} s: lmprep stopped nothing there.")
                        exc.hint = "Run `lmprep stop` again once that start has ended (or give it --timeout S)."
                        raise
                self.held.append(lock)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        for lock in self.held:
            lock.release()
        self.held = []


def _stop_servers(settings: Settings, provider: str | None, deadline: Deadline) -> list[StoppedServer]:
    from .started import is_same_process, started_servers

    if provider is None:
        running = [record for record in started_servers() if is_same_process(record)]
        if not running:
            raise UnreachableError("No server that lmprep started is running: there is nothing to stop.",
                                   "`lmprep status` shows the servers; lmprep stops only those it started.")
        return _stop_each(running, settings, deadline)
    chosen = settings.provider_settings(provider.strip())  # an unknown name is exit 3, as everywhere
    records = [record for record in started_servers() if record.provider == chosen.name]
    running = [record for record in records if is_same_process(record)]
    ended = [record for record in records if record not in running]
    from .started import forget

    for record in ended:
        forget(record)  # its process ended (or the pid is another's now): nothing of lmprep's runs there
    if running:
        return _stop_each(running, settings, deadline)
    url = chosen.base_url.value if chosen.base_url else None
    before = (f" (the {_program(ended[0])} lmprep started there, pid {ended[0].pid}, has ended: what runs there "
              "now is another process)") if ended else ""
    if url is not None and _listening(chosen, settings, deadline):
        raise NotStartedByLmprepError(
            f"lmprep did not start the server at {url}{before}; stop it yourself with {_stop_hint(chosen)}.",
            "lmprep stops only the servers it started itself (`lmprep status` shows them).")
    raise UnreachableError(
        f"No server that lmprep started is running for {chosen.label}"
        + (f", and nothing answers at {url}" if url else "") + ": there is nothing to stop.",
        "`lmprep status` shows the servers lmprep started.")


def _stop_each(records: list[StartedServer], settings: Settings, deadline: Deadline) -> list[StoppedServer]:
    from .started import StopCommandFailed, stop_started

    stopped = []
    for record in records:
        label = _label(record, settings)
        begun = time.monotonic()
        try:
            outcome = stop_started(record, deadline)
        except StopCommandFailed as exc:
            raise TimedOutError(
                f"lmprep started {label} at {record.base_url}, which {_program(record)} handed to process "
                f"{record.pid}, and could not stop it: {exc}.",
                f"Stop its server yourself (`{command_line(record.stop)}`, or in {label}'s own window), then check with "
                "`lmprep status`; lmprep never signals that process: it is the service, which does more than serve.",
            ) from None
        except OSError as exc:
            raise TimedOutError(
                f"{label} at {record.base_url} (pid {record.pid}, which lmprep started) did not end: {exc}.",
                f"Look at it with `ps -p {record.pid}`; run `lmprep stop` again to retry.") from None
        if outcome.stopped:
            stopped.append(StoppedServer(record, label, round(time.monotonic() - begun, 3), outcome.forced))
    if not stopped:  # each had ended between the look and the signal
        raise UnreachableError("The servers lmprep started had ended already: there is nothing to stop.",
                               "`lmprep status` shows the servers lmprep started.")
    return stopped


def _label(record: StartedServer, settings: Settings) -> str:
    entry = settings.providers.get(record.provider)
    if entry is not None:
        return entry.label
    from .providers import KINDS

    kind = KINDS.get(record.kind)
    label = kind.label if kind is not None else record.kind
    return label if record.provider == record.kind else f"{record.provider} ({label})"


def _program(record: StartedServer) -> str:
    import os

    return os.path.basename(record.argv[0]) if record.argv else "server"


def _listening(chosen: ProviderSettings, settings: Settings, deadline: Deadline) -> bool:
    from .server_start import listening, start_request

    request = start_request(chosen, settings)
    remaining = deadline.remaining()
    return listening(request.host, request.port,
                     LISTEN_TIMEOUT if remaining is None else max(0.05, min(LISTEN_TIMEOUT, remaining)))


def _stop_hint(chosen: ProviderSettings) -> str:
    from .providers import provider_class

    return provider_class(chosen.kind).stop_hint

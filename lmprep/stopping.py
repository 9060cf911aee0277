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
from .errors import NotStartedByLmprepError, TimedOutError, UnreachableError
from .started import StartedServer

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
                "seconds": self.seconds, "forced": self.forced}


def stop(provider: str | None = None, *, config_path: str | None = None, timeout: float | None = None,
         env: Mapping[str, str] | None = None) -> list[StoppedServer]:
    """Stop the server lmprep started for ``provider`` (every one it started and that still runs,
    when None), each within ``timeout`` seconds in all (default: started.STOP_GRACE after SIGTERM,
    then SIGKILL). Raises UnreachableError when none of them runs (nothing to stop),
    NotStartedByLmprepError when a server runs at ``provider``'s address that lmprep did not
    start, TimedOutError when one does not end."""
    settings = resolve_settings(Flags(provider=provider, config_path=config_path, timeout=timeout), env)
    return stop_servers(settings, provider, Deadline(timeout))


def stop_servers(settings: Settings, provider: str | None, deadline: Deadline) -> list[StoppedServer]:
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
    from .started import stop_started

    stopped = []
    for record in records:
        label = _label(record, settings)
        begun = time.monotonic()
        try:
            outcome = stop_started(record, deadline)
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

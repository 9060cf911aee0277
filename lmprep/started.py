"""The servers lmprep started: one record per server, so that `lmprep stop` and `status` know
them, and so that a pid reused by another process is never taken for one of them.

Each record is a small JSON file under ``state_dir()/servers``, named by dirs.record_name from
the provider and its base URL (never by anything a server says). A process is identified by its
pid *and* its start time (Linux: field 22 of /proc/PID/stat, in clock ticks since boot; elsewhere
`ps -o lstart=`), which together never name two processes: a pid alone is reused.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

#: A record is well under a kilobyte; a bigger file is not one.
MAX_RECORD_BYTES = 64 * 1024
#: Seconds a started server gets to end after SIGTERM before it gets SIGKILL.
STOP_GRACE = 10.0


class StartedServer(NamedTuple):
    """One server lmprep started, as its record says."""

    provider: str  # the provider's name (`llamacpp`, or a [providers.NAME] entry)
    kind: str
    base_url: str
    pid: int  # also its process group: it was started in a session of its own
    process_start: str  # when the process started, as process_start_time() says it
    argv: tuple[str, ...]  # the command as it ran (tokens redacted)
    command: str  # the same, as a user would type it (the program by its name)
    log: str | None  # the file its stdout and stderr go to
    started_at: float  # seconds since the epoch
    seconds: float | None = None  # from the start until it answered; None while it has not
    path: Path | None = None  # the record's own file (not stored in it)

    def to_dict(self) -> dict:
        """The record as stored (and as `--json` reports it): every field but ``path``."""
        values = self._asdict()
        del values["path"]
        values["argv"] = list(self.argv)
        return values


def servers_dir() -> Path:
    from .dirs import state_dir

    return state_dir() / "servers"


def record_path(provider: str, base_url: str) -> Path:
    from .dirs import record_name

    return servers_dir() / f"{record_name(provider, base_url)}.json"


def process_start_time(pid: int) -> str | None:
    """When the process ``pid`` started, as a string that two processes never share with the
    same pid; None when there is no such process (or it is a zombie: it has ended) or this
    platform does not say."""
    if not _is_pid(pid):
        return None
    if sys.platform.startswith("linux"):
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read(4096).decode("ascii", "replace")
        except OSError:
            return None
        # The command name (field 2) is in parentheses and may hold spaces and parentheses
        # itself: the fields after its last ")" start at field 3 (the state).
        fields = stat.rpartition(")")[2].split()
        if len(fields) < 20 or fields[0] in ("Z", "X"):
            return None
        return f"linux:{fields[19]}"  # field 22: starttime, clock ticks after boot
    if sys.platform == "win32":
        return None
    from .proc import run_captured

    try:
        result = run_captured(["ps", "-o", "lstart=", "-p", str(pid)], timeout=5.0)
    except (OSError, TimeoutError, ValueError):
        return None
    text = result.stdout.decode("utf-8", "replace").strip()
    if result.returncode != 0 or not text:
        return None
    try:  # a zombie has a start time too, but it has ended
        state = run_captured(["ps", "-o", "stat=", "-p", str(pid)], timeout=5.0).stdout.decode().strip()
    except (OSError, TimeoutError, ValueError):
        state = ""
    return None if state.startswith("Z") else f"ps:{' '.join(text.split())}"


def _is_pid(pid) -> bool:
    return isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31


def remember(provider: str, kind: str, base_url: str, pid: int, argv, log: str | None, *,
             started_at: float | None = None, seconds: float | None = None) -> StartedServer:
    """Record that lmprep started ``pid`` for ``provider`` at ``base_url``; returns the record.
    Replaces an earlier record of that provider and base URL (whose server has ended, or this
    start would not have happened). OSError when the record cannot be written, or when ``pid``
    has ended already (nothing would identify it)."""
    import shlex

    from .redact import redact

    start = process_start_time(pid)
    if start is None:
        raise OSError(f"process {pid} has ended")
    shown = tuple(redact(str(part)) for part in argv)  # a token in a configured command stays out of the file
    record = StartedServer(
        provider=provider, kind=kind, base_url=base_url, pid=pid, process_start=start, argv=shown,
        command=shlex.join([os.path.basename(shown[0]), *shown[1:]]) if shown else "",
        log=log, started_at=time.time() if started_at is None else started_at, seconds=seconds,
        path=record_path(provider, base_url),
    )
    save(record)
    return record


def save(record: StartedServer) -> StartedServer:
    """Write ``record`` to its file in one step (a reader sees the old record or the new one).
    Not flushed to disk: after the machine stops, the process it names has ended too, and the
    flush cost a start 3-30 ms."""
    from .files import replace

    path = record.path or record_path(record.provider, record.base_url)
    replace(path, json.dumps(record.to_dict()).encode("utf-8"), sync=False)
    return record._replace(path=path)


def read_record(path: Path) -> StartedServer | None:
    """The record in ``path``, or None for a file that is not one (unreadable, too big, a FIFO,
    fields missing or of the wrong type)."""
    from .files import read_regular

    try:
        data = json.loads(read_regular(path, MAX_RECORD_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    text = {name: data.get(name) for name in ("provider", "kind", "base_url", "process_start", "command")}
    argv, log = data.get("argv"), data.get("log")
    started_at, seconds = data.get("started_at"), data.get("seconds")
    if not all(isinstance(value, str) for value in text.values()) or not _is_pid(data.get("pid")) \
            or not isinstance(argv, list) or not all(isinstance(part, str) for part in argv) \
            or not (log is None or isinstance(log, str)) or not _is_number(started_at) \
            or not (seconds is None or _is_number(seconds)):
        return None
    return StartedServer(pid=data["pid"], argv=tuple(argv), log=log, started_at=float(started_at),
                         seconds=None if seconds is None else float(seconds), path=path, **text)


def _is_number(value) -> bool:
    import math

    try:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    except OverflowError:
        return False


def started_servers() -> list[StartedServer]:
    """Every recorded server, newest first (whether it still runs or not: is_same_process says);
    files that are not records are skipped."""
    try:
        paths = sorted(servers_dir().glob("*.json"))
    except OSError:
        return []
    records = [record for record in map(read_record, paths) if record is not None]
    return sorted(records, key=lambda record: record.started_at, reverse=True)


def find_started(provider: str, base_url: str) -> StartedServer | None:
    """The record of the server lmprep started for ``provider`` at ``base_url``, if any."""
    return read_record(record_path(provider, base_url))


def is_same_process(record: StartedServer) -> bool:
    """Whether the process lmprep started still runs: its pid is alive and started when the
    record says (a pid reused by another process is not it)."""
    if not _is_pid(record.pid):
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but not ours to signal: not one lmprep started as this user
        return False
    return process_start_time(record.pid) == record.process_start


def forget(record: StartedServer) -> None:
    """Remove ``record``'s file (gone already: nothing to do)."""
    try:
        os.unlink(record.path or record_path(record.provider, record.base_url))
    except FileNotFoundError:
        pass


class Stopped(NamedTuple):
    """What stop_started did."""

    stopped: bool  # it was running and has ended now
    forced: bool = False  # it needed SIGKILL
    seconds: float = 0.0


def stop_started(record: StartedServer, deadline=None, grace: float = STOP_GRACE) -> Stopped:
    """Stop the server of ``record`` and forget the record: SIGTERM to its process group, wait
    ``grace`` (cut to what ``deadline`` leaves), then SIGKILL. Only when is_same_process: a
    process that is not the one lmprep started is never signalled (its record is forgotten, and
    ``stopped`` is False). OSError when it cannot be signalled or does not end even after SIGKILL."""
    import signal

    begun = time.monotonic()
    if not is_same_process(record):
        forget(record)
        return Stopped(False)
    forced = False
    steps = [signal.SIGTERM] if sys.platform == "win32" else [signal.SIGTERM, signal.SIGKILL]
    for sig in steps:
        _signal(record.pid, sig)
        forced = sig != signal.SIGTERM
        wait = grace if deadline is None or deadline.remaining() is None \
            else max(0.1, min(grace, deadline.remaining()))
        end = time.monotonic() + (wait if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < end:
            if not is_same_process(record):
                forget(record)
                return Stopped(True, forced, round(time.monotonic() - begun, 3))
            time.sleep(0.05)
    raise OSError(f"process {record.pid} did not end after SIGKILL")


def _signal(pid: int, sig) -> None:
    """``sig`` to the process group ``pid`` leads (the server and what it started), else to it."""
    if sys.platform != "win32":
        try:
            os.killpg(pid, sig)
            return
        except ProcessLookupError:
            pass  # no group of that id: the process alone
        except PermissionError:
            pass
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass

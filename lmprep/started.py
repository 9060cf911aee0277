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
    # A hand-off (`lms server start` has LM Studio's service serve, and exits): ``pid`` is the
    # process that listens on ``port`` (the service, which lmprep did not spawn and must not
    # signal: it is the whole of LM Studio), and ``stop`` the command that stops its server.
    stop: tuple[str, ...] = ()
    port: int | None = None
    env: dict | None = None  # the variables lmprep set for the server (values redacted), shown in ``command``
    path: Path | None = None  # the record's own file (not stored in it)

    @property
    def handed_off(self) -> bool:
        return bool(self.stop)

    def to_dict(self) -> dict:
        """The record as stored (and as `--json` reports it): every field but ``path``."""
        values = self._asdict()
        del values["path"]
        values["argv"] = list(self.argv)
        values["stop"] = list(self.stop)
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
             started_at: float | None = None, seconds: float | None = None, env=None, stop=(),
             port: int | None = None) -> StartedServer:
    """Record that lmprep started ``pid`` for ``provider`` at ``base_url``; returns the record.
    Replaces an earlier record of that provider and base URL (whose server has ended, or this
    start would not have happened). ``env``: the variables lmprep set for it; ``stop`` and
    ``port``: a hand-off's (see StartedServer). OSError when the record cannot be written, or
    when ``pid`` has ended already (nothing would identify it)."""
    start = process_start_time(pid)
    if start is None:
        raise OSError(f"process {pid} has ended")
    record = new_record(provider, kind, base_url, pid, start, argv, log, env=env, stop=stop, port=port,
                        started_at=started_at, seconds=seconds)
    save(record)
    return record


def new_record(provider: str, kind: str, base_url: str, pid: int, process_start: str, argv, log: str | None, *,
               env=None, stop=(), port: int | None = None, started_at: float | None = None,
               seconds: float | None = None) -> StartedServer:
    """The record (not yet written), its command and variables redacted."""
    from .redact import redact

    shown = tuple(redact(str(part)) for part in argv)  # a token in a configured command stays out of the file
    shown_env = shown_variables(env or {})
    return StartedServer(
        provider=provider, kind=kind, base_url=base_url, pid=pid, process_start=process_start, argv=shown,
        command=command_line(shown, shown_env), log=log,
        started_at=time.time() if started_at is None else started_at, seconds=seconds,
        stop=tuple(redact(str(part)) for part in stop), port=port, env=shown_env or None,
        path=record_path(provider, base_url),
    )


#: Parts of a variable's name that say its value is a secret: shown as the mask, whatever it is.
_SECRET_NAMES = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")


def shown_variables(env) -> dict:
    """``env`` as lmprep shows it: a value that is, or holds, a token is masked (redact), and so
    is any value of a variable named as a secret (`..._API_KEY`, `..._TOKEN`)."""
    from .redact import MASK, redact

    return {str(name): MASK if any(part in str(name).upper() for part in _SECRET_NAMES) else redact(str(value))
            for name, value in env.items()}


def command_line(argv, env=None) -> str:
    """The command as a user would type it: the variables lmprep set first
    (`OLLAMA_HOST=127.0.0.1:11434 OLLAMA_CONTEXT_LENGTH=65536 ollama serve`), the program by its name."""
    import shlex

    if not argv:
        return ""
    words = [f"{name}={shlex.quote(value)}" for name, value in (env or {}).items()]
    return " ".join([*words, shlex.join([os.path.basename(argv[0]), *argv[1:]])])


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
    stop, port, env = data.get("stop", []), data.get("port"), data.get("env")
    if not all(isinstance(value, str) for value in text.values()) or not _is_pid(data.get("pid")) \
            or not isinstance(argv, list) or not all(isinstance(part, str) for part in argv) \
            or not (log is None or isinstance(log, str)) or not _is_number(started_at) \
            or not (seconds is None or _is_number(seconds)) \
            or not isinstance(stop, list) or not all(isinstance(part, str) for part in stop) \
            or not (port is None or (_is_pid(port) and port < 65536)) \
            or not (env is None or (isinstance(env, dict) and all(isinstance(v, str) for v in env.values()))):
        return None
    if stop and port is None:
        return None  # a hand-off is told by the port its server listens on
    return StartedServer(pid=data["pid"], argv=tuple(argv), log=log, started_at=float(started_at),
                         seconds=None if seconds is None else float(seconds), stop=tuple(stop), port=port,
                         env=env, path=path, **text)


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
    record says (a pid reused by another process is not it). For a hand-off, also that it still
    listens on the port: LM Studio's service outlives the server it was asked to run (`lms
    server stop`, or LM Studio's own switch, stops that server and leaves the service)."""
    if not _is_pid(record.pid):
        return False
    try:
        os.kill(record.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but not ours to signal: not one lmprep started as this user
        return False
    if process_start_time(record.pid) != record.process_start:
        return False
    if record.handed_off and record.port is not None:
        from .listener import listens

        return listens(record.pid, record.port) is not False  # None: this machine does not say
    return True


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
    if record.handed_off:
        return _stop_handed_off(record, deadline, grace, begun)
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


class StopCommandFailed(OSError):
    """A hand-off's stop command failed, or its server answers on after it: ``message`` says
    which, in a sentence."""


#: The most a hand-off's stop command (`lms server stop`) may take.
STOP_COMMAND_TIMEOUT = 15.0


def _stop_handed_off(record: StartedServer, deadline, grace: float, begun: float) -> Stopped:
    """A hand-off is never signalled (its pid is LM Studio's whole service): its recorded stop
    command runs (an argv list, bounded), then the port is watched until nothing listens there.
    StopCommandFailed when the command fails or the server still listens after ``grace``."""
    from .proc import run_captured

    remaining = None if deadline is None else deadline.remaining()
    limit = STOP_COMMAND_TIMEOUT if remaining is None else max(0.5, min(STOP_COMMAND_TIMEOUT, remaining))
    shown = command_line(record.stop)
    try:
        result = run_captured(list(record.stop), timeout=limit, deadline=None, doing=f"running `{shown}`")
    except (OSError, ValueError) as exc:  # TimeoutError is an OSError
        raise StopCommandFailed(f"`{shown}` could not be run: {getattr(exc, 'strerror', None) or exc}") from None
    except Exception as exc:  # an LmprepError of run_captured (a deadline): said the same way
        raise StopCommandFailed(f"`{shown}` did not finish: {getattr(exc, 'message', exc)}") from None
    if result.returncode != 0:
        from .server_start import _last_lines

        said = _last_lines(result.stderr.decode("utf-8", "replace")) or \
            _last_lines(result.stdout.decode("utf-8", "replace")) or "no output"
        raise StopCommandFailed(f"`{shown}` ended with exit status {result.returncode}: {said}")
    from .server_start import listening, url_host

    host = url_host(record.base_url)
    wait = grace if remaining is None else max(0.1, min(grace, remaining))
    end = time.monotonic() + wait
    while True:
        if not listening(host, record.port, timeout=0.5):
            forget(record)
            return Stopped(True, False, round(time.monotonic() - begun, 3))
        if time.monotonic() >= end:
            raise StopCommandFailed(f"`{shown}` ran, and the server still listens on port {record.port} "
                                    f"{wait:.0f} s later")
        time.sleep(0.05)


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

"""Warm-up records and the background load: the state files, the detached child that loads
the model after lmprep has returned, and reading what the last load came to."""

import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from .config import ProviderSettings, Sourced
from .errors import LmprepError
from .providers.base import WARM_UP_READ_TIMEOUT

#: Outcomes after which the next run does not trust the model to be loading or loaded.
FAILED = ("error", "abandoned")
#: A record is a few hundred bytes; a bigger file is not one.
MAX_STATE_BYTES = 256 * 1024


class WarmUp(NamedTuple):
    """What happened to the warm-up in this run."""

    mode: str  # background | wait | off
    status: str  # started | ok | loaded | off | error, interrupted (a load was sent; it or a check after it failed)
    seconds: float | None = None
    state_file: str | None = None


class LoadJob(NamedTuple):
    """One load, as the foreground and the background child both run it."""

    model: str
    context_length: int | None = None  # load with this window (kinds that can set one)
    keep_alive: float | None = None  # seconds, FOREVER, or None: the server's default
    needed: int | None = None  # the window the model must have once loaded
    needed_source: str = ""
    agent: str | None = None  # --for: whose first request is checked once it is loaded


def state_dir() -> Path:
    from .dirs import state_dir as lmprep_state_dir

    return lmprep_state_dir() / "warmups"


def state_file_for(provider: str, base_url: str, model: str) -> Path:
    from .dirs import record_name  # only where a load is recorded: the loaded ready path never gets here

    return state_dir() / f"{record_name(provider, base_url, model)}.json"


def write_state(path: Path, record: dict) -> None:
    """Replace the state file in one step, so a reader never sees half of it."""
    from .files import replace
    from .redact import redact_data

    replace(path, json.dumps(redact_data(record)).encode("utf-8"))  # no token or URL password in any file


def read_state(path: Path) -> dict | None:
    """One recorded warm-up, or None (no file, or one that is not a record)."""
    from .files import read_regular

    try:
        record = json.loads(read_regular(path, MAX_STATE_BYTES))  # a FIFO there: skipped, not waited on
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def read_states() -> list[dict]:
    """Every recorded warm-up, newest first; unreadable files are skipped."""
    try:
        paths = list(state_dir().glob("*.json"))
    except OSError:
        return []
    records = [record for record in map(read_state, paths) if record is not None]
    return sorted(records, key=_started_at, reverse=True)


def outcome(record: dict) -> str:
    """The record's status, with "abandoned" for a load whose process died without saying."""
    status = str(record.get("status") or "unknown")
    return "abandoned" if status == "running" and not _alive(record.get("pid")) else status


def previous_failure(state_file: Path, model: str) -> dict | None:
    """The last load of ``model`` recorded here, if it failed (or its process died)."""
    record = read_state(state_file)
    if record is None or record.get("model") != model or outcome(record) not in FAILED:
        return None
    return record


def _alive(pid) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or sys.platform == "win32":
        return True  # cannot tell (and signal 0 means something else on Windows)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OverflowError:  # a pid no process can have (a corrupt record)
        return False
    except OSError:
        return True
    return True


def _started_at(record: dict) -> float:
    """When a recorded warm-up started; 0 for a file that does not say (or says nonsense)."""
    value = record.get("started_at")
    try:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0
    except OverflowError:  # an integer of hundreds of digits
        return 0.0


def _record(settings: ProviderSettings, job: LoadJob, mode: str, pid: int) -> dict:
    return {
        "provider": settings.name,
        "base_url": settings.base_url.value if settings.base_url else None,
        "model": job.model,
        "mode": mode,
        "status": "running",
        "requested_context": job.context_length,
        "context_length": None,
        "started_at": time.time(),
        "pid": pid,
    }


@contextlib.contextmanager
def recorded(state_file: Path, settings: ProviderSettings, job: LoadJob, mode: str) -> Iterator[dict]:
    """Record a load: "running" first, then its outcome (ok, or the error with its state and
    hint, and the seconds it took). The body sets ``record["context_length"]``."""
    record = _record(settings, job, mode, os.getpid())
    _write_quietly(state_file, record)
    started = time.monotonic()
    try:
        yield record
        record.update(status="ok", error=None)
    except LmprepError as exc:
        record.update(status="error", error=exc.message, error_state=exc.state, hint=exc.hint)
        raise
    except Exception as exc:  # the outcome must be recorded whatever went wrong
        record.update(status="error", error=f"{type(exc).__name__}: {exc}", error_state="internal_error")
        raise
    except BaseException:
        record.update(status="interrupted", error=None)
        raise
    finally:
        record.update(seconds=round(time.monotonic() - started, 3), finished_at=time.time())
        _write_quietly(state_file, record)


def _write_quietly(state_file: Path, record: dict) -> None:
    try:
        write_state(state_file, record)
    except OSError:
        pass  # a record that cannot be written must not stop the load itself


def load_in_background(settings: ProviderSettings, job: LoadJob, state_file: Path, timeouts: dict[str, float],
                       read_timeout: float = WARM_UP_READ_TIMEOUT, deadline=None) -> dict:
    """The body of the background load (child process or thread): load, verify, record;
    returns the record. ``timeouts``: Settings.http_timeouts(); ``read_timeout``: the load's
    own; ``deadline``: the most it may take (BACKGROUND_LIFETIME by default)."""
    from .deadline import Deadline
    from .loading import load_and_verify
    from .providers import open_provider

    record: dict = {"status": "error"}
    deadline = deadline or Deadline(BACKGROUND_LIFETIME)
    try:
        with recorded(state_file, settings, job, "background") as record, \
                open_provider(settings, **timeouts, deadline=deadline) as provider:
            state = load_and_verify(provider, job, read_timeout)
            record["context_length"], record["cpu_percent"] = state.context, state.cpu_percent
    except Exception:
        pass  # recorded: the next run reads it
    return record


def start_in_thread(settings: ProviderSettings, job: LoadJob, state_file: Path, timeouts: dict[str, float],
                    lock=None) -> threading.Thread:
    """For in-process library use: a daemon thread does what the detached child would,
    holding ``lock`` (the load lock) until it is done."""

    def run() -> None:
        try:
            load_in_background(settings, job, state_file, timeouts)
        finally:
            if lock is not None:
                lock.release()

    thread = threading.Thread(target=run, name="lmprep-warm-up", daemon=True)
    thread.start()
    return thread


#: The longest a background load process lives: its load, the checks around it, and a margin.
#: Past it the process records that it gave up and ends (a server that hangs or trickles
#: cannot keep it alive for ever).
BACKGROUND_LIFETIME = WARM_UP_READ_TIMEOUT + 120.0


class NotRecorded(Exception):
    """The warm-up state file cannot be written: a background load would be invisible to
    `lmprep status` and the next run, so it is not started."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def start_detached(settings: ProviderSettings, job: LoadJob, state_file: Path, timeouts: dict[str, float],
                   lock=None) -> int:
    """Start a child process that loads the model after we exit; returns its pid. The child
    inherits ``lock`` (the load lock) and holds it until it exits. Raises NotRecorded (and
    starts nothing that lives on) when its state file cannot be written.

    The child's settings reach it as spawn_child() passes them (the token not at all).
    """
    payload = {**provider_payload(settings), "state_file": str(state_file), "timeouts": timeouts, "job": job._asdict()}
    held = [lock.fd] if lock is not None and lock.fd is not None and sys.platform != "win32" else []
    pid = spawn_child("lmprep.warmup", payload, pass_fds=held)
    try:
        # Recorded before lmprep says "started": the child records its outcome over this.
        write_state(state_file, _record(settings, job, "background", pid))
    except OSError as exc:
        _kill(pid)
        if lock is not None:
            lock.release()
        raise NotRecorded(state_file, exc.strerror or str(exc)) from None
    if held:
        lock.hand_over()
    elif lock is not None:
        lock.release()
    return pid


def provider_payload(settings: ProviderSettings) -> dict:
    """What a detached child needs to open the provider again: never the token, which it reads
    from the same variable we did."""
    return {
        "name": settings.name,
        "kind": settings.kind,
        "base_url": settings.base_url.value if settings.base_url else None,
        "api_key_env": settings.api_key_env.value if settings.api_key_env else None,
        "lms_path": settings.lms_path.value if settings.lms_path else None,
    }


def provider_from_payload(payload: dict, model: str) -> ProviderSettings:
    api_key_env = payload.get("api_key_env")
    return ProviderSettings(
        name=payload["name"],
        kind=payload["kind"],
        base_url=Sourced(payload["base_url"], "parent"),
        model=Sourced(model, "parent"),
        api_key_env=Sourced(api_key_env, "parent") if api_key_env else None,
        lms_path=Sourced(payload["lms_path"], "parent") if payload.get("lms_path") else None,
        token=os.environ.get(api_key_env) if api_key_env else None,
    )


def spawn_child(module: str, payload: dict, pass_fds=(), orphan: bool = False) -> int:
    """Start ``module``'s main() in a detached child; returns its pid. The payload reaches it
    through its stdin (an unlinked file only this user can read), never its command line, which
    every local user can read."""
    import tempfile

    from .proc import spawn_detached

    # Run from the folder holding this very copy of lmprep, so the child imports it and
    # not whatever a `lmprep` folder in the caller's working directory holds.
    package_parent = str(Path(__file__).resolve().parent.parent)
    argv = [sys.executable, "-c", f"import sys; from {module} import main; sys.exit(main())"]
    with tempfile.TemporaryFile() as handover:  # mode 0600, and unlinked at once on POSIX
        handover.write(json.dumps(payload).encode())
        handover.flush()
        handover.seek(0)
        return spawn_detached(argv, cwd=package_parent, pass_fds=pass_fds, stdin=handover.fileno(), orphan=orphan)


def stop_background_load(pid) -> bool:
    """End the background load process ``pid`` (from its record); True when it was one and is
    told to end. Only a process whose command line is lmprep's load child is signalled, so a
    pid reused by another process is left alone (checked on Linux; elsewhere nothing is stopped)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if b"from lmprep.warmup import main" not in command:
        return False
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return False
    return True


def _kill(pid: int) -> None:
    import signal

    try:
        os.kill(pid, signal.SIGKILL if hasattr(signal, "SIGKILL") else signal.SIGTERM)
    except OSError:
        pass


def _give_up(signum, frame) -> None:
    from .errors import TimedOutError

    raise TimedOutError(f"The background load gave up after {BACKGROUND_LIFETIME:g} s.",
                        "The server may be stuck: restart it, or run lmprep with --warm-up wait to see it load.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached child started by start_detached(); its settings arrive
    on stdin (or as the one argument, for tests)."""
    import signal

    from .deadline import Deadline

    raw = (argv if argv is not None else sys.argv[1:]) or [sys.stdin.read()]
    payload = json.loads(raw[0])
    job = LoadJob(**payload["job"])
    settings = provider_from_payload(payload, job.model)
    if hasattr(signal, "SIGALRM"):
        # A hard end past the lifetime, in case a step does not obey the deadline below.
        signal.signal(signal.SIGALRM, _give_up)
        signal.alarm(int(BACKGROUND_LIFETIME + 30))
    record = load_in_background(settings, job, Path(payload["state_file"]), payload["timeouts"],
                                deadline=Deadline(BACKGROUND_LIFETIME))
    return 0 if record.get("status") == "ok" else 1


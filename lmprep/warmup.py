"""Warm-up outcomes: the state files, the detached child that loads the model, and reading them back."""

import hashlib
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

from .config import ProviderSettings, Sourced
from .errors import LmprepError
from .providers.base import WARM_UP_READ_TIMEOUT


class WarmUp(NamedTuple):
    """What happened to the warm-up in this run."""

    mode: str  # background | wait | off
    status: str  # started | ok | failed | off
    seconds: float | None = None
    state_file: str | None = None


def state_dir() -> Path:
    from platformdirs import user_state_path

    return user_state_path("lmprep") / "warmups"


def state_file_for(provider: str, base_url: str, model: str) -> Path:
    key = hashlib.sha256(f"{provider}\0{base_url}\0{model}".encode()).hexdigest()[:16]
    return state_dir() / f"{provider}-{key}.json"


def write_state(path: Path, record: dict) -> None:
    """Replace the state file in one step, so a reader never sees half of it."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".warmup-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def read_states() -> list[dict]:
    """Every recorded warm-up, newest first; unreadable files are skipped."""
    records = []
    try:
        paths = list(state_dir().glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(record, dict):
            records.append(record)
    return sorted(records, key=_started_at, reverse=True)


def _started_at(record: dict) -> float:
    """When a recorded warm-up started; 0 for a file that does not say (or says nonsense)."""
    value = record.get("started_at")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0.0


def warm_up_and_record(settings: ProviderSettings, model: str, state_file: Path, connect_timeout: float,
                       read_timeout: float = WARM_UP_READ_TIMEOUT, context_length: int | None = None) -> dict:
    """Load the model (with ``context_length`` tokens of context, if given), writing "running"
    first and the outcome (ok or the error, seconds) after."""
    from .providers import open_provider

    record = {
        "provider": settings.name,
        "base_url": settings.base_url.value if settings.base_url else None,
        "model": model,
        "status": "running",
        "context_length": context_length,
        "started_at": time.time(),
        "pid": os.getpid(),
    }
    write_state(state_file, record)
    started = time.monotonic()
    try:
        with open_provider(settings, connect_timeout=connect_timeout) as provider:
            provider.warm_up(model, read_timeout, context_length)
        record.update(status="ok", error=None)
    except LmprepError as exc:
        record.update(status="error", error=exc.message)
    except Exception as exc:  # the outcome must be recorded whatever went wrong
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
    record.update(seconds=round(time.monotonic() - started, 3), finished_at=time.time())
    write_state(state_file, record)
    return record


def start_in_thread(settings: ProviderSettings, model: str, state_file: Path, connect_timeout: float,
                    context_length: int | None = None) -> threading.Thread:
    """For in-process library use: a daemon thread does what the detached child would."""
    thread = threading.Thread(
        target=warm_up_and_record, args=(settings, model, state_file, connect_timeout),
        kwargs={"context_length": context_length}, name="lmprep-warm-up", daemon=True,
    )
    thread.start()
    return thread


def start_detached(settings: ProviderSettings, model: str, state_file: Path, connect_timeout: float,
                   context_length: int | None = None) -> int:
    """Start a child process that loads the model after we exit; returns its pid.

    The token is not passed: the child reads it from the same variable we did.
    """
    from .proc import spawn_detached

    job = {
        "name": settings.name,
        "kind": settings.kind,
        "base_url": settings.base_url.value if settings.base_url else None,
        "api_key_env": settings.api_key_env.value if settings.api_key_env else None,
        "model": model,
        "state_file": str(state_file),
        "connect_timeout": connect_timeout,
        "context_length": context_length,
        "lms_path": settings.lms_path.value if settings.lms_path else None,
    }
    # Run from the folder holding this very copy of lmprep, so the child imports it and
    # not whatever a `lmprep` folder in the caller's working directory holds.
    package_parent = str(Path(__file__).resolve().parent.parent)
    argv = [sys.executable, "-c", "import sys; from lmprep.warmup import main; sys.exit(main())", json.dumps(job)]
    return spawn_detached(argv, cwd=package_parent)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the detached child started by start_detached()."""
    job = json.loads((argv if argv is not None else sys.argv[1:])[0])
    api_key_env = job.get("api_key_env")
    settings = ProviderSettings(
        name=job["name"],
        kind=job["kind"],
        base_url=Sourced(job["base_url"], "parent"),
        model=Sourced(job["model"], "parent"),
        api_key_env=Sourced(api_key_env, "parent") if api_key_env else None,
        lms_path=Sourced(job["lms_path"], "parent") if job.get("lms_path") else None,
        token=os.environ.get(api_key_env) if api_key_env else None,
    )
    record = warm_up_and_record(settings, job["model"], Path(job["state_file"]), job["connect_timeout"],
                                context_length=job.get("context_length"))
    return 0 if record["status"] == "ok" else 1

"""Child processes: always argv lists (never a shell), always stopped on the way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .deadline import Deadline

OutputHandler = Callable[[bytes, str], None]
_TAIL_BYTES = 4096


@dataclass(frozen=True)
class ChildResult:
    returncode: int
    stdout_tail: str
    stderr_tail: str


def is_executable_file(path: Path) -> bool:
    """An executable regular file; a path the OS refuses (too long, NUL byte) is not one."""
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except (OSError, ValueError):
        return False


def run_streaming(
    argv: Sequence[str],
    *,
    on_output: OutputHandler,
    deadline: Deadline,
    doing: str,
    env: Mapping[str, str] | None = None,
) -> ChildResult:
    """Run ``argv`` with stdin closed, handing its output to ``on_output`` as it arrives.

    Raises OSError when it cannot be started. On Ctrl-C, the deadline or any other
    exception the child is stopped before the exception propagates.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
    )
    lock = threading.Lock()
    tails = {"stdout": deque[bytes](), "stderr": deque[bytes]()}

    def pump(pipe, name: str) -> None:
        tail = tails[name]
        size = 0
        with pipe:
            while chunk := os.read(pipe.fileno(), 65536):
                tail.append(chunk)
                size += len(chunk)
                while size - len(tail[0]) >= _TAIL_BYTES:
                    size -= len(tail.popleft())
                with lock:
                    on_output(chunk, name)

    readers = [
        threading.Thread(target=pump, args=(process.stdout, "stdout"), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, "stderr"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        while True:
            try:
                process.wait(timeout=deadline.cap(0.2, doing))
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        stop(process)
        raise
    finally:
        for reader in readers:
            reader.join(timeout=2)

    def text(name: str) -> str:
        return b"".join(tails[name])[-_TAIL_BYTES:].decode("utf-8", "replace")

    return ChildResult(process.returncode, text("stdout"), text("stderr"))


def run_captured(argv: Sequence[str], *, timeout: float) -> subprocess.CompletedProcess:
    """Run ``argv`` to completion with stdin closed and its output captured.

    Raises OSError when it cannot be started, TimeoutError when it outlives ``timeout``
    (it is killed first).
    """
    try:
        return subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{argv[0]} did not finish within {timeout:g} s") from None


def stop(process: subprocess.Popen, grace: float = 3.0) -> None:
    """Ask a child to stop like Ctrl-C would, then insist."""
    if process.poll() is not None:
        return
    steps = [signal.SIGTERM, None] if sys.platform == "win32" else [signal.SIGINT, signal.SIGTERM, None]
    for sig in steps:
        try:
            if sig is None:
                process.kill()
            else:
                process.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def spawn_detached(argv: Sequence[str], *, cwd: str | None = None, pass_fds: Sequence[int] = ()) -> int:
    """Start ``argv`` so that it outlives us and holds none of our stdio (only ``pass_fds``
    of our descriptors); returns its pid."""
    options: dict = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        cwd=cwd,
        **options,
    )
    # Reap it when it ends so a long-lived caller keeps no zombie; the thread does not
    # keep a CLI alive, and the child is re-parented when we exit first.
    threading.Thread(target=process.wait, name="lmprep-reaper", daemon=True).start()
    return process.pid

"""Child processes: always argv lists (never a shell), always stopped on the way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
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
    timeout: float | None = None,
    cwd: str | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> ChildResult:
    """Run ``argv`` with stdin closed (in ``cwd``), handing its output to ``on_output`` as it arrives.

    Raises OSError when it cannot be started (never for the deadline: that is the
    TimedOutError of ``deadline``), TimeoutError (not an LmprepError) when it outlives
    ``timeout``. On Ctrl-C, SIGTERM, the deadline or any other exception the child and its
    process group are stopped before the exception propagates. ``on_start`` is handed the
    child once it runs: a caller whose thread this is not (`lmprep doctor`'s Ctrl-C in the main
    thread) can stop it too.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
        cwd=cwd,
        # Its own process group: lmprep decides when it stops, and stops all of it
        # (`lms` runs node, which may have children of its own).
        **({} if sys.platform == "win32" else {"start_new_session": True}),
    )
    if on_start is not None:
        try:
            on_start(process)
        except BaseException:
            stop(process, deadline=deadline)
            raise
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
    limit = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            wait = deadline.cap(0.2, doing)
            if limit is not None and time.monotonic() >= limit:
                from .termtext import seconds_text

                raise TimeoutError(f"{argv[0]} did not finish within {seconds_text(timeout)} s")
            try:
                process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        stop(process, deadline=deadline)
        raise
    finally:
        # What is left of its group (a grandchild holding our pipes open) goes with it: the
        # readers end when the pipes close, within what the deadline leaves.
        _end_group(process, deadline)
        for reader in readers:
            reader.join(timeout=_grace(LEFTOVER_GRACE, deadline))

    def text(name: str) -> str:
        return b"".join(tails[name])[-_TAIL_BYTES:].decode("utf-8", "replace")

    return ChildResult(process.returncode, text("stdout"), text("stderr"))


@dataclass(frozen=True)
class Captured:
    returncode: int
    stdout: bytes  # at most MAX_CAPTURE bytes
    stderr: bytes  # its last few kB


#: The most of a child's stdout that run_captured keeps (`lms ps --json` is a few kB).
MAX_CAPTURE = 8 * 1024 * 1024


def run_captured(argv: Sequence[str], *, timeout: float, deadline: Deadline | None = None,
                 doing: str = "") -> Captured:
    """Run ``argv`` to completion with stdin closed and its output captured (stdout up to
    MAX_CAPTURE bytes, then the child is stopped: ValueError).

    Raises OSError when it cannot be started, TimeoutError when it outlives ``timeout``,
    ``deadline``'s TimedOutError past the deadline; the child is stopped first.
    """
    out: list[bytes] = []
    size = 0

    def collect(data: bytes, stream: str) -> None:
        nonlocal size
        if stream == "stdout":
            size += len(data)
            if size <= MAX_CAPTURE:
                out.append(data)

    result = run_streaming(argv, on_output=collect, deadline=deadline or Deadline(None),
                           doing=doing or f"running {argv[0]}", timeout=timeout)
    if size > MAX_CAPTURE:
        raise ValueError(f"{argv[0]} wrote more than {MAX_CAPTURE} bytes")
    return Captured(result.returncode, b"".join(out), result.stderr_tail.encode())


#: How long a child gets to stop at each step (SIGINT, SIGTERM) before the next, harder one;
#: cut to what the deadline leaves (never below MIN_GRACE).
STOP_GRACE = 3.0
#: How long what is left of a finished child's group gets to go after SIGTERM.
LEFTOVER_GRACE = 0.5
MIN_GRACE = 0.1


def _grace(grace: float, deadline: Deadline | None) -> float:
    remaining = None if deadline is None else deadline.remaining()
    return grace if remaining is None else max(MIN_GRACE, min(grace, remaining))


def _end_group(process: subprocess.Popen, deadline: Deadline | None) -> None:
    """Stop what is left of a finished child's process group: SIGTERM, then SIGKILL."""
    if sys.platform == "win32" or process.poll() is None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except OSError:  # no such group left (or none of ours): nothing to stop
            return
        end = time.monotonic() + _grace(LEFTOVER_GRACE, deadline)
        while time.monotonic() < end:
            try:
                os.killpg(process.pid, 0)
            except OSError:
                return
            time.sleep(0.02)


def stop(process: subprocess.Popen, grace: float = STOP_GRACE, deadline: Deadline | None = None) -> None:
    """Ask a child (and its process group) to stop like Ctrl-C would, then insist; each step
    waits ``grace``, cut to what ``deadline`` leaves. Another Ctrl-C or SIGTERM meanwhile
    hurries it to the next step; it never leaves the child running."""
    if process.poll() is not None:
        _signal_group(process, signal.SIGKILL if sys.platform != "win32" else None)  # leftovers of its group
        return
    steps = [signal.SIGTERM, None] if sys.platform == "win32" else [signal.SIGINT, signal.SIGTERM, None]
    for sig in steps:
        try:
            if sig is None:
                if sys.platform != "win32":
                    _signal_group(process, signal.SIGKILL)
                process.kill()
            elif sys.platform == "win32":
                process.send_signal(sig)
            else:
                _signal_group(process, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=_grace(grace, deadline))
            return
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:  # the user insists: go straight to the next, harder step
            continue
    while True:
        try:
            process.wait()
            return
        except KeyboardInterrupt:
            continue


def _signal_group(process: subprocess.Popen, sig) -> None:
    """Send ``sig`` to the child's process group (it leads one: start_new_session)."""
    if sig is None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        if process.poll() is None:
            raise
    except PermissionError:
        process.send_signal(sig)


#: Starts its arguments and ends at once: what it starts is then nobody's child but init's.
_GO_BETWEEN = "import os, sys; os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)"


def spawn_detached(argv: Sequence[str], *, cwd: str | None = None, pass_fds: Sequence[int] = (),
                   stdin: int | None = None, orphan: bool = False) -> int:
    """Start ``argv`` so that it outlives us and holds none of our stdio (only ``pass_fds``
    of our descriptors, and ``stdin`` where given: a file it reads its input from); returns its pid.
    ``orphan`` (POSIX): start it through a go-between that ends at once (and is waited for), so
    that it is not our child, nor the child of a program we exec into; then no pid is returned (0)."""
    if orphan and sys.platform != "win32":
        # -I -S: no site, no user packages, no PYTHON* variables: a start-up of a few milliseconds.
        go_between = [sys.executable, "-I", "-S", "-c", _GO_BETWEEN, *argv]
        process = subprocess.Popen(go_between, stdin=subprocess.DEVNULL if stdin is None else stdin,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
                                   pass_fds=tuple(pass_fds), cwd=cwd, start_new_session=True)
        if process.wait(timeout=30) != 0:
            raise OSError(f"could not start {argv[0]} (exit status {process.returncode})")
        return 0
    process = detached_process(argv, cwd=cwd, pass_fds=pass_fds, stdin=stdin)
    reap(process)
    return process.pid


def detached_process(argv: Sequence[str], *, cwd: str | None = None, pass_fds: Sequence[int] = (),
                     stdin: int | None = None, output: int | None = None,
                     env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """spawn_detached's child, as a Popen its caller watches (a server lmprep waits for: its
    exit status says why it ended): in a session of its own (its process group is stopped as
    one), stdin closed (or ``stdin``), stdout and stderr to ``output`` (a descriptor, its log)
    or nowhere, none of our other descriptors. The caller reaps it (reap())."""
    options: dict = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.DETACHED_PROCESS | subprocess.CREATE_NEW_PROCESS_GROUP
    else:
        options["start_new_session"] = True
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL if stdin is None else stdin,
        stdout=subprocess.DEVNULL if output is None else output,
        stderr=subprocess.DEVNULL if output is None else output,
        close_fds=True,
        pass_fds=tuple(pass_fds),
        cwd=cwd,
        env=None if env is None else dict(env),
        **options,
    )


def reap(process: subprocess.Popen) -> None:
    """Reap ``process`` when it ends so a long-lived caller keeps no zombie; the thread does
    not keep a CLI alive, and the child is re-parented when we exit first."""
    threading.Thread(target=process.wait, name="lmprep-reaper", daemon=True).start()

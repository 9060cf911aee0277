"""One download, and one load, at a time per (provider, base URL, model), across processes.

An advisory lock on a file in the platform cache directory: the OS drops it when its
holder exits, however it exits, so a crashed lmprep never blocks the next one. A load lock
can be handed to the detached warm-up child, which then holds it until it has finished.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .deadline import Deadline

POLL_INTERVAL = 0.2


def lock_path(provider: str, base_url: str, model: str, purpose: str = "download") -> Path:
    from .dirs import cache_dir

    key = hashlib.sha256(f"{provider}\0{base_url}\0{model}".encode()).hexdigest()[:16]
    return cache_dir() / "locks" / f"{purpose}-{key}.lock"


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.unavailable: str | None = None  # why no lock file could be made (then: no lock)

    def acquire(self, deadline: Deadline, doing: str, on_wait: Callable[[], None]) -> bool:
        """Take the lock, calling ``on_wait`` once if another process holds it; returns
        whether it had to wait.

        Polls instead of blocking so that Ctrl-C and the deadline still work while waiting.
        """
        told = False
        while not self.try_acquire():
            if not told:
                on_wait()
                told = True
            time.sleep(deadline.cap(POLL_INTERVAL, doing))
        return told

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits. Where the lock file cannot be made (a
        read-only cache folder, a full disk), lmprep goes on without it: it only keeps two
        lmpreps from doing the same work at once, and ``unavailable`` says why it could not."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NONBLOCK", 0), 0o644)
        except (OSError, ValueError) as exc:
            self.unavailable = getattr(exc, "strerror", None) or str(exc)
            return True
        if not _try_lock(fd):
            os.close(fd)
            return False
        self._fd = fd
        return True

    @property
    def fd(self) -> int | None:
        return self._fd

    def hand_over(self) -> None:
        """Close our descriptor without unlocking: a child that inherited it holds the lock
        until it exits (flock belongs to the open file, which the child shares)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def release(self) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class SharedUse:
    """A file many processes hold at once (POSIX): each `lmprep exec` session on one model holds
    it while its PROGRAM runs, and learns whether others do too. Dropped by the OS on exit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def join(self) -> bool:
        """Hold it; returns whether others held it already (False where no file can be made)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except (OSError, ValueError):
            return False
        alone = _try_lock(self._fd)
        fcntl.flock(self._fd, fcntl.LOCK_SH)  # from exclusive to shared, or wait for one that is leaving
        return not alone

    def leave(self) -> bool:
        """Whether this is the last holder (it then holds the file alone until close())."""
        return self._fd is None or _try_lock(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

"""Reading and writing lmprep's own files safely: regular files only (a FIFO or a device
never hangs or floods a read), bounded reads, and writes that keep the original until the
new file is complete (temporary file, fsync, rename; backups numbered, never overwritten)."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


class NotARegularFile(OSError):
    def __init__(self, path: Path, what: str) -> None:
        super().__init__(errno.EINVAL, f"it is not a regular file but {what}", str(path))
        self.what = what


def _kind(mode: int) -> str:
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode)
            else "a symbolic link" if stat.S_ISLNK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket or other special file")


def check_regular_or_absent(path: Path) -> None:
    """NotARegularFile when something other than a regular file is at ``path`` (a FIFO, a
    device, a folder, a symbolic link, even to a regular file): a file lmprep replaces is
    renamed away, which must never happen to /dev/null or to whatever a link points at."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISREG(mode):
        raise NotARegularFile(path, _kind(mode))


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (OSError for anything else, or past ``limit``
    bytes). Opened without blocking, so a FIFO is refused instead of waited on."""
    fd = _open_regular(path)
    try:
        parts, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            parts.append(chunk)
            size += len(chunk)
            if size > limit:
                raise OSError(errno.EFBIG, f"it is larger than {limit // 1024} KiB", str(path))
        return b"".join(parts)
    finally:
        os.close(fd)


def _open_regular(path: Path) -> int:
    """A descriptor of the regular file ``path``, opened without blocking (a FIFO is refused,
    not waited on); NotARegularFile for anything else."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotARegularFile(path, _kind(mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_regular(path: Path):
    """The regular file ``path`` open for reading in binary (OSError for anything else), for
    reads that stop early (a file's header); read_regular reads a small file whole."""
    return os.fdopen(_open_regular(path), "rb")


def _write_temporary(path: Path, data: bytes, sync: bool = True) -> str:
    """``data`` in a new temporary file next to ``path``, flushed to disk (unless not ``sync``); its name."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:  # a file where the folder should be: not "the file exists"
        raise NotADirectoryError(errno.ENOTDIR, "a file is in the way of its folder", str(path.parent)) from None
    import tempfile  # only to write: reading the config file is on every run's path

    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
    except BaseException:
        _unlink(temporary)
        raise
    return temporary


def write_new(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data`` in one step: FileExistsError if it exists (even in a
    race); on a full disk nothing is left behind, not even an empty file."""
    temporary = _write_temporary(path, data)
    try:
        os.link(temporary, path)  # fails if path exists: never clobbers
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links
        with open(path, "xb") as handle:
            handle.write(data)
    finally:
        _unlink(temporary)


def replace(path: Path, data: bytes, *, sync: bool = True) -> None:
    """Replace (or create) ``path`` with ``data`` in one step: a reader sees the old file or the
    new one, never half of one; on a full disk nothing is left behind, not even an empty file.
    ``sync`` False: not flushed to disk first (a file that is worth nothing after the machine
    stops, such as the record of a running process: it saves a disk flush, 3-30 ms)."""
    temporary = _write_temporary(path, data, sync)
    try:
        os.replace(temporary, path)
    except BaseException:
        _unlink(temporary)
        raise


def replace_keeping_backup(path: Path, data: bytes) -> Path | None:
    """Replace ``path`` with ``data``; the old file, if any, is kept as the first free one of
    FILE.bak, FILE.bak.1, ... (never overwritten). Returns the backup. Until the new file is
    complete on disk, ``path`` is the original."""
    temporary = _write_temporary(path, data)
    try:
        backup = _backup(path) if path.exists() else None
        os.replace(temporary, path)
    except BaseException:
        _unlink(temporary)
        raise
    return backup


def _backup(path: Path) -> Path:
    for number in range(10_000):
        candidate = path.with_name(path.name + ".bak" + (f".{number}" if number else ""))
        try:
            os.link(path, candidate)
            return candidate
        except FileExistsError:
            continue
        except OSError:  # no hard links here: a copy, written as new
            try:
                write_new(candidate, read_regular(path, 64 << 20))
                return candidate
            except FileExistsError:
                continue
    raise OSError(errno.EEXIST, "there are 10000 backups already", str(path))


def _unlink(name: str) -> None:
    try:
        os.unlink(name)
    except OSError:
        pass

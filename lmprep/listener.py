"""Which process listens on a TCP port of this machine.

`lms server start` hands LM Studio's server to LM Studio's service and exits: the process lmprep
spawned is gone while the server serves, so the record of that start names the process that
listens on the port instead. Linux: the socket's inode from /proc/net/tcp and /proc/net/tcp6 (a
row in state 0A, LISTEN, whose local port is the port), then the process whose /proc/PID/fd has a
link to ``socket:[INODE]``; only this user's processes can be read, which is all lmprep may stop.
Elsewhere: `lsof -nP -iTCP:PORT -sTCP:LISTEN -Fp` (one ``pPID`` line per process) where lsof is
installed; else nothing is known. Every look is bounded: the /proc walk in processes, links and
time, lsof in time and output.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

#: TCP state LISTEN in /proc/net/tcp (include/net/tcp_states.h: TCP_LISTEN = 10).
_LISTEN = "0A"
#: The most the /proc walk looks at: processes, fd links, seconds (a busy desktop has ~500
#: processes and ~30,000 open files; a look there takes ~30 ms).
MAX_PROCESSES = 20_000
MAX_LINKS = 500_000
MAX_SECONDS = 2.0
#: lsof's bounds.
LSOF_TIMEOUT = 5.0
MAX_TABLE_BYTES = 4 * 1024 * 1024


def _listening_inodes(port: int) -> set[str] | None:
    """The inodes of the sockets that listen on ``port`` (any address), None where /proc/net
    cannot be read (not Linux, or a /proc that hides it)."""
    inodes: set[str] = set()
    read_any = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, "rb") as handle:
                text = handle.read(MAX_TABLE_BYTES).decode("ascii", "replace")
        except OSError:
            continue
        read_any = True
        for line in text.splitlines()[1:]:
            # sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
            fields = line.split()
            if len(fields) < 10 or fields[3] != _LISTEN:
                continue
            _, _, hex_port = fields[1].rpartition(":")
            try:
                if int(hex_port, 16) == port and fields[9] != "0":
                    inodes.add(fields[9])
            except ValueError:
                continue
    return inodes if read_any else None


def _pids_holding(inodes: set[str], pids) -> set[int]:
    """Which of ``pids`` hold a socket of ``inodes``, within the bounds."""
    targets = {f"socket:[{inode}]" for inode in inodes}
    found: set[int] = set()
    links = 0
    end = time.monotonic() + MAX_SECONDS
    for count, pid in enumerate(pids):
        if count >= MAX_PROCESSES or links >= MAX_LINKS or time.monotonic() > end:
            break
        folder = f"/proc/{pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError:  # another user's process, or one that has ended
            continue
        for name in names:
            links += 1
            try:
                if os.readlink(f"{folder}/{name}") in targets:
                    found.add(pid)
                    break
            except OSError:
                continue
    return found


def _proc_pids() -> list[int]:
    try:
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return []


def _lsof_pids(port: int) -> set[int] | None:
    """The pids lsof says listen on ``port``; None without lsof (or when it fails)."""
    lsof = shutil.which("lsof")
    if lsof is None:
        return None
    from .proc import run_captured

    try:
        result = run_captured([lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fp"], timeout=LSOF_TIMEOUT)
    except (OSError, TimeoutError, ValueError):
        return None
    if result.returncode not in (0, 1):  # 1: nothing matched
        return None
    pids = set()
    for line in result.stdout[:MAX_TABLE_BYTES].decode("ascii", "replace").splitlines():
        if line.startswith("p") and line[1:].isdigit():
            pids.add(int(line[1:]))
    return pids


def listening_pids(port: int) -> set[int] | None:
    """The processes (of this user, on Linux) that listen on TCP ``port``; None where this
    machine does not say (no /proc/net and no lsof)."""
    if sys.platform.startswith("linux"):
        inodes = _listening_inodes(port)
        if inodes is not None:
            return _pids_holding(inodes, sorted(_proc_pids(), reverse=True)) if inodes else set()
    return _lsof_pids(port)


def listener_of(port: int) -> int | None:
    """The one process that listens on ``port``; None when none does, several do, or this
    machine does not say."""
    pids = listening_pids(port)
    return next(iter(pids)) if pids is not None and len(pids) == 1 else None


def listens(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` listens on ``port``; None where this machine does not say. On
    Linux only that process's links are read (cheap enough for every `lmprep status`)."""
    if sys.platform.startswith("linux"):
        inodes = _listening_inodes(port)
        if inodes is not None:
            return bool(inodes) and bool(_pids_holding(inodes, [pid]))
    pids = _lsof_pids(port)
    return None if pids is None else pid in pids

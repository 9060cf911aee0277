"""lmprep on a real pseudo-terminal, and a screen model to read what it drew.

run_on_terminal gives the bytes a terminal of a given width received; screen_rows replays them the
way an xterm does (auto-wrap at the last column, ``\\r`` to the row's start, ``ESC [ 2K`` erases
the row) and gives every row that scrolled by; unclean lists what no terminal should receive from
lmprep: anything but printable text, ``\\r``, ``\\n``, colour (SGR) and lmprep's own erase-line.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import termios
import time
import unicodedata

#: What lmprep itself writes to a terminal besides text, ``\r`` and ``\n``: colour (SGR) and the
#: erase-line (EL) of its redrawn status line.
ALLOWED_SEQUENCE = re.compile(r"\x1b\[[0-9;]*m|\x1b\[2?K")


def run_on_terminal(argv: list[str], env: dict, *, columns: int = 80, rows: int = 24,
                    timeout: float = 60, preexec_fn=None) -> tuple[int, bytes]:
    """(exit code, every byte written to the terminal) of ``argv`` with stdin, stdout and stderr
    on a new pseudo-terminal of ``columns`` x ``rows``."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    try:
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                                   preexec_fn=preexec_fn)
    finally:
        os.close(slave)
    received = bytearray()
    limit = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer of the terminal is gone
                    break
                if not data:
                    break
                received += data
            elif process.poll() is not None and not _readable(master):
                break
            if time.monotonic() > limit:
                process.kill()
                raise AssertionError(f"{argv} still running after {timeout} s; it wrote {bytes(received[-2000:])!r}")
        return process.wait(timeout=timeout), bytes(received)
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0.05)[0])


def char_columns(ch: str) -> int:
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def unclean(raw: bytes) -> list[str]:
    """Every escape sequence and control character in ``raw`` that lmprep may not send a terminal."""
    text = ALLOWED_SEQUENCE.sub("", raw.decode("utf-8", "replace"))
    return [repr(ch) for ch in text if (not ch.isprintable() and ch not in "\r\n") or ch == "\x1b"]


def screen_rows(raw: bytes, columns: int | None) -> list[str]:
    """Every row the terminal showed, scrolled-off ones included, in order (``columns`` None: a
    terminal wide enough for anything). Sequences other than SGR and EL are dropped unread."""
    text = ALLOWED_SEQUENCE.sub(lambda match: "\x00" if match.group().endswith("K") else "",
                                raw.decode("utf-8", "replace"))
    rows: list[list[str]] = [[]]
    column = 0
    pending_wrap = False  # xterm: a character in the last column leaves the cursor there
    for ch in text:
        row = rows[-1]
        if ch == "\n":
            rows.append([])
            column, pending_wrap = 0, False  # (the pty's ONLCR makes every "\n" a "\r\n")
        elif ch == "\r":
            column, pending_wrap = 0, False
        elif ch == "\x00":  # EL: the whole row
            row.clear()
            pending_wrap = False
        elif ch.isprintable():
            width = char_columns(ch)
            if columns is not None and (pending_wrap or column + width > columns):
                rows.append([])
                row, column, pending_wrap = rows[-1], 0, False
            while len(row) < column:
                row.append(" ")
            row[column:column + width] = [ch] + [""] * (width - 1)
            column += width
            if columns is not None and column >= columns:
                column, pending_wrap = columns - 1, True
    return ["".join(row).rstrip() for row in rows]


def rows_needed(raw: bytes, columns: int) -> int:
    """How many rows ``raw`` needs at ``columns`` if no redraw leaves a row behind: each line as
    it ends up (after its redraws) takes the rows of its own width."""
    return sum(max(1, -(-sum(char_columns(ch) for ch in row) // columns)) for row in screen_rows(raw, None))

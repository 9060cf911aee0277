"""`lmprep exec`: replace this process with the program (no wrapper left behind)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence

#: What a POSIX shell returns for these two failures, and so what `lmprep exec` returns.
NOT_FOUND = 127
CANNOT_EXECUTE = 126


def replace_process(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    """Run ``argv`` (looked up on env's PATH) in place of this process.

    On POSIX this only returns when the program could not be started: then it returns the
    exit status to use (127 not found, 126 not executable) and a message. On Windows, which
    cannot replace a process, the program runs as a child and its status is returned.
    """
    argv = list(argv)
    program = argv[0]
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import subprocess

        try:
            return subprocess.call(argv, env=dict(env)), ""
        except FileNotFoundError:
            return NOT_FOUND, f"{program}: command not found"
        except OSError as exc:
            return CANNOT_EXECUTE, f"{program}: cannot run it: {exc.strerror or exc}"
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    try:
        os.execvpe(program, argv, dict(env))
    except (ValueError, UnicodeError) as exc:  # a NUL byte or a lone surrogate in an argument or a value
        return CANNOT_EXECUTE, f"{program}: cannot run it: an argument or variable cannot be passed on ({exc})"
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR) or isinstance(exc, FileNotFoundError):
            where = "no such file" if os.sep in program else "command not found"
            return NOT_FOUND, f"{program}: {where}"
        return CANNOT_EXECUTE, f"{program}: cannot run it: {exc.strerror or exc}"
    raise AssertionError("os.execvpe returned")  # pragma: no cover

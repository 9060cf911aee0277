"""`lmprep exec`: replace this process with the program (no wrapper left behind)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Mapping, Sequence

#: What a POSIX shell returns for these two failures, and so what `lmprep exec` returns.
NOT_FOUND = 127
CANNOT_EXECUTE = 126


def cannot_run(program: str, env: Mapping[str, str]) -> tuple[int, str] | None:
    """Why ``program`` could not be started with ``env``'s PATH, as (status, message) the way
    replace_process would return them, or None when it can be: asked first, so that a typo costs
    no download and no load. The same lookup as execvp: a name with a separator is a path, else
    the first executable file of that name on PATH; one found only without the execute bit is 126."""
    if not program:
        return NOT_FOUND, "'': command not found"
    if "\0" in program:
        return CANNOT_EXECUTE, f"{program!r}: cannot run it: a NUL byte in its name"
    has_separator = os.sep in program or (os.altsep is not None and os.altsep in program)
    candidates = [program] if has_separator else [os.path.join(folder or os.curdir, program)
                                                  for folder in os.get_exec_path(dict(env))]
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import shutil

        found = shutil.which(program, path=os.pathsep.join(os.get_exec_path(dict(env))))
        return None if found else (NOT_FOUND, f"{program}: command not found")
    denied = None
    for candidate in candidates:
        try:
            if os.path.isdir(candidate):
                denied = denied or "it is a folder"
                continue
            if not os.path.exists(candidate):
                continue
        except (OSError, ValueError):
            continue
        if os.access(candidate, os.X_OK):
            return None
        denied = denied or "Permission denied"
    if denied:
        return CANNOT_EXECUTE, f"{program}: cannot run it: {denied}"
    return NOT_FOUND, f"{program}: {'no such file' if has_separator else 'command not found'}"


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

"""The lmprep process: signals, guarded stdout/stderr, and click's outcome as an exit status."""

from __future__ import annotations

import os
import sys

try:
    # The C module under `signal`: the same calls and numbers, without building signal's enums
    # (~0.6 ms of every start-up).
    import _signal as signal
except ImportError:  # an interpreter without it
    import signal  # type: ignore[no-redef]

import click

from ..errors import ExitCode, LmprepError
from ..pipeline import Readiness
from ._group import cli
from .options import config_file
from .render import config_error_dict, echo_json, json_result

class UsageError(LmprepError):
    """A command line lmprep cannot parse (a bad option or value): exit 2, as click's own. Only
    for --json's object: the API never raises it."""

    state = "usage_error"
    exit_code = ExitCode.USAGE


def usage_error_json(exc: click.ClickException, args: list[str]) -> None:
    """--json promises one JSON object on stdout, also for a usage error (exit 2): printed
    when the command that failed takes --json (ensure, status, config show, doctor) and it was given."""
    if not isinstance(exc, click.UsageError):
        return
    given = args[: args.index("--")] if "--" in args else args
    if "--json" not in given:
        return
    context = exc.ctx
    name = context.command.name if context is not None else "ensure"
    if context is not None and context.parent is None:  # the group: `lmprep` alone is `lmprep ensure`
        name = "ensure"
    error = UsageError(exc.format_message(), _usage_hint(context))
    if name == "ensure":
        echo_json(json_result(Readiness(state=error.state), error, {}))
    elif name == "status":
        from ..status_report import StatusReport

        echo_json(StatusReport([], None, None, str(config_file(None).value), False, error=error).to_dict())
    elif name == "show":
        echo_json(config_error_dict(error))
    elif name == "doctor":
        from ..doctor import DoctorReport

        echo_json(DoctorReport([], [], [], [], None, "--load" in given, None, str(config_file(None).value),
                               error=error).to_dict())


def _usage_hint(context: click.Context | None) -> str:
    path = context.command_path if context is not None else "lmprep"
    return f"Run `{path} --help` for the options and their values."


_stopping = False


def _on_signal(signum, frame) -> None:
    """The first SIGINT or SIGTERM raises (KeyboardInterrupt or Terminated), which stops any
    child and ends the run with its exit code and, with --json, its JSON object; later ones
    are ignored, so that this clean-up (bounded: a child gets a few seconds) runs to its end
    instead of ending in a traceback."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    for name in ("SIGINT", "SIGTERM"):
        # Ignored from now on by the OS itself: also while the interpreter shuts down, which
        # restores the default action of the signals it handles.
        try:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        except (AttributeError, OSError, ValueError):
            pass
    from ..errors import Terminated

    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install_signal_handlers() -> None:
    for name in ("SIGINT", "SIGTERM"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                signal.signal(signum, _on_signal)
            except (OSError, ValueError):  # not the main thread, or a signal this platform lacks
                pass


class _Output:
    """sys.stdout or sys.stderr as lmprep writes to them. A character the encoding lacks is
    replaced (a model id such as `通义-coder` on a latin-1 stdout, a lone surrogate), and a write
    that fails (a closed pipe, a full disk, /dev/full) ends that stream's output, not the run:
    the run still ends with its own exit code (see _say_lost_output)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.failure: OSError | None = None
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper, or closed
            pass

    def write(self, text):
        if self.failure is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        self.failure = exc
        # What is still buffered would fail again as the interpreter exits (a traceback and
        # exit 120): from now on the descriptor leads nowhere.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _guard_outputs() -> tuple[_Output | None, _Output | None]:
    guarded = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, _Output):
            guarded.append(None)
            continue
        output = _Output(stream)
        setattr(sys, name, output)
        guarded.append(output)
    return guarded[0], guarded[1]


def _say_lost_output(stdout: _Output | None, stderr: _Output | None) -> None:
    """After the run: a closed stdout pipe (`lmprep status | head -1`) ends quietly; any other
    failure to write stdout (a full disk) is said on stderr, where that can still be written."""
    import errno

    for output in (stdout, stderr):
        if output is not None:
            output.flush()
    failure = stdout.failure if stdout is not None else None
    if failure is not None and failure.errno != errno.EPIPE and stderr is not None:
        stderr.write(f"lmprep: could not write the output: {failure.strerror or failure}.\n")
        stderr.flush()


def main() -> None:
    # httpcore imports trio and anyio when they are installed, only for async use: ~40 ms
    # and ~1.5 ms of start-up that this synchronous command never uses. Library callers keep
    # both; only the lmprep process itself goes without.
    for async_only in ("trio", "anyio"):
        sys.modules.setdefault(async_only, None)  # type: ignore[arg-type]
    install_signal_handlers()
    originals = sys.stdout, sys.stderr
    stdout, stderr = _guard_outputs()
    try:
        _main()
    finally:
        _say_lost_output(stdout, stderr)
        sys.stdout, sys.stderr = originals  # (for callers of main() in the same process, such as tests)


def _main() -> None:
    from ..errors import Terminated

    try:
        result = cli.main(prog_name="lmprep", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        usage_error_json(exc, sys.argv[1:])
        if getattr(exc, "ctx", None) is not None and exc.ctx.command.name == "env":
            from .env import usage_error_env

            usage_error_env(exc, sys.argv[1:])
        raise SystemExit(exc.exit_code) from None
    except (click.Abort, KeyboardInterrupt) as exc:
        # Outside a command's own handling (click's parsing, the config commands): click
        # would say "Aborted!" and exit 1.
        interrupt = exc.__cause__ if isinstance(exc, click.Abort) else exc
        raise SystemExit(int(ExitCode.TERMINATED if isinstance(interrupt, Terminated)
                             else ExitCode.INTERRUPTED)) from None
    raise SystemExit(result if isinstance(result, int) else 0)

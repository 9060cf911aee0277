"""`lmprep ensure`, the default command: run the pipeline with progress, then the ready line."""

from __future__ import annotations

import sys

from ..config import Settings, resolve_settings
from ..errors import LmprepError
from ..events import Notice
from ..pipeline import Readiness, run_ensure
from ..progress import make_reporter
from ..termtext import printable
from ._group import EnsureCommand, cli
from .options import ensure_options, flags
from .render import as_error, echo, echo_json, first_turn_warnings, json_result, print_error, success_line

@cli.command(cls=EnsureCommand, context_settings={"allow_extra_args": True})
@ensure_options
def ensure(**options) -> None:
    """Make the provider ready (the default command)."""
    readiness, error, _ = run_with_progress(options)
    finish(options, readiness, error)


def run_with_progress(options: dict, hand_off: bool = False,
            program_found: bool = False) -> tuple[Readiness, LmprepError | None, Settings | None]:
    """Run the pipeline with progress on stderr; never raises. ``hand_off``: an agent is told
    the window next (env, exec); ``program_found``: the program that runs next was found
    already (exec), else the agent's own command is looked up first."""
    quiet = options.get("quiet") or options.get("as_json")
    reporter = make_reporter(sys.stderr, quiet=quiet)
    readiness = Readiness()
    error: LmprepError | None = None
    settings: Settings | None = None
    try:
        settings = resolve_settings(flags(options))
        for warning in settings.warnings:
            reporter(Notice(warning))
        if settings.agent is not None and not program_found:
            note_a_missing_agent(settings.agent.value, reporter)
        readiness.warm_up = None
        run_ensure(settings, report=reporter, readiness=readiness, hand_off=hand_off)
    except (KeyboardInterrupt, Exception) as exc:
        error = as_error(exc, "Run lmprep again to continue; a partial download resumes.")
    finally:
        reporter.close()
    if error is not None:
        readiness.state = error.state
    return readiness, error, settings


def note_a_missing_agent(agent: str, reporter) -> None:
    """`--for codex` where no `codex` is on PATH: said before any download or load, with the
    command that installs it (the agent may run elsewhere, so it is a notice, not a failure)."""
    from ..agents import agent_module, missing_note

    command = agent_module(agent).COMMAND
    if command is None:
        return
    import shutil

    if shutil.which(command) is None:
        reporter(Notice(missing_note(agent)))


def finish(options: dict, readiness: Readiness, error: LmprepError | None) -> None:
    if options["as_json"]:
        echo_json(json_result(readiness, error, options))
    elif error is not None:
        print_error(error)
    elif not options["quiet"]:
        echo(success_line(readiness), err=True)
        for warning in first_turn_warnings(readiness):
            echo(f"warning: {printable(warning)}", err=True)
    raise SystemExit(int(error.exit_code) if error else 0)

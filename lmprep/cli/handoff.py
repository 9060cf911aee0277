"""Handing the ready provider to an agent (env, exec): its variables, arguments and files."""

from __future__ import annotations

import os

from ..agents import DEFAULT_AGENT
from ..errors import LmprepError
from ..pipeline import Readiness
from ..termtext import printable
from .ensure import run_with_progress
from .render import echo, fail, success_line


def ready_for_agent(options: dict, program_found: bool = False):
    """Ensure readiness, then the agent's setup (generic OpenAI variables without --for), as
    lmprep.handoff makes it for `lmprep smoke` too; exits with lmprep's code on failure."""
    from ..handoff import hand_off

    readiness, error, settings = run_with_progress(options, hand_off=True, program_found=program_found)
    if error is not None:
        fail(error)
    try:
        setup = hand_off(settings, readiness, readiness.agent or DEFAULT_AGENT, environ=os.environ)
    except LmprepError as exc:
        fail(exc)
    return readiness, setup


def announce(readiness: Readiness, setup, options: dict, *, args_label: str = "Arguments for") -> None:
    """The success line, then the agent's arguments and notes (stderr; not with -q)."""
    if options.get("quiet"):
        return
    from ..shells import quote_argv

    echo(success_line(readiness), err=True)
    if setup.args:
        echo(f"{args_label} {setup.agent}: {quote_argv(setup.args)}", err=True)
    for note in setup.notes:
        echo(f"note: {printable(note)}", err=True)

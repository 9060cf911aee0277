"""Handing the ready provider to an agent (env, exec): its variables, arguments and files."""

from __future__ import annotations

import os

from ..agents import DEFAULT_AGENT
from ..errors import LmprepError, NotConfiguredError
from ..pipeline import Readiness
from ..termtext import printable
from .ensure import run_with_progress
from .render import echo, fail, measured_first_turn, success_line

def ready_for_agent(options: dict, program_found: bool = False):
    """Ensure readiness, then the agent's setup (generic OpenAI variables without --for);
    exits with lmprep's code on failure."""
    from ..agents import agent_setup, write_files

    readiness, error, settings = run_with_progress(options, hand_off=True, program_found=program_found)
    if error is not None:
        fail(error)
    chosen = settings.providers[readiness.provider]
    try:
        # Only the window read back from the server: never the one asked for, never a stale one.
        agent = readiness.agent or DEFAULT_AGENT
        setup = agent_setup(agent, provider=readiness.provider, kind=readiness.kind,
                            base_url=readiness.base_url, model=readiness.model, token=chosen.token,
                            environ=os.environ, context_length=readiness.context_length,
                            first_turn_s=measured_first_turn(readiness, agent),
                            ca_cert=chosen.ca_cert.value if chosen.ca_cert else None)
        setup = write_files(setup, agent_files_dir())
    except LmprepError as exc:
        fail(exc)
    except OSError as exc:
        fail(NotConfiguredError(f"Cannot write {setup.agent}'s files in {agent_files_dir()}: {exc.strerror or exc}.",
                                 "Check that lmprep's state directory is writable (it follows XDG_STATE_HOME)."))
    return readiness, setup


def agent_files_dir():
    from ..dirs import state_dir

    return state_dir() / "agents"


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

"""`lmprep exec`: make the provider ready, then become PROGRAM with the agent's variables."""

from __future__ import annotations

import os

import click

from ..agents import DEFAULT_AGENT
from ..config import Sourced, resolve_settings
from ..pipeline import Readiness
from ..termtext import printable
from ._group import LmprepCommand
from .handoff import announce, ready_for_agent
from .options import ensure_options, flags
from .render import agent_label, echo

def keep_model_loaded(options: dict, readiness: Readiness, release: bool) -> None:
    """Keep the model loaded while PROGRAM (this very process, once exec'd) runs (lmprep/session.py)."""
    if readiness.warm_up is None or readiness.warm_up.mode == "off" or readiness.warm_up.status == "not_started":
        return  # lmprep is not to load the model (or could not): a watcher could load it
    from ..session import keep_loaded

    settings = resolve_settings(flags(options))
    try:
        chosen = settings.providers[readiness.provider]._replace(base_url=Sourced(readiness.base_url, "ensure"))
        keep_loaded(chosen, readiness.model, settings.http_timeouts(),
                    settings.keep_alive.value, loaded_before=readiness.warm_up.status not in ("ok", "started"),
                    release=release)
    except OSError as exc:
        echo(f"note: the model is not kept loaded for the session: {printable(exc.strerror or str(exc))}", err=True)


@click.command("exec", cls=LmprepCommand, context_settings={"allow_interspersed_args": False},
               short_help="Make the provider ready, then run PROGRAM with the agent's variables.")
@ensure_options(exclude=("as_json",))
@click.option("--release", is_flag=True, help="Unload the model when PROGRAM ends, if lmprep loaded it "
                                              "(default: hand the server its own idle policy back).")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="[--] PROGRAM [ARGS]...")
def exec_(command: tuple[str, ...], release: bool, **options) -> None:
    """Make the provider ready, then run PROGRAM in place of lmprep with the agent's variables
    (and, when PROGRAM is that agent, the arguments it needs).

    \b
    lmprep exec --for codex -- codex exec "say hi"
    lmprep exec --for claude -- claude

    When PROGRAM is an agent's own command (codex, claude, ...), lmprep acts as --for that
    agent; --for none gives it the generic variables only.
    An option you give PROGRAM is never repeated or overridden; your -m/--model wins.
    The exit status is PROGRAM's: 127 when it is not found, 126 when it cannot be run
    (both found out first, before anything is downloaded or loaded).
    When lmprep fails, PROGRAM is not started and lmprep's own exit code is returned.
    """
    from ..agents import agent_module, agent_run_by, place, runs_agent
    from ..launch import NOT_FOUND, cannot_run, replace_process

    argv = list(command)
    runs = agent_run_by(argv[0])
    problem = cannot_run(argv[0], os.environ)
    if problem is not None:
        code, message = problem
        echo(f"lmprep: {printable(message)}", err=True)
        install = getattr(agent_module(runs), "INSTALL", None) if runs else None
        if install and code == NOT_FOUND:
            echo(f"Install {agent_label(runs)} with `{install}`, then run this again.", err=True)
        raise SystemExit(code)
    if options.get("agent") is None and runs is not None:
        options["agent"] = runs
        if not options.get("quiet"):
            echo(f"lmprep: {printable(argv[0])} is {agent_label(runs)}: acting as `--for {runs}` "
                 f"(`--for none` for the generic variables only).", err=True)
    readiness, setup = ready_for_agent(options, program_found=True)
    agent = readiness.agent or DEFAULT_AGENT  # --for, LMPREP_FOR or the config's `for = `
    if setup.args and runs_agent(agent, argv[0]):
        argv, notices = place(agent, argv, setup)
        announce(readiness, setup, options, args_label="Arguments added for")
        for notice in notices:
            click.echo(f"note: {notice}", err=True)
    else:
        announce(readiness, setup, options)
    keep_model_loaded(options, readiness, release)
    code, message = replace_process(argv, {**os.environ, **setup.variables})
    if message:
        echo(f"lmprep: {printable(message)}", err=True)
    raise SystemExit(code)


command = exec_

"""`lmprep doctor`: every server lmprep sees against every agent installed here, one verdict per pair."""

from __future__ import annotations

import sys

import click

from ..agents import AGENTS as AGENT_CHOICES
from ..progress import use_colour
from ..termtext import printable
from ._group import LmprepCommand
from .options import _positive, complete_provider, config_file, per_server_timeouts
from .render import as_error, echo, echo_json, print_error


def _agent_list(ctx, param, value):
    """--for A,B: agents lmprep knows, each once."""
    if value is None:
        return None
    names = [part.strip() for part in value.split(",") if part.strip()]
    unknown = [name for name in names if name not in AGENT_CHOICES]
    if unknown or not names:
        raise click.BadParameter(f"{', '.join(map(repr, unknown)) or 'nothing'} is not one of "
                                 f"{', '.join(AGENT_CHOICES)} (several: comma-separated)")
    return names


def _complete_agents(ctx, param, incomplete: str) -> list:
    from click.shell_completion import CompletionItem

    done, _, last = incomplete.rpartition(",")
    prefix = f"{done}," if done else ""
    return [CompletionItem(prefix + name) for name in AGENT_CHOICES if name.startswith(last)]


@click.command("doctor", cls=LmprepCommand,
               short_help="Every server against every installed agent: ready or why not.")
@click.option("-p", "--local-provider", "provider", metavar="NAME[,NAME]", shell_complete=complete_provider,
              help="Only these servers (default: each running where lmprep looks, and each of the config file).")
@click.option("-m", "--model", metavar="ID", help="Model to check on every server (default: each one's own).")
@click.option("--for", "agents", metavar="AGENT[,AGENT]", callback=_agent_list, shell_complete=_complete_agents,
              help="Only these agents, installed here or not (default: every agent whose command is on PATH).")
@click.option("--load", is_flag=True,
              help="Load (download, start) what a check needs, as `lmprep --for AGENT -p SERVER` does; "
                   "without it nothing is loaded, downloaded or started, and such a pair says it needs a load.")
@click.option("--smoke", is_flag=True,
              help="Then run the real agent of each ready pair (and of each lmprep's check refuses, to show the "
                   "agent's own words) once, as `lmprep smoke --for AGENT -p SERVER` does; a run that fails makes a "
                   "ready pair smoke_failed (exit 14).")
@click.option("--time-limit", type=float, metavar="S", callback=_positive,
              help="Seconds each smoke run's agent gets (default 120).")
@click.option("--smoke-jobs", type=click.IntRange(min=1), metavar="N", default=None,
              help="Smoke runs at once (default 2: each agent is a heavy process, and they share the server).")
@click.option("--offline", is_flag=True, default=None, help="Never download; a missing model is exit 6.")
@click.option("--no-start", "start", is_flag=True, flag_value=False, default=True,
              help="Never start a server that is down: it is unreachable (exit 4), as with `lmprep --no-start`.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (see the README).")
@per_server_timeouts
@click.option("--timeout", type=float, metavar="S", callback=_positive,
              help="Seconds for the whole doctor (default 30, none with --load); a pair not checked by then is "
                   "timed_out.")
@click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`).")
def doctor(provider, model, agents, load, smoke, time_limit, smoke_jobs, offline, start, as_json, connect_timeout,
           read_timeout, timeout, config_path) -> None:
    """Check every server lmprep sees against every coding agent installed here: each pair is
    ready, or says its state, why and the fix, as `lmprep --for AGENT -p SERVER` would. Above
    them: each server's version and loaded models, the free memory, and each agent's version
    against the one lmprep is tested with (and how to install the agents that are missing).

    Nothing is loaded, downloaded or started unless --load. With --smoke, each ready pair's agent
    is then run once on a one-line prompt (2 at a time), and shows whether its first request works.
    Exit 0 when every pair is ready (and its smoke run passed); else the exit code of the first
    pair shown that is not (as `lmprep --for` exits for it; 14 for a failed smoke run); 13 when
    none failed but some need a load to be checked (`--load`).

    \b
    lmprep doctor
    lmprep doctor --for codex,claude -p ollama --json
    lmprep doctor --smoke --for codex,llm
    """
    from ..doctor import SMOKE_AT_ONCE, DoctorReport, doctor as run
    from ..progress import make_reporter, terminal_columns
    from ..views import render_doctor

    reporter = make_reporter(sys.stderr, quiet=as_json or not smoke, live=False)
    try:
        report = run(provider, model, agents=agents, load=load, offline=bool(offline), start=start,
                     config_path=config_path,
                     connect_timeout=connect_timeout, read_timeout=read_timeout, timeout=timeout,
                     smoke=smoke, time_limit=time_limit, smoke_jobs=smoke_jobs or SMOKE_AT_ONCE, report=reporter)
    except (KeyboardInterrupt, Exception) as exc:
        error = as_error(exc)
        report = DoctorReport([], [], [], [], None, load, timeout, str(config_file(config_path).value), error=error,
                              smoke=smoke)
    finally:
        reporter.close()
    if as_json:
        echo_json(report.to_dict())
    else:
        for warning in report.warnings:
            echo(f"warning: {printable(warning)}", err=True)
        if report.servers or report.agents:
            echo(render_doctor(report, colour=use_colour(sys.stdout), width=terminal_columns(sys.stdout)))
        if report.error is not None:
            print_error(report.error)
    raise SystemExit(report.exit_code)


command = doctor

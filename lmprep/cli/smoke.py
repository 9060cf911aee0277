"""`lmprep smoke --for AGENT`: run the real agent once on a one-line prompt and show whether its
requests work (lmprep/smoke.py does it; this module only prints)."""

from __future__ import annotations

import sys

import click

from ..agents import AGENTS, DEFAULT_AGENT
from ..config import resolve_settings
from ..events import Notice
from ..pipeline import Readiness
from ..progress import make_reporter
from ..termtext import printable, seconds_text
from ._group import LmprepCommand
from .options import ensure_options, flags
from .render import as_error, echo, echo_json, json_result, print_error

#: Agents with a program of their own to run (the generic OpenAI variables have none).
RUNNABLE = tuple(agent for agent in AGENTS if agent != DEFAULT_AGENT)
#: The most distinct requests listed in the text output (--json has every one noted).
SHOWN_REQUESTS = 8


def _time_limit(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be above 0")
    return value


@click.command("smoke", cls=LmprepCommand,
               short_help="Run the real agent once on a one-line prompt: does it work?")
@ensure_options(exclude=("warm_up", "agent"))
@click.option("--for", "agent", type=click.Choice(RUNNABLE), required=True,
              help="The agent to run (its program must be on PATH).")
@click.option("--time-limit", type=float, default=None, callback=_time_limit, metavar="S",
              help="Seconds the agent gets to answer and exit (default 120).")
def smoke(time_limit: float | None, **options) -> None:
    """Make the model ready for AGENT (waiting for the load), then run the real agent once, as
    `lmprep exec --for AGENT` would start it, in its own headless form (`codex exec`,
    `claude -p`, ...) on a one-line prompt, in a throw-away folder, with no terminal.

    \b
    lmprep smoke --for codex
    lmprep smoke --for claude -p llamacpp --time-limit 300 --json

    It passes when the agent exits 0 within the time limit and the server answered at least
    one of its chat requests for the model with 2xx. It shows what the server received (route,
    model, status) through a relay lmprep puts in front of it, and the agent's own first error
    line. Exit status: 0 passed; 14 the run failed; 127/126 the agent's program is not found or
    cannot be run; lmprep's own code when the server is not ready for the agent.
    """
    from ..smoke import DEFAULT_TIME_LIMIT
    from ..smoke import smoke as run_smoke

    limit = time_limit or DEFAULT_TIME_LIMIT
    reporter = make_reporter(sys.stderr, quiet=options["quiet"] or options["as_json"])
    readiness = Readiness()
    result = error = None
    try:
        settings = resolve_settings(flags(options))
        for warning in settings.warnings:
            reporter(Notice(warning))
        result = run_smoke(settings, options["agent"], time_limit=limit, report=reporter, readiness=readiness)
    except (KeyboardInterrupt, Exception) as exc:
        error = as_error(exc)
    finally:
        reporter.close()
    code = int(error.exit_code) if error else result.exit_code
    if options["as_json"]:
        outcome = json_result(readiness, error, {"warm_up": "wait"})
        if result is not None:
            outcome.update(ok=result.passed, state=result.state, exit_code=code)
            if not result.passed:
                outcome["error"] = {"message": result.reason, "hint": result.hint}
        outcome["smoke"] = None if result is None else result.to_dict()
        echo_json(outcome)
    elif error is not None:
        print_error(error)
    elif not options["quiet"] or not result.passed:
        echo(render(result), err=not result.passed)
    raise SystemExit(code)


def render(result) -> str:
    """The result as people read it: the verdict, the agent's own words, what the server got."""
    verdict = "passed" if result.passed else "failed"
    lines = [f"Smoke run of {result.label}: {verdict} in {seconds_text(result.seconds)} s"
             + ("" if result.passed else f": {result.reason}")]
    if result.started:
        from ..shells import quote_argv

        lines.append(f"  ran: {quote_argv(list(result.argv))}")
    if result.first_error:
        lines.append(f"  {result.label} said: {result.first_error}")
    if result.started:
        from ..views import describe_requests

        lines.append("  the server received: " + (describe_requests(result, SHOWN_REQUESTS) or "nothing"))
    if result.check_refused:
        lines.append(f"  lmprep's check had said: {result.check_refused}")
    for note in result.notes:
        lines.append(f"  note: {note}")
    if not result.passed and result.hint:
        lines.append(result.hint)
    return "\n".join(printable(line) for line in lines)


command = smoke

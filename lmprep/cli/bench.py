"""`lmprep bench --for AGENT`: the agent's first and next turn, measured on the ready model."""

from __future__ import annotations

import sys

import click

from ..agents import AGENTS as AGENT_CHOICES
from ..config import resolve_settings
from ..events import Notice
from ..pipeline import Readiness
from ..progress import make_reporter
from ._group import LmprepCommand
from .options import ensure_options, flags
from .render import agent_label, as_error, echo, echo_json, json_result, print_error

@click.command("bench", cls=LmprepCommand,
               short_help="Measure the agent's first turn and next turn on the ready model.")
@ensure_options(exclude=("warm_up", "quiet", "agent"))
@click.option("--for", "agent", type=click.Choice(AGENT_CHOICES), required=True,
              help="The agent whose first request is measured, at its real size.")
def bench(**options) -> None:
    """Make the model ready for AGENT (waiting for the load), then send that agent's first
    request at its real size and a next turn that shares its prefix, and report load time,
    time to first token, prefill and decode speed, how much of the prompt the server reused,
    and the agent's projected first-turn and next-turn times.

    \b
    lmprep bench --for claude
    lmprep bench --for codex -p ollama -m qwen3-coder --json

    The result is kept, and `lmprep status` and the ready line show it.
    """
    from ..bench import bench_agent
    from ..views import render_bench

    reporter = make_reporter(sys.stderr, quiet=options["as_json"])
    readiness = Readiness()
    result = error = None
    try:
        settings = resolve_settings(flags({**options, "warm_up": "wait"}))
        for warning in settings.warnings:
            reporter(Notice(warning))
        readiness, result, _ = bench_agent(settings, report=reporter, readiness=readiness)
    except (KeyboardInterrupt, Exception) as exc:
        error = as_error(exc)
    finally:
        reporter.close()
    if options["as_json"]:
        outcome = json_result(readiness, error, {"warm_up": "wait"})
        outcome["bench"] = None if result is None else result.to_dict()
        echo_json(outcome)
    elif error is not None:
        print_error(error)
    else:
        echo(render_bench(result, agent_label(result.agent)))
    raise SystemExit(int(error.exit_code) if error else 0)


command = bench

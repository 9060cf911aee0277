"""`lmprep status`: every provider's state, models and last warm-up, from GET requests only."""

from __future__ import annotations

import sys

import click

from ..progress import use_colour
from ..termtext import printable
from ._group import LmprepCommand
from .options import _positive, complete_provider, config_file, per_server_timeouts
from .render import as_error, echo, echo_json, print_error

@click.command("status", cls=LmprepCommand, short_help="Every provider's state, models and last warm-up (changes nothing).")
@click.option("-p", "--local-provider", "provider", metavar="NAME", shell_complete=complete_provider,
              help="The provider whose state decides the exit code (default: the one `lmprep` would use).")
@click.option("-m", "--model", metavar="ID", help="Model to look for on that provider.")
@click.option("--base-url", metavar="URL", help="Base URL of that provider.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (see the README).")
@per_server_timeouts
@click.option("--timeout", type=float, metavar="S", callback=_positive,
              help="Seconds to wait for all providers (default 15); one that has not answered is timed_out.")
@click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`).")
def status(provider, model, base_url, as_json, connect_timeout, read_timeout, timeout, config_path) -> None:
    """Show every known and configured provider: state, models, last warm-up.

    Sends only GET requests: nothing is downloaded, loaded or written. Exits 0 when the
    chosen (or only running) provider is ready, else with that state's code.
    """
    from ..status_report import StatusReport, status as collect
    from ..views import render_status

    try:
        report = collect(provider, model, base_url=base_url, config_path=config_path,
                         connect_timeout=connect_timeout, read_timeout=read_timeout, timeout=timeout)
    except (KeyboardInterrupt, Exception) as exc:
        error = as_error(exc)
        report = StatusReport([], None, None, str(config_file(config_path).value), False, error=error)
    if as_json:
        echo_json(report.to_dict())
    else:
        for warning in report.warnings:
            echo(f"warning: {printable(warning)}", err=True)
        if report.providers:
            echo(render_status(report, colour=use_colour(sys.stdout)))
        decisive = report.decisive
        failure = report.error or (decisive.error if decisive is not None and not report.ok else None)
        if failure is not None:
            print_error(failure)
    raise SystemExit(report.exit_code)


command = status

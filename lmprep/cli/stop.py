"""`lmprep stop`: stop a server lmprep started, and never another."""

from __future__ import annotations

import time

import click

from ._group import LmprepCommand
from .options import _positive, complete_provider
from .render import JSON_SCHEMA_VERSION, as_error, echo, echo_json, print_error


@click.command("stop", cls=LmprepCommand, short_help="Stop a server that lmprep started (never another).")
@click.option("-p", "--local-provider", "provider", metavar="NAME", shell_complete=complete_provider,
              help="The provider whose server to stop, or a comma list (default: every server lmprep started "
                   "that still runs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (see the README).")
@click.option("--timeout", type=float, metavar="S", callback=_positive,
              help="Seconds to wait for the servers to end, in all (default: 10 s each after SIGTERM, then SIGKILL).")
@click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`).")
def stop(provider, as_json, timeout, config_path) -> None:
    """Stop the server lmprep started for NAME, or every one it started.

    A server is stopped only when it is the very process lmprep started (its pid, and the time
    that process started, as lmprep recorded them): a server someone else started, or a pid the
    system has given to another process since, is never signalled. A server LM Studio's service
    serves is stopped with `lms server stop`, never by a signal. NAME may be a list (`-p a,b`):
    each in turn. Exits 0 when it stopped each, 4 when none of lmprep's runs (nothing to stop),
    15 when a server runs there that lmprep did not start, 10 when one would not stop (with a
    list: the worst of these).
    """
    from ..stopping import StopReport, stop_report

    report = StopReport([], [])
    try:
        report = stop_report(provider, config_path=config_path, timeout=timeout)
    except (KeyboardInterrupt, Exception) as exc:
        report = StopReport([], [(provider, as_error(exc, "Run `lmprep stop` again to stop it."))])
    error = report.worst
    if as_json:
        # `errors`: each name's own (`-p a,b`); `error`: the worst of them, whose exit code lmprep exits with.
        echo_json({
            "schema": JSON_SCHEMA_VERSION, "ok": error is None, "state": error.state if error else "stopped",
            "exit_code": int(error.exit_code) if error else 0,
            "stopped": [server.to_dict() for server in report.stopped],
            "error": {"message": error.message, "hint": error.hint} if error else None,
            "errors": [{"provider": name, "state": each.state, "exit_code": int(each.exit_code),
                        "message": each.message, "hint": each.hint} for name, each in report.errors],
        })
    else:
        for server in report.stopped:
            echo(stopped_line(server), err=True)
        for name, each in report.errors:
            if len(report.errors) > 1 or report.stopped:
                each.message = f"{name or 'lmprep stop'}: {each.message}"  # which box of `-p a,b` it is
            print_error(each)
    raise SystemExit(int(error.exit_code) if error else 0)


def stopped_line(server, now: float | None = None) -> str:
    """"Stopped llama.cpp server at URL (pid 4242, `llama-server -m ...`), which lmprep started 5 min ago; ..."."""
    from ..termtext import printable
    from ..views import ago

    record = server.record
    now = time.time() if now is None else now
    how = " (it needed SIGKILL)" if server.forced else ""
    log = f"; its log stays at {record.log}" if record.log else ""
    if record.handed_off:  # the service that serves it was asked to stop serving, and lives on
        from ..started import command_line

        return printable(f"Stopped {server.label} at {record.base_url} with `{command_line(record.stop)}` "
                         f"(lmprep started it {ago(now - record.started_at)} with `{record.command}`; the service "
                         f"that served it, pid {record.pid}, runs on): it stopped answering in {server.seconds:.1f} s"
                         f"{log}")
    return printable(f"Stopped {server.label} at {record.base_url} (pid {record.pid}, `{record.command}`), which "
                     f"lmprep started {ago(now - record.started_at)}: it ended in {server.seconds:.1f} s{how}{log}")


command = stop

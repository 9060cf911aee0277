"""`lmprep stop`: stop a server lmprep started, and never another."""

from __future__ import annotations

import time

import click

from ..errors import InterruptedByUserError, LmprepError
from ._group import LmprepCommand
from .options import _positive, complete_provider
from .render import JSON_SCHEMA_VERSION, echo, echo_json, print_error, unexpected


@click.command("stop", cls=LmprepCommand, short_help="Stop a server that lmprep started (never another).")
@click.option("-p", "--local-provider", "provider", metavar="NAME", shell_complete=complete_provider,
              help="The provider whose server to stop (default: every server lmprep started that still runs).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (see the README).")
@click.option("--timeout", type=float, metavar="S", callback=_positive,
              help="Seconds to wait for the servers to end, in all (default: 10 s each after SIGTERM, then SIGKILL).")
@click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`).")
def stop(provider, as_json, timeout, config_path) -> None:
    """Stop the server lmprep started for NAME, or every one it started.

    A server is stopped only when it is the very process lmprep started (its pid, and the time
    that process started, as lmprep recorded them): a server someone else started, or a pid the
    system has given to another process since, is never signalled. Exits 0 when it stopped one,
    4 when none of lmprep's runs (nothing to stop), 14 when a server runs there that lmprep did
    not start.
    """
    from ..stopping import stop as stop_servers

    stopped, error = [], None
    try:
        stopped = stop_servers(provider, config_path=config_path, timeout=timeout)
    except LmprepError as exc:
        error = exc
    except KeyboardInterrupt as exc:
        error = InterruptedByUserError.from_signal(exc, "Run `lmprep stop` again to stop it.")
    except Exception as exc:
        error = unexpected(exc)
    if as_json:
        echo_json({
            "schema": JSON_SCHEMA_VERSION, "ok": error is None, "state": error.state if error else "stopped",
            "exit_code": int(error.exit_code) if error else 0, "stopped": [server.to_dict() for server in stopped],
            "error": {"message": error.message, "hint": error.hint} if error else None,
        })
    else:
        for server in stopped:
            echo(stopped_line(server), err=True)
        if error is not None:
            print_error(error)
    raise SystemExit(int(error.exit_code) if error else 0)


def stopped_line(server, now: float | None = None) -> str:
    """"Stopped llama.cpp server at URL (pid 4242, `llama-server -m ...`), which lmprep started 5 min ago; ..."."""
    from ..termtext import printable
    from ..views import ago

    record = server.record
    now = time.time() if now is None else now
    how = " (it needed SIGKILL)" if server.forced else ""
    log = f"; its log stays at {record.log}" if record.log else ""
    return printable(f"Stopped {server.label} at {record.base_url} (pid {record.pid}, `{record.command}`), which "
                     f"lmprep started {ago(now - record.started_at)}: it ended in {server.seconds:.1f} s{how}{log}")


command = stop

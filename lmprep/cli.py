"""The `lmprep` command: click commands, rendering, and errors → exit codes."""

from __future__ import annotations

import json
import os
import sys
import traceback

import click

from . import __version__
from .config import WARM_UP_MODES, Flags, resolve_settings
from .errors import ExitCode, InternalError, InterruptedByUserError, LmprepError
from .events import Notice
from .pipeline import Readiness, run_ensure
from .progress import make_reporter, use_colour

REPORT_BUG_HINT = (
    "This is a bug in lmprep: please report it at https://github.com/lmprep/lmprep/issues "
    "with the command you ran (run it again with LMPREP_DEBUG=1 for the traceback)."
)
JSON_SCHEMA_VERSION = 1


class DefaultToEnsure(click.Group):
    """`lmprep [OPTIONS]` means `lmprep ensure [OPTIONS]`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names
                        and args[0] != "--version"):
            args = ["ensure", *args]
        return super().parse_args(ctx, args)


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be above 0")
    return value


def ensure_options(command):
    """The options every command that ensures readiness takes."""
    options = [
        click.option("-p", "--local-provider", "provider", metavar="NAME",
                     help="lmstudio, ollama, llamacpp, vllm, openai, or a [providers.NAME] entry."),
        click.option("-m", "--model", metavar="ID", help="Model id (default: the provider's)."),
        click.option("--base-url", metavar="URL", help="Server base URL, e.g. http://localhost:1234/v1."),
        click.option("--warm-up", type=click.Choice(WARM_UP_MODES), default=None,
                     help="Load the model in the background (default), wait for it, or skip it."),
        click.option("--offline", is_flag=True, default=None, help="Never download; a missing model is an error."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout, also on failure."),
        click.option("-q", "--quiet", is_flag=True, help="No progress or success message."),
        click.option("--connect-timeout", type=float, metavar="S", callback=_positive,
                     help="Seconds to wait for a connection (default 5)."),
        click.option("--timeout", type=float, metavar="S", callback=_positive,
                     help="Overall deadline in seconds (default: none)."),
        click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group(cls=DefaultToEnsure, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lmprep")
def cli() -> None:
    """Make a local LLM provider ready: server up, model on disk, model loaded.

    `lmprep` alone is `lmprep ensure`; see `lmprep ensure --help` for its options.
    """


@cli.command()
@ensure_options
def ensure(**options) -> None:
    """Make the provider ready (the default command)."""
    readiness, error = _ensure(options)
    _finish(options, readiness, error)


def _flags(options: dict) -> Flags:
    return Flags(
        provider=options["provider"], model=options["model"], base_url=options["base_url"],
        warm_up=options["warm_up"], offline=options["offline"], connect_timeout=options["connect_timeout"],
        timeout=options["timeout"], config_path=options["config_path"],
    )


def _ensure(options: dict) -> tuple[Readiness, LmprepError | None]:
    """Run the pipeline with progress on stderr; never raises."""
    quiet = options["quiet"] or options["as_json"]
    reporter = make_reporter(sys.stderr, quiet=quiet)
    readiness = Readiness()
    error: LmprepError | None = None
    try:
        settings = resolve_settings(_flags(options))
        for warning in settings.warnings:
            reporter(Notice(warning))
        readiness.warm_up = None
        run_ensure(settings, report=reporter, readiness=readiness)
    except LmprepError as exc:
        error = exc
    except KeyboardInterrupt:
        error = InterruptedByUserError("Interrupted.", "Run lmprep again to continue; a partial download resumes.")
    except Exception as exc:
        if os.environ.get("LMPREP_DEBUG"):
            traceback.print_exc()
        error = InternalError(f"Unexpected error: {type(exc).__name__}: {exc}", REPORT_BUG_HINT)
    finally:
        reporter.close()
    if error is not None:
        readiness.state = error.state
    return readiness, error


def _finish(options: dict, readiness: Readiness, error: LmprepError | None) -> None:
    if options["as_json"]:
        click.echo(json.dumps(json_result(readiness, error, options)))
    elif error is not None:
        print_error(error)
    elif not options["quiet"]:
        click.echo(success_line(readiness), err=True)
    raise SystemExit(int(error.exit_code) if error else 0)


def json_result(readiness: Readiness, error: LmprepError | None, options: dict) -> dict:
    warm_up = readiness.warm_up
    return {
        "schema": JSON_SCHEMA_VERSION,
        "ok": error is None,
        "state": error.state if error else "ready",
        "exit_code": int(error.exit_code) if error else 0,
        "provider": readiness.provider,
        "provider_source": readiness.provider_source,
        "base_url": readiness.base_url,
        "model": readiness.model,
        "model_source": readiness.model_source,
        "downloaded": readiness.downloaded,
        "warm_up": {
            "mode": warm_up.mode if warm_up else options.get("warm_up") or "background",
            "status": warm_up.status if warm_up else "not_started",
            "seconds": warm_up.seconds if warm_up else None,
        },
        "timings_ms": readiness.timings_ms,
        "error": {"message": error.message, "hint": error.hint} if error else None,
    }


def success_line(readiness: Readiness) -> str:
    from .providers import KINDS

    label = KINDS[readiness.kind].label if readiness.provider == readiness.kind else readiness.provider
    line = f"Ready: {readiness.model} on {label} at {readiness.base_url}"
    warm_up = readiness.warm_up
    if warm_up and warm_up.status == "started":
        line += " (loading in the background; `lmprep status` shows when it is done)"
    elif warm_up and warm_up.status == "ok":
        line += f" (loaded in {warm_up.seconds:.1f} s)"
    if readiness.downloaded:
        line += "; downloaded just now"
    return line


def print_error(error: LmprepError) -> None:
    colour = use_colour(sys.stderr)
    prefix = click.style("Error:", fg="red", bold=True) if colour else "Error:"
    click.echo(f"{prefix} {error.message}", err=True, color=colour)
    if error.hint:
        click.echo(f"{error.hint}", err=True)


def main() -> None:
    # httpcore imports trio when it is installed, only to support it: ~40 ms of start-up
    # that the command never uses. Library callers keep trio; this process has no use for it.
    sys.modules.setdefault("trio", None)  # type: ignore[arg-type]
    cli(prog_name="lmprep")

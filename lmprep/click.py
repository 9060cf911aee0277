"""`oss_options`: give any click command an `--oss` flag that makes a local provider ready.

    import click
    from lmprep.click import oss_options

    @click.command()
    @oss_options
    def main(oss, model):
        if oss:                       # a lmprep.Readiness: the server is up, the model present
            use(oss.base_url, oss.model)

Adds ``--oss``, ``--local-provider NAME`` and ``-m/--model ID``. The command receives
``oss`` (the ``Readiness`` with ``--oss``, else None) and ``model`` (the resolved model
with ``--oss``, else whatever ``-m`` gave, or None). With ``--oss``, progress goes to
stderr; an lmprep failure prints what happened and what to do, and exits with lmprep's
exit code (see ``lmprep --help``), before the command body runs.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

import click

__all__ = ["oss_options"]


def oss_options(
    command=None,
    *,
    warm_up: str = "background",
    offline: bool = False,
    quiet: bool = False,
    default_provider: str | None = None,
):
    """Decorator (usable bare or with arguments) adding --oss, --local-provider and -m/--model.

    ``warm_up``: "background" (a daemon thread loads the model while the command starts),
    "wait" or "off". ``offline``: never download. ``quiet``: no progress on stderr.
    ``default_provider``: used when --local-provider is not given (else lmprep's own
    resolution: LMPREP_PROVIDER, the config file, then auto-detection).
    """

    def decorate(function):
        @functools.wraps(function)
        def wrapper(*args, oss: bool, local_provider: str | None, model: str | None, **kwargs):
            if not oss:
                if local_provider is not None:
                    raise click.UsageError("--local-provider needs --oss.")
                return function(*args, oss=None, model=model, **kwargs)
            readiness = _ensure(local_provider or default_provider, model, warm_up=warm_up, offline=offline,
                                quiet=quiet)
            return function(*args, oss=readiness, model=readiness.model, **kwargs)

        options = [
            click.option("--oss", is_flag=True, help="Use a local model server, made ready by lmprep first."),
            click.option("--local-provider", metavar="NAME",
                         help="With --oss: lmstudio, ollama, llamacpp, vllm, openai or a configured name."),
            click.option("-m", "--model", metavar="ID", help="Model id (with --oss: default the provider's)."),
        ]
        for option in reversed(options):
            wrapper = option(wrapper)
        return wrapper

    return decorate if command is None else decorate(command)


def _ensure(provider: str | None, model: str | None, *, warm_up: str, offline: bool, quiet: bool):
    from .errors import InternalError, InterruptedByUserError, LmprepError
    from .pipeline import ensure_oss_ready
    from .progress import make_reporter

    reporter = make_reporter(sys.stderr, quiet=quiet)
    error: LmprepError | None = None
    try:
        return ensure_oss_ready(provider, model, warm_up=warm_up, offline=offline, on_progress=reporter)
    except LmprepError as exc:
        error = exc
    except KeyboardInterrupt:
        error = InterruptedByUserError("Interrupted.", None)
    except Exception as exc:  # a bug in lmprep: a message and exit 1, not a traceback
        if os.environ.get("LMPREP_DEBUG"):
            traceback.print_exc()
        error = InternalError(f"Unexpected error in lmprep: {type(exc).__name__}: {exc}",
                              "This is a bug in lmprep: please report it to lmprep's maintainers, where you "
                              "got lmprep, with the command you ran, `lmprep --version` and the traceback "
                              "(run it again with LMPREP_DEBUG=1).")
    finally:
        reporter.close()
    click.echo(f"Error: {error.message}", err=True)
    if error.hint:
        click.echo(error.hint, err=True)
    raise click.exceptions.Exit(int(error.exit_code))

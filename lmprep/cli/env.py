"""`lmprep env`: the agent's variables for a shell to evaluate."""

from __future__ import annotations

import sys

import click

from ..errors import NotConfiguredError
from ._group import LmprepCommand
from .handoff import announce, ready_for_agent
from .options import ensure_options
from .render import fail

FORMAT_CHOICES = ("sh", "fish", "powershell", "dotenv", "json")


def env_failed(fmt: str, code) -> None:
    """On `env`'s failure, the statement of ``fmt`` that fails with ``code`` (shells.failure), on
    stdout; not on a terminal, where it is read and not evaluated."""
    from ..shells import failure

    try:
        on_terminal = sys.stdout.isatty()
    except (AttributeError, ValueError):  # no stdout, or a closed one
        on_terminal = False
    if isinstance(code, int) and code and not on_terminal:
        click.echo(failure(fmt, code), nl=False)


def usage_error_env(exc: click.ClickException, args: list[str]) -> None:
    """A usage error of `env` (a mistyped --for) fails its evaluation too: `eval ""` would succeed."""
    context = getattr(exc, "ctx", None)
    if context is None or context.command.name != "env":
        return
    given = args[: args.index("--")] if "--" in args else args
    fmt = "sh"
    for index, arg in enumerate(given):
        if arg == "--format" and index + 1 < len(given):
            fmt = given[index + 1]
        elif arg.startswith("--format="):
            fmt = arg.partition("=")[2]
    env_failed(fmt if fmt in FORMAT_CHOICES else "sh", exc.exit_code)


@click.command("env", cls=LmprepCommand)
@ensure_options(exclude=("as_json",))
@click.option("--format", "fmt", type=click.Choice(FORMAT_CHOICES), default="sh", show_default=True,
              help="sh (also bash, zsh), fish, powershell, dotenv or json.")
def env(fmt: str, **options) -> None:
    """Make the provider ready, then print the variables an agent needs.

    \b
    eval "$(lmprep env --for aider)" && aider                  # sh, bash, zsh
    lmprep env --for aider --format fish | source; and aider   # fish
    lmprep env --format powershell | Out-String | Invoke-Expression

    Only the variables go to stdout; progress, and the arguments the agent needs, go to stderr.
    When lmprep fails, stdout is one statement that fails with lmprep's exit code when
    evaluated (sh: `(exit 4)`), so the agent after `&&` or `; and` does not start.
    """
    from ..shells import render

    try:
        readiness, setup = ready_for_agent(options)
        try:
            text = render(setup.variables, fmt)
        except ValueError as exc:
            fail(NotConfiguredError(f"Cannot write the variables as {fmt}: {exc}.",
                                     "Use another --format (sh and json carry every value)."))
    except SystemExit as exc:
        env_failed(fmt, exc.code)
        raise
    announce(readiness, setup, options)
    click.echo(text, nl=False)


command = env

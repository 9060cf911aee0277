"""`lmprep config`: where the file is, what every setting resolves to, a starter file."""

from __future__ import annotations

import os

import click

from ..config import resolve_settings
from ..errors import ExitCode, LmprepError, NotConfiguredError
from ..termtext import printable
from ._group import FullHelpGroup
from .options import config_file, ensure_options, flags
from .render import config_error_dict, echo, echo_json, fail

@click.group("config", cls=FullHelpGroup)
def config() -> None:
    """Where the config file is, what each setting resolves to, a starter file."""

@config.command("path")
@click.option("--config", "config_path", metavar="PATH", help="Config file to use instead.")
def path(config_path: str | None) -> None:
    """Print the config file lmprep reads; where that came from goes to stderr."""
    where = config_file(config_path)
    echo(printable(str(where.value)))  # LMPREP_CONFIG may hold anything, escape sequences too
    try:
        state = "exists" if where.value.exists() else "not found: `lmprep config init` creates it"
    except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a folder we may not enter
        state = f"cannot be checked: {getattr(exc, 'strerror', None) or exc}"
    click.echo(f"(from {where.source}; {state})", err=True)

@config.command("show")
@ensure_options(exclude=("quiet",))
def show(**options) -> None:
    """Print every resolved setting and its source (tokens are never shown)."""
    from ..views import render_settings, settings_dict

    try:
        settings = resolve_settings(flags(options))
    except LmprepError as exc:
        if options["as_json"]:
            echo_json(config_error_dict(exc))
            raise SystemExit(int(exc.exit_code)) from None
        fail(exc)
    if options["as_json"]:
        echo_json(settings_dict(settings))
        return
    for warning in settings.warnings:
        echo(f"warning: {printable(warning)}", err=True)
    echo("\n".join(printable(line) for line in render_settings(settings).split("\n")))

@config.command("init")
@click.option("--config", "config_path", metavar="PATH", help="Write there instead of the default path.")
@click.option("--force", is_flag=True, help="Replace an existing file (the old one is kept as FILE.bak, "
                                            "or FILE.bak.1, ... when that exists).")
def init(config_path: str | None, force: bool) -> None:
    """Write a commented starter config file (every setting commented out)."""
    from ..files import NotARegularFile
    from ..starter_config import AlreadyExists, write_starter

    where = config_file(config_path)
    target = where.value
    # A folder is not "already exists, use --force", nor "check the folder's permissions"
    # (os.path.isdir: Path.is_dir raises for a name too long).
    if os.path.isdir(target):
        from ..config import folder_hint

        fail(NotConfiguredError(f"Cannot write the config file {target}: it is a folder.",
                                 folder_hint(target, where.source)))
    try:
        backup = write_starter(target, force=force)
    except NotARegularFile as exc:  # with --force too: it would be renamed away
        fail(NotConfiguredError(f"Not writing {target}: it is {exc.what}, not a regular file.",
                                 "lmprep writes its config file only as a regular file (never through a link); "
                                 "give a path with --config, or remove what is there first."))
    except AlreadyExists:
        click.echo(f"Error: {printable(str(target))} already exists; not overwriting it.", err=True)
        click.echo(f"Edit it, or run `lmprep config init --force` to replace it (the old file is kept as "
                   f"{printable(target.name)}.bak, or .bak.1, ...: no backup is overwritten).", err=True)
        raise SystemExit(int(ExitCode.USAGE)) from None
    except (OSError, ValueError) as exc:
        fail(NotConfiguredError(f"Cannot write {target}: {getattr(exc, 'strerror', None) or exc}.",
                                 "Check the folder's permissions, or give another path with --config."))
    click.echo(printable(f"Wrote {target}" + (f" (the old file is now {backup})" if backup else "")), err=True)


command = config

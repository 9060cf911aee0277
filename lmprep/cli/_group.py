"""The `lmprep` group: `lmprep` alone is `lmprep ensure`, other commands are imported on first
use (LAZY_COMMANDS), and help is built without gettext."""

from __future__ import annotations

import importlib

import click

from .. import __version__

def _show_help(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(ctx.get_help(), color=ctx.color)
        ctx.exit()


class EnglishHelpOption:
    """click builds a command's --help option when it first parses, asking gettext for the
    option's text: that imports locale and searches for translation files, ~1 ms of every
    start-up for text lmprep shows in English anyway. The same option, without the search."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        names = self.get_help_option_names(ctx)  # type: ignore[attr-defined]
        if not names or not self.add_help_option:  # type: ignore[attr-defined]
            return None
        if getattr(self, "_help_option", None) is None:  # click caches it there, and so do we
            self._help_option = click.Option(names, is_flag=True, expose_value=False, is_eager=True,
                                             callback=_show_help, help="Show this message and exit.")
        return self._help_option


class LmprepCommand(EnglishHelpOption, click.Command):
    """Every lmprep command."""


class FullHelpGroup(EnglishHelpOption, click.Group):
    """A group whose --help lists each command's whole summary, wrapped, never cut with "..."."""

    command_class = LmprepCommand

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class DefaultToEnsure(FullHelpGroup):
    """`lmprep [OPTIONS]` means `lmprep ensure [OPTIONS]`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if ctx.resilient_parsing and not args:
            # Shell completion of the first word: the subcommands (and, see shell_complete, ensure's options).
            return super().parse_args(ctx, args)
        if args[:1] == ["help"] and not ctx.resilient_parsing:
            # `lmprep help`, `lmprep help COMMAND` and `lmprep help config init`, as git and pip take them.
            known = len(args) == 1 or self._is_command(args[1])
            args = [*args[1:], "--help"] if known else args[1:2]  # not known: "did you mean ...?"
        if args[:1] and args[0].startswith("-") and not ctx.resilient_parsing:
            args = self._options_after_command(ctx, args)
        if not args or (args[0] not in self.commands and args[0] not in LAZY_COMMANDS
                        and args[0] not in ctx.help_option_names and args[0] not in VERSION_OPTIONS):
            args = ["ensure", *args]
        return super().parse_args(ctx, args)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """`lmprep --help` lists ensure's options too, before the commands: `lmprep` alone runs it."""
        click.Command.format_options(self, ctx, formatter)
        ensure = self.commands["ensure"]
        ensure_context = click.Context(ensure, info_name="ensure", parent=ctx)
        rows = [record for option in ensure.params if (record := option.get_help_record(ensure_context))]
        with formatter.section("Options of `lmprep` alone (`lmprep ensure`)"):
            formatter.write_dl(rows)
        self.format_commands(ctx, formatter)

    def _is_command(self, word: str) -> bool:
        return word in self.commands or word in LAZY_COMMANDS

    def _options_after_command(self, ctx: click.Context, args: list[str]) -> list[str]:
        """`lmprep -p ollama status` is `lmprep status -p ollama`: ensure's options before a
        command go right after it (and after a group's subcommand: `lmprep --json config show`),
        where that command's own parser takes them or names the one it does not. ``args``
        unchanged when no command follows them (`lmprep -m status` is a model named status)."""
        takes_value = {name: not option.is_flag for option in self.commands["ensure"].params if isinstance(option, click.Option)
                       for name in (*option.opts, *option.secondary_opts)}
        index = 0
        while index < len(args) and args[index].startswith("-") and args[index] not in ("-", "--"):
            name, equals, _ = args[index].partition("=")
            if name in ctx.help_option_names or name in VERSION_OPTIONS:  # the group's own, as before
                return args
            if name in takes_value:
                index += 2 if takes_value[name] and not equals else 1
            elif not name.startswith("--") and takes_value.get(name[:2]):  # -pollama
                index += 1
            else:  # not ensure's: if a command follows, the user meant its options
                word = next((arg for arg in args[index:] if not arg.startswith("-") and self._is_command(arg)), None)
                if word is None:
                    return args
                import shlex

                position = args.index(word)
                meant = shlex.join(["lmprep", word, *args[:position], *args[position + 1:]])
                raise click.UsageError(f"options go after the command: `{meant}`", ctx)
        if index >= len(args) or not self._is_command(args[index]):
            return args
        path, rest = [args[index]], args[index + 1:]
        command = self.get_command(ctx, args[index])
        while isinstance(command, click.Group) and rest and rest[0] in command.list_commands(ctx):
            command = command.get_command(ctx, rest[0])
            path.append(rest.pop(0))
        return [*path, *args[:index], *rest]

    # Commands other than `ensure` are defined on first use (see LAZY_COMMANDS).
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in LAZY_COMMANDS:
            self.add_command(lazy_command(name))
        return super().get_command(ctx, name)

    def shell_complete(self, ctx: click.Context, incomplete: str):
        """`lmprep <TAB>`: the subcommands; `lmprep --<TAB>`: also ensure's options (the default command)."""
        results = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            known = {item.value for item in results}
            ensure = self.commands["ensure"]
            ensure_context = ensure.make_context("ensure", [], parent=ctx, resilient_parsing=True)
            results += [item for item in ensure.shell_complete(ensure_context, incomplete) if item.value not in known]
        return results


class EnsureCommand(LmprepCommand):
    """`ensure`, which takes no arguments: a word it is given is a mistyped command
    (`lmprep stauts`, `lmprep help`), answered with the command meant."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if rest and not ctx.resilient_parsing:
            raise click.UsageError(unknown_command_message(rest[0], ctx.parent.command.list_commands(ctx.parent)
                                                           if ctx.parent else []), ctx.parent or ctx)
        return rest


#: `lmprep -V` is `lmprep --version`.
VERSION_OPTIONS = ("-V", "--version")


def unknown_command_message(word: str, commands: list[str]) -> str:
    """`lmprep stauts` → "No such command 'stauts'. Did you mean `lmprep status`?"."""
    import difflib

    text = f"No such command {word!r}."
    if word in ("help", "-help", "h", "?"):
        return f"{text} Did you mean `lmprep --help` (or `lmprep COMMAND --help`)?"
    close = difflib.get_close_matches(word, commands, n=1, cutoff=0.6)
    if close:
        return f"{text} Did you mean `lmprep {close[0]}`?"
    return f"{text} Commands: {', '.join(commands)} (`lmprep --help` says what each does)."


def _print_version(ctx: click.Context, param, value: bool) -> None:
    # Not click.version_option: it asks gettext for two messages as the command is defined,
    # which imports locale and searches for translations on every start-up (~1.5 ms).
    if value and not ctx.resilient_parsing:
        click.echo(f"lmprep, version {__version__}")
        ctx.exit()


@click.group(cls=DefaultToEnsure, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(*VERSION_OPTIONS, is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
def cli() -> None:
    """Make a local LLM provider ready: server up, model on disk, model loaded.

    `lmprep` alone is `lmprep ensure`, with the options listed below; `lmprep COMMAND --help`
    lists a command's own. Options before a command go to that command (`lmprep -p ollama status`).
    """


#: The commands other than `ensure`, each the module of this package that defines it as
#: ``command``: imported on first use, so the ready path (`lmprep` alone) never pays for them.
LAZY_COMMANDS = {"bench": "bench", "completion": "completion", "config": "config", "doctor": "doctor", "env": "env",
                 "exec": "exec", "smoke": "smoke", "status": "status", "stop": "stop"}


def lazy_command(name: str) -> click.Command:
    return importlib.import_module(f"{__package__}.{LAZY_COMMANDS[name]}").command

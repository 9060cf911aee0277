"""The `lmprep` command: click commands, rendering, and errors → exit codes."""

from __future__ import annotations

import json
import os
import sys

try:
    # The C module under `signal`: the same calls and numbers, without building signal's enums
    # (~0.6 ms of every start-up).
    import _signal as signal
except ImportError:  # an interpreter without it
    import signal  # type: ignore[no-redef]

import click

from . import __version__
from .agents import AGENTS as AGENT_CHOICES
from .agents import DEFAULT_AGENT
from .config import NO_AGENT, WARM_UP_MODES, Flags, Settings, Sourced, resolve_settings
from .errors import ExitCode, InternalError, InterruptedByUserError, LmprepError, NotConfiguredError
from .events import Notice
from .pipeline import Readiness, run_ensure
from .progress import make_reporter, use_colour
from .termtext import printable

REPORT_BUG_HINT = (
    "This is a bug in lmprep: please report it to lmprep's maintainers, where you got lmprep, with "
    "the command you ran, `lmprep --version` and the traceback (run it again with LMPREP_DEBUG=1)."
)
JSON_SCHEMA_VERSION = 1


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
        takes_value = {name: not option.is_flag for option in ensure.params if isinstance(option, click.Option)
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
            self.add_command(LAZY_COMMANDS[name]())
        return super().get_command(ctx, name)

    def shell_complete(self, ctx: click.Context, incomplete: str):
        """`lmprep <TAB>`: the subcommands; `lmprep --<TAB>`: also ensure's options (the default command)."""
        results = super().shell_complete(ctx, incomplete)
        if incomplete.startswith("-"):
            known = {item.value for item in results}
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


def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be above 0")
    return value


def _duration(ctx, param, value):
    if value is not None:
        from .config import parse_keep_alive

        try:
            parse_keep_alive(value)
        except ValueError as exc:
            raise click.BadParameter(f"{exc}: give 30m, 2h, 90s, a number of seconds, or -1 for ever") from None
    return value


def _tokens(ctx, param, value):
    if value is not None:
        from .config import parse_tokens

        try:
            return parse_tokens(value)
        except ValueError as exc:
            raise click.BadParameter(f"{exc}; for example 65536, or 64k (k means 1024)") from None
    return value


def complete_provider(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of -p: the built-in providers, then the config file's own entries
    (of the file --config, LMPREP_CONFIG or the default names; a file that cannot be read adds none)."""
    from click.shell_completion import CompletionItem

    from .config import Flags, _config_path, _load_file
    from .providers.kinds import KINDS

    items = [CompletionItem(name, help=kind.label) for name, kind in KINDS.items()]
    try:
        document, _ = _load_file(_config_path(Flags(config_path=ctx.params.get("config_path")), os.environ))
        custom = (document or {}).get("providers", {})
    except Exception:  # completion never fails: a broken file just completes nothing more
        custom = {}
    if isinstance(custom, dict):
        items += [CompletionItem(name, help="from the config file") for name in custom if name not in KINDS]
    return [item for item in items if item.value.startswith(incomplete)]


def ensure_options(command=None, *, exclude: tuple[str, ...] = ()):
    """The options every command that ensures readiness takes (``exclude``: parameter names
    to leave out, e.g. ``("as_json",)`` where stdout is not lmprep's)."""
    options = [
        ("provider", click.option("-p", "--local-provider", "provider", metavar="NAME",
                     shell_complete=complete_provider, help="lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai, or a [providers.NAME] entry.")),
        ("model", click.option("-m", "--model", metavar="ID", help="Model id (default: the provider's).")),
        ("base_url", click.option("--base-url", metavar="URL",
                                  help="Server base URL, e.g. http://localhost:1234/v1.")),
        ("warm_up", click.option("--warm-up", type=click.Choice(WARM_UP_MODES), default=None,
                     help="Load the model in the background (default), wait for it, or skip it.")),
        ("offline", click.option("--offline", is_flag=True, default=None,
                                 help="Never download; a missing model is an error.")),
        ("as_json", click.option("--json", "as_json", is_flag=True,
                                 help="Print one JSON object on stdout, also on failure.")),
        ("quiet", click.option("-q", "--quiet", is_flag=True, help="No progress or success message.")),
        ("connect_timeout", click.option("--connect-timeout", type=float, metavar="S", callback=_positive,
                     help="Seconds to wait for a connection (default 5).")),
        ("read_timeout", click.option("--read-timeout", type=float, metavar="S", callback=_positive,
                     help="Seconds a server has to answer a request (default 10; loads and pulls "
                          "have their own limits).")),
        ("timeout", click.option("--timeout", type=float, metavar="S", callback=_positive,
                     help="Overall deadline in seconds (default: none).")),
        ("config_path", click.option("--config", "config_path", metavar="PATH",
                                     help="Config file (default: see `lmprep config path`).")),
        ("min_context", click.option("--min-context", metavar="TOKENS", callback=_tokens,
                                     help="Context window the loaded model must have, e.g. 65536 or 64k (raised "
                                          "where the provider allows it, else exit 11).")),
        ("keep_alive", click.option("--keep-alive", metavar="DURATION", callback=_duration,
                                    help="How long the server keeps the model loaded: 30m, 2h, seconds, "
                                         "or -1 for ever (default: the server's own).")),
        ("ignore_fit", click.option("--ignore-fit", is_flag=True, default=None,
                                    help="Load the model although the memory estimate says the window "
                                         "will not fit (see Fit in the README).")),
        ("agent", click.option("--for", "agent", type=click.Choice((*AGENT_CHOICES, NO_AGENT)), default=None,
                               help="The agent that starts next: ready means its first request works "
                                    "(its route, tools, streaming and context window). `none`: no agent, "
                                    "also when `exec` runs one.")),
    ]

    def decorate(command):
        for name, option in reversed(options):
            if name not in exclude:
                command = option(command)
        return command

    return decorate if command is None else decorate(command)


#: ``--for none``: no agent. `exec` otherwise acts as ``--for`` the agent whose command it runs.
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


@cli.command(cls=EnsureCommand, context_settings={"allow_extra_args": True})
@ensure_options
def ensure(**options) -> None:
    """Make the provider ready (the default command)."""
    readiness, error, _ = _ensure(options)
    _finish(options, readiness, error)


def _flags(options: dict) -> Flags:
    return Flags(
        provider=options.get("provider"), model=options.get("model"), base_url=options.get("base_url"),
        warm_up=options.get("warm_up"), offline=options.get("offline"),
        connect_timeout=options.get("connect_timeout"), timeout=options.get("timeout"),
        config_path=options.get("config_path"), min_context=options.get("min_context"),
        agent=options.get("agent"), keep_alive=options.get("keep_alive"),
        read_timeout=options.get("read_timeout"), ignore_fit=options.get("ignore_fit"),
    )


def _ensure(options: dict, hand_off: bool = False,
            program_found: bool = False) -> tuple[Readiness, LmprepError | None, Settings | None]:
    """Run the pipeline with progress on stderr; never raises. ``hand_off``: an agent is told
    the window next (env, exec); ``program_found``: the program that runs next was found
    already (exec), else the agent's own command is looked up first."""
    quiet = options.get("quiet") or options.get("as_json")
    reporter = make_reporter(sys.stderr, quiet=quiet)
    readiness = Readiness()
    error: LmprepError | None = None
    settings: Settings | None = None
    try:
        settings = resolve_settings(_flags(options))
        for warning in settings.warnings:
            reporter(Notice(warning))
        if settings.agent is not None and not program_found:
            _note_a_missing_agent(settings.agent.value, reporter)
        readiness.warm_up = None
        run_ensure(settings, report=reporter, readiness=readiness, hand_off=hand_off)
    except LmprepError as exc:
        error = exc
    except KeyboardInterrupt as exc:
        error = InterruptedByUserError.from_signal(exc, "Run lmprep again to continue; a partial download resumes.")
    except Exception as exc:
        error = _unexpected(exc)
    finally:
        reporter.close()
    if error is not None:
        readiness.state = error.state
    return readiness, error, settings


def _note_a_missing_agent(agent: str, reporter) -> None:
    """`--for codex` where no `codex` is on PATH: said before any download or load, with the
    command that installs it (the agent may run elsewhere, so it is a notice, not a failure)."""
    from .agents import agent_module

    module = agent_module(agent)
    command, install = module.COMMAND, getattr(module, "INSTALL", None)
    if command is None:
        return
    import shutil

    if shutil.which(command) is None:
        reporter(Notice(f"{command} is not on PATH" + (f": install {module.LABEL} with `{install}`." if install else ".")))


def _finish(options: dict, readiness: Readiness, error: LmprepError | None) -> None:
    if options["as_json"]:
        echo_json(json_result(readiness, error, options))
    elif error is not None:
        print_error(error)
    elif not options["quiet"]:
        echo(success_line(readiness), err=True)
        for warning in _first_turn_warnings(readiness):
            echo(f"warning: {printable(warning)}", err=True)
    raise SystemExit(int(error.exit_code) if error else 0)


def _first_turn_warnings(readiness: Readiness) -> list[str]:
    """With --for, where a bench projects the agent's first turn beyond a limit it cannot
    raise: the notes its setup gives (nothing is imported where no bench was ever run)."""
    first_turn_s = _measured_first_turn(readiness, readiness.agent) if readiness.agent else None
    if first_turn_s is None:
        return []
    from .agents import agent_setup

    try:
        setup = agent_setup(readiness.agent, provider=readiness.provider, kind=readiness.kind,
                            base_url=readiness.base_url, model=readiness.model,
                            context_length=readiness.context_length, first_turn_s=first_turn_s)
    except LmprepError:
        return []
    return [note for note in setup.notes if "first turn is projected" in note]


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
        "agent": readiness.agent,
        "downloaded": readiness.downloaded,
        "warm_up": {
            "mode": warm_up.mode if warm_up else options.get("warm_up") or "background",
            "status": warm_up.status if warm_up else "not_started",
            "seconds": warm_up.seconds if warm_up else None,
        },
        "context_length": readiness.context_length,
        "cpu_percent": readiness.cpu_percent,
        "rtt_ms": readiness.rtt_ms,
        "timings_ms": readiness.timings_ms,
        "error": {"message": error.message, "hint": error.hint} if error else None,
    }


#: Below this window a ready line without --for warns: every coding agent's minimum is above it
#: (aider's 8192 is the smallest, and it fills that with its repository map and files).
AGENT_WINDOW = 16384


def success_line(readiness: Readiness) -> str:
    from .providers import KINDS

    label = KINDS[readiness.kind].label if readiness.provider == readiness.kind else readiness.provider
    ready = f"Ready for {agent_label(readiness.agent)}" if readiness.agent else "Ready"
    line = f"{ready}: {readiness.model} on {label} at {readiness.base_url}"
    warm_up = readiness.warm_up
    if warm_up and warm_up.status == "started":
        line += " (loading in the background; `lmprep status` shows when it is done)"
    elif warm_up and warm_up.status == "ok":
        line += f" (loaded in {warm_up.seconds:.1f} s"
        if readiness.agent and warm_up.mode != "wait":  # waited for although not asked to: say why
            line += f", waited for to check what {agent_label(readiness.agent)} needs"
        line += ")"
    elif warm_up and warm_up.status == "loaded":
        line += " (already loaded)"
    elif warm_up and warm_up.status == "not_started":
        line += " (not loaded: the background load could not be started)"
    if readiness.context_length:
        line += f"; context window {readiness.context_length} tokens"
        if not readiness.agent and readiness.context_length < AGENT_WINDOW:
            line += ": coding agents need more, use --for AGENT"
        elif readiness.agent and sets_own_window(readiness.agent, readiness.kind):
            line += f" as loaded ({agent_label(readiness.agent)} asks for the window it needs with each request)"
    if readiness.cpu_percent:
        line += f"; {readiness.cpu_percent}% on the CPU"
    if readiness.downloaded:
        line += "; downloaded just now"
    from .hosts import is_loopback_url

    if readiness.rtt_ms is not None and not is_loopback_url(readiness.base_url):
        line += f"; {readiness.rtt_ms:.0f} ms round trip"  # a shared box: how far away it is
    figures = _bench_figures(readiness)
    if figures:
        line += f"; {figures}"
    return printable(line)  # model ids come from the server: no escape sequence reaches the terminal


def _bench_figures(readiness: Readiness) -> str | None:
    """The last `lmprep bench` of this server, model and window, in a few words; nothing is
    imported or read where no bench was ever run."""
    from .dirs import state_dir

    if not os.path.isdir(state_dir() / "bench"):
        return None
    from .bench import last_result, summary

    record = last_result(readiness.provider, readiness.base_url, readiness.model, readiness.context_length)
    return None if record is None else summary(record)


def print_error(error: LmprepError) -> None:
    colour = use_colour(sys.stderr)
    prefix = click.style("Error:", fg="red", bold=True) if colour else "Error:"
    echo(f"{prefix} {printable(error.message)}", err=True, color=colour)
    if error.hint:
        echo(printable(error.hint), err=True)


def echo(text: str, **options) -> None:
    """Every line lmprep prints goes through here: no secret (token, URL password) in it."""
    from .redact import redact

    click.echo(redact(text), **options)


def echo_json(value) -> None:
    """The one JSON object of --json, without secrets."""
    from .redact import redact_data

    click.echo(json.dumps(redact_data(value)))


def agent_label(agent: str) -> str:
    from .agents import agent_module

    return agent_module(agent).LABEL


def sets_own_window(agent: str, kind: str) -> bool:
    from .agents import sets_own_window

    return sets_own_window(agent, kind)


# -- the other commands, built on first use -------------------------------------------------
# `lmprep` alone (the ready path) never pays for defining them.

FORMAT_CHOICES = ("sh", "fish", "powershell", "dotenv", "json")


def _fail(error: LmprepError) -> None:
    print_error(error)
    raise SystemExit(int(error.exit_code))


def _unexpected(exc: Exception) -> InternalError:
    if os.environ.get("LMPREP_DEBUG"):
        import traceback

        traceback.print_exc()
    return InternalError(f"Unexpected error: {type(exc).__name__}: {exc}", REPORT_BUG_HINT)


def _ready_for_agent(options: dict, program_found: bool = False):
    """Ensure readiness, then the agent's setup (generic OpenAI variables without --for);
    exits with lmprep's code on failure."""
    from .agents import agent_setup, write_files

    readiness, error, settings = _ensure(options, hand_off=True, program_found=program_found)
    if error is not None:
        _fail(error)
    chosen = settings.providers[readiness.provider]
    try:
        # Only the window read back from the server: never the one asked for, never a stale one.
        agent = readiness.agent or DEFAULT_AGENT
        setup = agent_setup(agent, provider=readiness.provider, kind=readiness.kind,
                            base_url=readiness.base_url, model=readiness.model, token=chosen.token,
                            environ=os.environ, context_length=readiness.context_length,
                            first_turn_s=_measured_first_turn(readiness, agent))
        setup = write_files(setup, _agent_files_dir())
    except LmprepError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(NotConfiguredError(f"Cannot write {setup.agent}'s files in {_agent_files_dir()}: {exc.strerror or exc}.",
                                 "Check that lmprep's state directory is writable (it follows XDG_STATE_HOME)."))
    return readiness, setup


def _measured_first_turn(readiness: Readiness, agent: str) -> float | None:
    """The agent's first turn as the last `lmprep bench` of this server, model and window
    projects it (its timeouts are raised to fit); None where no bench was ever run."""
    from .dirs import state_dir

    if not os.path.isdir(state_dir() / "bench"):
        return None
    from .bench import last_result, projected_first_turn

    record = last_result(readiness.provider, readiness.base_url, readiness.model, readiness.context_length)
    return projected_first_turn(record, agent)


def _agent_files_dir():
    from .dirs import state_dir

    return state_dir() / "agents"


def _announce(readiness: Readiness, setup, options: dict, *, args_label: str = "Arguments for") -> None:
    """The success line, then the agent's arguments and notes (stderr; not with -q)."""
    if options.get("quiet"):
        return
    from .shells import quote_argv

    echo(success_line(readiness), err=True)
    if setup.args:
        echo(f"{args_label} {setup.agent}: {quote_argv(setup.args)}", err=True)
    for note in setup.notes:
        echo(f"note: {printable(note)}", err=True)


def _build_env() -> click.Command:
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
        from .shells import render

        try:
            readiness, setup = _ready_for_agent(options)
            try:
                text = render(setup.variables, fmt)
            except ValueError as exc:
                _fail(NotConfiguredError(f"Cannot write the variables as {fmt}: {exc}.",
                                         "Use another --format (sh and json carry every value)."))
        except SystemExit as exc:
            env_failed(fmt, exc.code)
            raise
        _announce(readiness, setup, options)
        click.echo(text, nl=False)

    return env


def env_failed(fmt: str, code) -> None:
    """On `env`'s failure, the statement of ``fmt`` that fails with ``code`` (shells.failure), on
    stdout; not on a terminal, where it is read and not evaluated."""
    from .shells import failure

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


def _build_exec() -> click.Command:
    @click.command("exec", cls=LmprepCommand, context_settings={"allow_interspersed_args": False},
                   short_help="Make the provider ready, then run PROGRAM with the agent's variables.")
    @ensure_options(exclude=("as_json",))
    @click.option("--release", is_flag=True, help="Unload the model when PROGRAM ends, if lmprep loaded it "
                                                  "(default: hand the server its own idle policy back).")
    @click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="[--] PROGRAM [ARGS]...")
    def exec_(command: tuple[str, ...], release: bool, **options) -> None:
        """Make the provider ready, then run PROGRAM in place of lmprep with the agent's variables
        (and, when PROGRAM is that agent, the arguments it needs).

        \b
        lmprep exec --for codex -- codex exec "say hi"
        lmprep exec --for claude -- claude

        When PROGRAM is an agent's own command (codex, claude, ...), lmprep acts as --for that
        agent; --for none gives it the generic variables only.
        An option you give PROGRAM is never repeated or overridden; your -m/--model wins.
        The exit status is PROGRAM's: 127 when it is not found, 126 when it cannot be run
        (both found out first, before anything is downloaded or loaded).
        When lmprep fails, PROGRAM is not started and lmprep's own exit code is returned.
        """
        from .agents import agent_module, agent_run_by, place, runs_agent
        from .launch import NOT_FOUND, cannot_run, replace_process

        argv = list(command)
        runs = agent_run_by(argv[0])
        problem = cannot_run(argv[0], os.environ)
        if problem is not None:
            code, message = problem
            echo(f"lmprep: {printable(message)}", err=True)
            install = getattr(agent_module(runs), "INSTALL", None) if runs else None
            if install and code == NOT_FOUND:
                echo(f"Install {agent_label(runs)} with `{install}`, then run this again.", err=True)
            raise SystemExit(code)
        if options.get("agent") is None and runs is not None:
            options["agent"] = runs
            if not options.get("quiet"):
                echo(f"lmprep: {printable(argv[0])} is {agent_label(runs)}: acting as `--for {runs}` "
                     f"(`--for none` for the generic variables only).", err=True)
        readiness, setup = _ready_for_agent(options, program_found=True)
        agent = readiness.agent or DEFAULT_AGENT  # --for, LMPREP_FOR or the config's `for = `
        if setup.args and runs_agent(agent, argv[0]):
            argv, notices = place(agent, argv, setup)
            _announce(readiness, setup, options, args_label="Arguments added for")
            for notice in notices:
                click.echo(f"note: {notice}", err=True)
        else:
            _announce(readiness, setup, options)
        _keep_loaded(options, readiness, release)
        code, message = replace_process(argv, {**os.environ, **setup.variables})
        if message:
            echo(f"lmprep: {printable(message)}", err=True)
        raise SystemExit(code)

    return exec_


def _keep_loaded(options: dict, readiness: Readiness, release: bool) -> None:
    """Keep the model loaded while PROGRAM (this very process, once exec'd) runs (lmprep/session.py)."""
    if readiness.warm_up is None or readiness.warm_up.mode == "off" or readiness.warm_up.status == "not_started":
        return  # lmprep is not to load the model (or could not): a watcher could load it
    from .session import keep_loaded

    settings = resolve_settings(_flags(options))
    try:
        chosen = settings.providers[readiness.provider]._replace(base_url=Sourced(readiness.base_url, "ensure"))
        keep_loaded(chosen, readiness.model, settings.http_timeouts(),
                    settings.keep_alive.value, loaded_before=readiness.warm_up.status not in ("ok", "started"),
                    release=release)
    except OSError as exc:
        echo(f"note: the model is not kept loaded for the session: {printable(exc.strerror or str(exc))}", err=True)


def _build_status() -> click.Command:
    @click.command("status", cls=LmprepCommand, short_help="Every provider's state, models and last warm-up (changes nothing).")
    @click.option("-p", "--local-provider", "provider", metavar="NAME", shell_complete=complete_provider,
                  help="The provider whose state decides the exit code (default: the one `lmprep` would use).")
    @click.option("-m", "--model", metavar="ID", help="Model to look for on that provider.")
    @click.option("--base-url", metavar="URL", help="Base URL of that provider.")
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout (see the README).")
    @click.option("--connect-timeout", type=float, metavar="S", callback=_positive,
                  help="Seconds to wait for each connection (default 5).")
    @click.option("--read-timeout", type=float, metavar="S", callback=_positive,
                  help="Seconds each server has to answer a request (default 10).")
    @click.option("--timeout", type=float, metavar="S", callback=_positive,
                  help="Seconds to wait for all providers (default 15); one that has not answered is timed_out.")
    @click.option("--config", "config_path", metavar="PATH", help="Config file (default: see `lmprep config path`).")
    def status(provider, model, base_url, as_json, connect_timeout, read_timeout, timeout, config_path) -> None:
        """Show every known and configured provider: state, models, last warm-up.

        Sends only GET requests: nothing is downloaded, loaded or written. Exits 0 when the
        chosen (or only running) provider is ready, else with that state's code.
        """
        from .status_report import StatusReport, status as collect
        from .views import render_status

        try:
            report = collect(provider, model, base_url=base_url, config_path=config_path,
                             connect_timeout=connect_timeout, read_timeout=read_timeout, timeout=timeout)
        except (LmprepError, KeyboardInterrupt, Exception) as exc:
            if isinstance(exc, LmprepError):
                error = exc
            elif isinstance(exc, KeyboardInterrupt):
                error = InterruptedByUserError.from_signal(exc)
            else:
                error = _unexpected(exc)
            report = StatusReport([], None, None, str(_config_path(config_path).value), False, error=error)
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

    return status


def _config_path(config_path: str | None):
    """Where the config file is looked for (--config, LMPREP_CONFIG, the default); never raises."""
    from .config import _config_path as locate

    return locate(Flags(config_path=config_path), os.environ)


def _build_config() -> click.Group:
    @click.group("config", cls=FullHelpGroup)
    def config() -> None:
        """Where the config file is, what each setting resolves to, a starter file."""

    @config.command("path")
    @click.option("--config", "config_path", metavar="PATH", help="Config file to use instead.")
    def path(config_path: str | None) -> None:
        """Print the config file lmprep reads; where that came from goes to stderr."""
        where = _config_path(config_path)
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
        from .views import render_settings, settings_dict

        try:
            settings = resolve_settings(_flags(options))
        except LmprepError as exc:
            if options["as_json"]:
                echo_json(config_error_dict(exc))
                raise SystemExit(int(exc.exit_code)) from None
            _fail(exc)
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
        from .files import NotARegularFile
        from .starter_config import AlreadyExists, write_starter

        where = _config_path(config_path)
        target = where.value
        if target.is_dir():  # not "already exists, use --force", nor "check the folder's permissions"
            from .config import folder_hint

            _fail(NotConfiguredError(f"Cannot write the config file {target}: it is a folder.",
                                     folder_hint(target, where.source)))
        try:
            backup = write_starter(target, force=force)
        except NotARegularFile as exc:  # with --force too: it would be renamed away
            _fail(NotConfiguredError(f"Not writing {target}: it is {exc.what}, not a regular file.",
                                     "lmprep writes its config file only as a regular file (never through a link); "
                                     "give a path with --config, or remove what is there first."))
        except AlreadyExists:
            click.echo(f"Error: {printable(str(target))} already exists; not overwriting it.", err=True)
            click.echo(f"Edit it, or run `lmprep config init --force` to replace it (the old file is kept as "
                       f"{printable(target.name)}.bak, or .bak.1, ...: no backup is overwritten).", err=True)
            raise SystemExit(int(ExitCode.USAGE)) from None
        except (OSError, ValueError) as exc:
            _fail(NotConfiguredError(f"Cannot write {target}: {getattr(exc, 'strerror', None) or exc}.",
                                     "Check the folder's permissions, or give another path with --config."))
        click.echo(printable(f"Wrote {target}" + (f" (the old file is now {backup})" if backup else "")), err=True)

    return config


def _build_bench() -> click.Command:
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
        from .bench import bench_agent
        from .views import render_bench

        reporter = make_reporter(sys.stderr, quiet=options["as_json"])
        readiness = Readiness()
        result = error = None
        try:
            settings = resolve_settings(_flags({**options, "warm_up": "wait"}))
            for warning in settings.warnings:
                reporter(Notice(warning))
            readiness, result, _ = bench_agent(settings, report=reporter, readiness=readiness)
        except LmprepError as exc:
            error = exc
        except KeyboardInterrupt as exc:
            error = InterruptedByUserError.from_signal(exc)
        except Exception as exc:
            error = _unexpected(exc)
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

    return bench


COMPLETION_SHELLS = ("bash", "zsh", "fish")


def _build_completion() -> click.Command:
    @click.command("completion", cls=LmprepCommand, short_help="Print the script that makes bash, zsh or fish complete lmprep.")
    @click.argument("shell", type=click.Choice(COMPLETION_SHELLS))
    def completion(shell: str) -> None:
        """Print the script that makes SHELL complete lmprep's commands, options, providers
        (also the config file's), agents and warm-up modes.

        \b
        eval "$(lmprep completion bash)"     # in ~/.bashrc
        eval "$(lmprep completion zsh)"      # in ~/.zshrc
        lmprep completion fish > ~/.config/fish/completions/lmprep.fish
        """
        from click.shell_completion import get_completion_class

        script = get_completion_class(shell)(cli, {}, "lmprep", COMPLETE_VARIABLE).source()
        click.echo(script)

    return completion


#: The variable through which the shell asks for completions (click's protocol).
COMPLETE_VARIABLE = "_LMPREP_COMPLETE"
LAZY_COMMANDS = {"bench": _build_bench, "completion": _build_completion, "config": _build_config, "env": _build_env, "exec": _build_exec, "status": _build_status}


class UsageError(LmprepError):
    """A command line lmprep cannot parse (a bad option or value): exit 2, as click's own. Only
    for --json's object: the API never raises it."""

    state = "usage_error"
    exit_code = ExitCode.USAGE


def usage_error_json(exc: click.ClickException, args: list[str]) -> None:
    """--json promises one JSON object on stdout, also for a usage error (exit 2): printed
    when the command that failed takes --json (ensure, status, config show) and it was given."""
    if not isinstance(exc, click.UsageError):
        return
    given = args[: args.index("--")] if "--" in args else args
    if "--json" not in given:
        return
    context = exc.ctx
    name = context.command.name if context is not None else "ensure"
    if context is not None and context.parent is None:  # the group: `lmprep` alone is `lmprep ensure`
        name = "ensure"
    error = UsageError(exc.format_message(), _usage_hint(context))
    if name == "ensure":
        echo_json(json_result(Readiness(state=error.state), error, {}))
    elif name == "status":
        from .status_report import StatusReport

        echo_json(StatusReport([], None, None, str(_config_path(None).value), False, error=error).to_dict())
    elif name == "show":
        echo_json(config_error_dict(error))


def config_error_dict(error: LmprepError) -> dict:
    """`config show --json` when the settings cannot be resolved."""
    return {"schema": 1, "ok": False, "state": error.state, "exit_code": int(error.exit_code),
            "error": {"message": error.message, "hint": error.hint}}


def _usage_hint(context: click.Context | None) -> str:
    path = context.command_path if context is not None else "lmprep"
    return f"Run `{path} --help` for the options and their values."


_stopping = False


def _on_signal(signum, frame) -> None:
    """The first SIGINT or SIGTERM raises (KeyboardInterrupt or Terminated), which stops any
    child and ends the run with its exit code and, with --json, its JSON object; later ones
    are ignored, so that this clean-up (bounded: a child gets a few seconds) runs to its end
    instead of ending in a traceback."""
    global _stopping
    if _stopping:
        return
    _stopping = True
    for name in ("SIGINT", "SIGTERM"):
        # Ignored from now on by the OS itself: also while the interpreter shuts down, which
        # restores the default action of the signals it handles.
        try:
            signal.signal(getattr(signal, name), signal.SIG_IGN)
        except (AttributeError, OSError, ValueError):
            pass
    from .errors import Terminated

    raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def install_signal_handlers() -> None:
    for name in ("SIGINT", "SIGTERM"):
        signum = getattr(signal, name, None)
        if signum is not None:
            try:
                signal.signal(signum, _on_signal)
            except (OSError, ValueError):  # not the main thread, or a signal this platform lacks
                pass


class _Output:
    """sys.stdout or sys.stderr as lmprep writes to them. A character the encoding lacks is
    replaced (a model id such as `通义-coder` on a latin-1 stdout, a lone surrogate), and a write
    that fails (a closed pipe, a full disk, /dev/full) ends that stream's output, not the run:
    the run still ends with its own exit code (see _say_lost_output)."""

    def __init__(self, stream) -> None:
        self._stream = stream
        self.failure: OSError | None = None
        try:
            stream.reconfigure(errors="replace")
        except (AttributeError, ValueError, OSError):  # not a TextIOWrapper, or closed
            pass

    def write(self, text):
        if self.failure is None:
            try:
                return self._stream.write(text)
            except OSError as exc:
                self._lose(exc)
        return len(text)

    def flush(self) -> None:
        if self.failure is None:
            try:
                self._stream.flush()
            except OSError as exc:
                self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        self.failure = exc
        # What is still buffered would fail again as the interpreter exits (a traceback and
        # exit 120): from now on the descriptor leads nowhere.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _guard_outputs() -> tuple[_Output | None, _Output | None]:
    guarded = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, _Output):
            guarded.append(None)
            continue
        output = _Output(stream)
        setattr(sys, name, output)
        guarded.append(output)
    return guarded[0], guarded[1]


def _say_lost_output(stdout: _Output | None, stderr: _Output | None) -> None:
    """After the run: a closed stdout pipe (`lmprep status | head -1`) ends quietly; any other
    failure to write stdout (a full disk) is said on stderr, where that can still be written."""
    import errno

    for output in (stdout, stderr):
        if output is not None:
            output.flush()
    failure = stdout.failure if stdout is not None else None
    if failure is not None and failure.errno != errno.EPIPE and stderr is not None:
        stderr.write(f"lmprep: could not write the output: {failure.strerror or failure}.\n")
        stderr.flush()


def main() -> None:
    # httpcore imports trio and anyio when they are installed, only for async use: ~40 ms
    # and ~1.5 ms of start-up that this synchronous command never uses. Library callers keep
    # both; only the lmprep process itself goes without.
    for async_only in ("trio", "anyio"):
        sys.modules.setdefault(async_only, None)  # type: ignore[arg-type]
    install_signal_handlers()
    originals = sys.stdout, sys.stderr
    stdout, stderr = _guard_outputs()
    try:
        _main()
    finally:
        _say_lost_output(stdout, stderr)
        sys.stdout, sys.stderr = originals  # (for callers of main() in the same process, such as tests)


def _main() -> None:
    from .errors import Terminated

    try:
        result = cli.main(prog_name="lmprep", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        usage_error_json(exc, sys.argv[1:])
        usage_error_env(exc, sys.argv[1:])
        raise SystemExit(exc.exit_code) from None
    except (click.Abort, KeyboardInterrupt) as exc:
        # Outside a command's own handling (click's parsing, the config commands): click
        # would say "Aborted!" and exit 1.
        interrupt = exc.__cause__ if isinstance(exc, click.Abort) else exc
        raise SystemExit(int(ExitCode.TERMINATED if isinstance(interrupt, Terminated)
                             else ExitCode.INTERRUPTED)) from None
    raise SystemExit(result if isinstance(result, int) else 0)

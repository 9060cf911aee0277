"""The options of every command that ensures readiness, their checks, and the Flags they become."""

from __future__ import annotations

import os

import click

from ..agents import AGENTS as AGENT_CHOICES
from ..config import NO_AGENT, WARM_UP_MODES, Flags

def _positive(ctx, param, value):
    if value is not None and value <= 0:
        raise click.BadParameter("must be above 0")
    return value


def _duration(ctx, param, value):
    if value is not None:
        from ..config import parse_keep_alive

        try:
            parse_keep_alive(value)
        except ValueError as exc:
            raise click.BadParameter(f"{exc}: give 30m, 2h, 90s, a number of seconds, or -1 for ever") from None
    return value


def _tokens(ctx, param, value):
    if value is not None:
        from ..config import parse_tokens

        try:
            return parse_tokens(value)
        except ValueError as exc:
            raise click.BadParameter(f"{exc}; for example 65536, or 64k (k means 1024)") from None
    return value


def complete_provider(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of -p: the built-in providers, then the config file's own entries
    (of the file --config, LMPREP_CONFIG or the default names; a file that cannot be read adds none)."""
    from click.shell_completion import CompletionItem

    from ..config import Flags, _config_path, _load_file
    from ..providers.kinds import KINDS

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
        ("start", click.option("--no-start", "start", is_flag=True, flag_value=False, default=None,
                               help="Never start a server that is down (by default lmprep starts one on this "
                                    "machine where it knows how: see Starting the server in the README).")),
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


def flags(options: dict) -> Flags:
    return Flags(
        provider=options.get("provider"), model=options.get("model"), base_url=options.get("base_url"),
        warm_up=options.get("warm_up"), offline=options.get("offline"),
        connect_timeout=options.get("connect_timeout"), timeout=options.get("timeout"),
        config_path=options.get("config_path"), min_context=options.get("min_context"),
        agent=options.get("agent"), keep_alive=options.get("keep_alive"),
        read_timeout=options.get("read_timeout"), ignore_fit=options.get("ignore_fit"),
        start=options.get("start"),
    )


def config_file(config_path: str | None):
    """Where the config file is looked for (--config, LMPREP_CONFIG, the default); never raises."""
    from ..config import _config_path as locate

    return locate(Flags(config_path=config_path), os.environ)


def per_server_timeouts(command):
    """--connect-timeout and --read-timeout of the commands that ask many servers at once
    (status, doctor): each connection's and each answer's limit, under the command's --timeout."""
    command = click.option("--read-timeout", type=float, metavar="S", callback=_positive,
                           help="Seconds each server has to answer a request (default 10).")(command)
    return click.option("--connect-timeout", type=float, metavar="S", callback=_positive,
                        help="Seconds to wait for each connection (default 5).")(command)

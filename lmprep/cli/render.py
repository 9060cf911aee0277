"""What the commands print: the ready line, --json's object, errors; every line through echo()
(no secret in it, no escape sequence from a server)."""

from __future__ import annotations

import json
import os
import sys

import click

from ..errors import InternalError, LmprepError
from ..pipeline import Readiness
from ..progress import use_colour
from ..termtext import printable

REPORT_BUG_HINT = (
    "This is a bug in lmprep: please report it to lmprep's maintainers, where you got lmprep, with "
    "the command you ran, `lmprep --version` and the traceback (run it again with LMPREP_DEBUG=1)."
)


JSON_SCHEMA_VERSION = 1


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
        "passed_over": [dict(box) for box in readiness.passed_over],
        "timings_ms": readiness.timings_ms,
        "started": readiness.started,  # the server this run started: {command, pid, log, seconds}; else null
        "error": {"message": error.message, "hint": error.hint} if error else None,
    }


#: Below this window a ready line without --for warns: every coding agent's minimum is above it
#: (aider's 8192 is the smallest, and it fills that with its repository map and files).
AGENT_WINDOW = 16384


def success_line(readiness: Readiness) -> str:
    from ..providers import KINDS

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
    if readiness.started:
        line += "; " + started_text(readiness.started)
    from ..hosts import is_loopback_url

    if readiness.rtt_ms is not None and not is_loopback_url(readiness.base_url):
        line += f"; {readiness.rtt_ms:.0f} ms round trip"  # a shared box: how far away it is
    figures = _bench_figures(readiness)
    if figures:
        line += f"; {figures}"
    return printable(line)  # model ids come from the server: no escape sequence reaches the terminal


def started_text(started: dict) -> str:
    """What a run says of the server it started: "started llama-server (`llama-server -m ...`,
    log ~/.local/state/lmprep/logs/llamacpp-....log)"."""
    import shlex

    from ..dirs import home_dir

    command = started.get("command") or ""
    log = started.get("log") or ""
    home = str(home_dir() or "")
    if home and log.startswith(home.rstrip("/") + "/"):
        log = "~" + log[len(home.rstrip("/")):]
    # The variables lmprep set come first (`OLLAMA_HOST=... ollama serve`): the program is the first word after them.
    words = [word for word in shlex.split(command) if not _assignment(word)] if command else []
    program = words[0] if words else "the server"
    return f"started {program} (`{command}`, log {log})"


def _assignment(word: str) -> bool:
    name, equals, _ = word.partition("=")
    return bool(equals) and name.replace("_", "a").isalnum() and not name[:1].isdigit()


def _bench_figures(readiness: Readiness) -> str | None:
    """The last `lmprep bench` of this server, model and window, in a few words; nothing is
    imported or read where no bench was ever run."""
    from ..dirs import state_dir

    if not os.path.isdir(state_dir() / "bench"):
        return None
    from ..bench import last_result, summary

    record = last_result(readiness.provider, readiness.base_url, readiness.model, readiness.context_length)
    return None if record is None else summary(record)


def first_turn_warnings(readiness: Readiness) -> list[str]:
    """With --for, where a bench projects the agent's first turn beyond a limit it cannot
    raise: the notes its setup gives (nothing is imported where no bench was ever run)."""
    if not readiness.agent:
        return []
    from ..dirs import state_dir

    if not os.path.isdir(state_dir() / "bench"):  # the ready path's usual case: no import at all
        return []
    from ..handoff import measured_first_turn

    first_turn_s = measured_first_turn(readiness, readiness.agent)
    if first_turn_s is None:
        return []
    from ..agents import agent_setup

    try:
        setup = agent_setup(readiness.agent, provider=readiness.provider, kind=readiness.kind,
                            base_url=readiness.base_url, model=readiness.model,
                            context_length=readiness.context_length, first_turn_s=first_turn_s)
    except LmprepError:
        return []
    return [note for note in setup.notes if "first turn is projected" in note]


def print_error(error: LmprepError) -> None:
    colour = use_colour(sys.stderr)
    prefix = click.style("Error:", fg="red", bold=True) if colour else "Error:"
    echo(f"{prefix} {printable(error.message)}", err=True, color=colour)
    if error.hint:
        echo(printable(error.hint), err=True)


def echo(text: str, **options) -> None:
    """Every line lmprep prints goes through here: no secret (token, URL password) in it."""
    from ..redact import redact

    click.echo(redact(text), **options)


def echo_json(value) -> None:
    """The one JSON object of --json, without secrets."""
    from ..redact import redact_data

    click.echo(json.dumps(redact_data(value)))


def agent_label(agent: str) -> str:
    from ..agents import agent_module

    return agent_module(agent).LABEL


def sets_own_window(agent: str, kind: str) -> bool:
    from ..agents import sets_own_window

    return sets_own_window(agent, kind)


def fail(error: LmprepError) -> None:
    print_error(error)
    raise SystemExit(int(error.exit_code))


def as_error(exc: BaseException, interrupted_hint: str | None = None) -> LmprepError:
    """What a command reports for ``exc``, which its core call raised: an LmprepError as it is,
    Ctrl-C or SIGTERM as the interruption (with ``interrupted_hint``, what to run next), anything
    else as a bug in lmprep. The one translation every command's boundary makes."""
    if isinstance(exc, LmprepError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        from ..errors import InterruptedByUserError

        return InterruptedByUserError.from_signal(exc, *((interrupted_hint,) if interrupted_hint else ()))
    return unexpected(exc)


def unexpected(exc: Exception) -> InternalError:
    if os.environ.get("LMPREP_DEBUG"):
        import traceback

        traceback.print_exc()
    return InternalError(f"Unexpected error: {type(exc).__name__}: {exc}", REPORT_BUG_HINT)


def config_error_dict(error: LmprepError) -> dict:
    """`config show --json` when the settings cannot be resolved."""
    return {"schema": 1, "ok": False, "state": error.state, "exit_code": int(error.exit_code),
            "error": {"message": error.message, "hint": error.hint}}

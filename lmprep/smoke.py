"""`lmprep smoke --for AGENT`: run the real agent once, non-interactively, and show that its
first request works instead of inferring it.

The agent gets exactly what `lmprep exec` would give it (handoff.hand_off: the same variables,
files and placed arguments, its own offline switches) and its own headless form (its module's
SMOKE_ARGV: `codex exec`, `claude -p`, ...) with a one-line prompt, in a throw-away folder,
with stdin closed and a time limit. HOME is left as it is: what the agent writes there (its
sessions, its caches) goes where it would under exec. Its requests go through a loopback relay
(relay.py) in front of the server, which notes each one's route, model and status.

Pass: the agent exited 0 within the limit, and the server received at least one chat request
for the model that it answered 2xx. Anything before the agent starts (the server, the model,
the agent's own checks) fails as `lmprep --for AGENT` does, with the same errors.

Core code: no printing, no click; progress goes to ``report``.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import AgentUnsupportedError, ExitCode, NotConfiguredError, SmokeFailedError
from .events import Notice, Reporter, Step, WaitEnded, WaitStarted, ignore
from .relay import Exchange
from .termtext import one_line, seconds_text, strip_ansi

DEFAULT_TIME_LIMIT = 120.0
#: The routes that carry a model's turn (OpenAI Chat Completions and Responses, Anthropic Messages,
#: Ollama's native chat and generate, legacy completions), matched at the end of the path.
CHAT_ROUTES = ("/chat/completions", "/responses", "/messages", "/api/chat", "/api/generate", "/completions")
#: The most of each of the agent's output streams kept from its start (the tail is kept by
#: proc.run_streaming): the first error line is near the start; an agent that floods costs nothing.
OUTPUT_HEAD = 64 * 1024
ERROR_LINE = 300  # characters of the agent's own error line shown
#: Words by which an agent's line says something failed: its first line with a strong one is
#: shown, else its first with a weaker one (a warning that it "could not" do something on the
#: side comes before the error that stopped it: Codex 0.171 with HOME under /tmp).
_STRONG = r"\b(?:error|errors|fatal|exception|failed|unsupported|not supported|refused|unauthorized|forbidden|[45]\d\d)\b"
_WEAK = r"\b(?:failure|invalid|denied|cannot|can't|could not|unable|timed? ?out)\b"
_HARMLESS = ("experimentalwarning", "deprecationwarning", "(use `node --trace")
_WARNING = re.compile(r"^\W*warn(?:ing)?\b", re.IGNORECASE)


@dataclass(frozen=True)
class SmokeResult:
    """One smoke run of a real agent: whether it passed, the agent's own first error line and
    what the server received through the relay."""

    agent: str  # the --for value
    label: str  # "Codex"
    argv: tuple[str, ...]  # the command line run (no token is ever on one)
    passed: bool
    returncode: int | None  # None: not started, or stopped at the time limit
    seconds: float  # the agent's run, start to exit
    time_limit: float
    timed_out: bool = False
    started: bool = True
    first_error: str | None = None  # the agent's own words (its first error line, cleaned)
    reason: str | None = None  # lmprep's: what failed, one line
    hint: str | None = None  # what to do
    requests: tuple[Exchange, ...] = ()
    requests_dropped: int = 0  # noted beyond relay.MAX_RECORDS
    model: str | None = None  # the model the server made ready
    notes: tuple[str, ...] = ()
    check_refused: str | None = None  # lmprep's own --for check that said it would fail (agent_unsupported)
    readiness: object = field(default=None, compare=False, repr=False)  # pipeline.Readiness of the ensure run

    @property
    def chat_requests(self) -> tuple[Exchange, ...]:
        return tuple(sent for sent in self.requests if is_chat(sent))

    @property
    def exit_code(self) -> int:
        """0 passed; 127/126 the agent's program not found / not runnable (as `lmprep exec`);
        14 (smoke_failed) for every other failure of the run."""
        if self.passed:
            return 0
        if not self.started and self.returncode in (126, 127):
            return self.returncode
        return int(ExitCode.SMOKE_FAILED)

    @property
    def state(self) -> str:
        return "ready" if self.passed else "smoke_failed"

    def as_error(self) -> SmokeFailedError | None:
        """The failure as an LmprepError (None when it passed), for a caller that raises."""
        if self.passed:
            return None
        error = SmokeFailedError(self.reason or f"{self.label}'s smoke run failed.", self.hint)
        error.exit_code = self.exit_code  # 127/126 where its program is missing or cannot run
        return error

    def to_dict(self) -> dict:
        return {
            "agent": self.agent, "passed": self.passed, "state": self.state, "exit_code": self.exit_code,
            "argv": list(self.argv), "returncode": self.returncode, "seconds": round(self.seconds, 2),
            "time_limit": self.time_limit, "timed_out": self.timed_out, "started": self.started,
            "first_error": self.first_error, "reason": self.reason, "hint": self.hint, "model": self.model,
            "requests": [sent.to_dict() for sent in self.requests], "requests_dropped": self.requests_dropped,
            "notes": list(self.notes), "check_refused": self.check_refused,
        }


def is_chat(sent: Exchange) -> bool:
    return sent.method == "POST" and sent.path.rstrip("/").endswith(CHAT_ROUTES)


def smoke(settings_or_flags, agent: str, *, time_limit: float = DEFAULT_TIME_LIMIT, report: Reporter = ignore,
          environ: Mapping[str, str] | None = None, readiness=None, on_start=None) -> SmokeResult:
    """Make the server ready for ``agent`` (as `lmprep --for AGENT`, waiting for the load), then
    run the real agent once on SMOKE_PROMPT through a relay, within ``time_limit`` seconds.

    ``settings_or_flags``: config.Settings, or config.Flags to resolve. ``environ``: the
    environment the agent inherits and its program is found on (default: os.environ).
    ``readiness``: a pipeline.Readiness to fill in (a caller that catches an error still knows
    how far the ensure got). ``on_start``: handed the agent's process once it runs (proc.run_streaming),
    for a caller that may have to stop it from another thread (`lmprep doctor --smoke` on Ctrl-C). Raises the ensure's LmprepError when the server is not ready for
    the agent, NotConfiguredError for an agent with no program of its own; a failed run is a
    SmokeResult with ``passed`` False, never an exception.
    """
    from .agents import agent_module
    from .config import Flags, Sourced, resolve_settings

    module = agent_module(agent)
    argv_tail = getattr(module, "SMOKE_ARGV", None)
    if module.COMMAND is None or argv_tail is None:
        raise NotConfiguredError(f"`--for {agent}` is no program of its own: lmprep has nothing to run.",
                                 "Name the agent to run, as in `lmprep smoke --for codex`.")
    environ = dict(os.environ if environ is None else environ)
    settings = resolve_settings(settings_or_flags, environ) if isinstance(settings_or_flags, Flags) else settings_or_flags
    if settings.agent is None or settings.agent.value != agent:
        settings = settings.for_agent(agent)
    # The load is waited for: the time limit is the agent's, not the model's.
    settings = settings._replace(warm_up=Sourced("wait", "smoke"))

    from .launch import NOT_FOUND, cannot_run

    problem = cannot_run(module.COMMAND, environ)  # before any load, as `lmprep exec` asks first
    if problem is not None:
        code, message = problem
        install = getattr(module, "INSTALL", None)
        hint = (f"Install {module.LABEL} with `{install}`, then run this again." if install and code == NOT_FOUND
                else f"Check that {module.COMMAND} on PATH is {module.LABEL}'s program and can be run.")
        return SmokeResult(agent, module.LABEL, (module.COMMAND, *argv_tail), passed=False, returncode=code,
                           seconds=0.0, time_limit=time_limit, started=False, reason=one_line(message), hint=hint)

    from .pipeline import Readiness, run_ensure

    readiness = readiness if readiness is not None else Readiness()
    refusal = None
    try:
        run_ensure(settings, report=report, readiness=readiness, hand_off=True)
    except AgentUnsupportedError as exc:
        # lmprep's own check says the agent's requests will fail (a route, tools, streaming): the
        # agent is run all the same, so that its own words and the server's status show whether
        # that is so, where the server and the model are known.
        if not (readiness.provider and readiness.base_url and readiness.model):
            raise
        refusal = exc
        report(Notice(f"{exc.message} lmprep runs {module.LABEL} all the same, to show what it says."))
    return _run(settings, readiness, module, agent, argv_tail, time_limit, report, environ, refusal, on_start)


def _run(settings, readiness, module, agent: str, argv_tail, time_limit: float, report: Reporter,
         environ: dict[str, str], refusal, on_start=None) -> SmokeResult:
    from .agents import place
    from .handoff import hand_off
    from .http import verify_for
    from .relay import Relay

    chosen = settings.providers[readiness.provider]
    verify = verify_for(readiness.base_url, chosen.ca_cert.value if chosen.ca_cert else None)
    notes: list[str] = []
    if readiness.base_url.startswith("https:"):
        notes.append(f"{module.LABEL} reached the server through lmprep's relay over plain http on 127.0.0.1: "
                     "its own trust of the server's certificate was not tried.")
    with Relay(readiness.base_url, verify=verify, connect_timeout=settings.connect_timeout.value,
               read_timeout=time_limit) as relay:
        setup = hand_off(settings, readiness, agent, environ=environ, base_url=relay.base_url)
        argv, notices = place(agent, [module.COMMAND, *argv_tail], setup)
        notes.extend([*setup.notes, *notices])
        outcome = _Output()
        report(Step(f"Running {module.LABEL} once on a one-line prompt in a throw-away folder "
                    f"(time limit {seconds_text(time_limit)} s)"))
        report(WaitStarted(f"Waiting for {module.LABEL}"))
        started = time.monotonic()
        returncode = None
        timed_out = False
        launch_error = None
        folder = tempfile.mkdtemp(prefix="lmprep-smoke-")
        try:
            returncode = _child(argv, {**environ, **setup.variables}, folder, time_limit, outcome, on_start)
        except TimeoutError:
            timed_out = True
        except OSError as exc:
            launch_error = one_line(f"{module.COMMAND}: cannot run it: {exc.strerror or exc}")
        finally:
            # What the agent left there (read-only files too) goes; a file that cannot be removed
            # is no failure of the run.
            if sys.version_info >= (3, 12):
                shutil.rmtree(folder, onexc=_writable_then_again)
            else:
                shutil.rmtree(folder, onerror=_writable_then_again)
        seconds = time.monotonic() - started
        relay.settle()
        exchanges, dropped = tuple(relay.exchanges), relay.dropped
    result = _judge(agent, module.LABEL, tuple(argv), readiness, exchanges, dropped, returncode, seconds, time_limit,
                    timed_out, launch_error, outcome, tuple(notes), refusal)
    report(WaitEnded(f"{module.LABEL} {'passed' if result.passed else 'failed'}", seconds, ok=result.passed))
    return result


def _writable_then_again(function, path, _exc) -> None:
    try:
        os.chmod(os.path.dirname(path), 0o700)
        os.chmod(path, 0o700)
        function(path)
    except OSError:
        pass


class _Output:
    """The start of each of the agent's streams (OUTPUT_HEAD bytes), and its tail once it ends."""

    def __init__(self) -> None:
        self.head = {"stdout": bytearray(), "stderr": bytearray()}
        self.tail = {"stdout": "", "stderr": ""}

    def __call__(self, data: bytes, stream: str) -> None:
        head = self.head[stream]
        if len(head) < OUTPUT_HEAD:
            head += data[: OUTPUT_HEAD - len(head)]

    def lines(self, stream: str) -> list[str]:
        text = self.head[stream].decode("utf-8", "replace")
        if len(self.head[stream]) >= OUTPUT_HEAD:  # cut: the end as the child's tail has it
            text += "\n" + self.tail[stream]
        # \r redraws (spinners) become separate lines; escapes and controls go.
        return [line for line in (one_line(strip_ansi(part), ERROR_LINE) for part in re.split(r"[\r\n]+", text))
                if line]


def _child(argv: list[str], env: dict[str, str], folder: str, time_limit: float, outcome: _Output,
           on_start=None) -> int:
    from .deadline import Deadline
    from .proc import run_streaming

    result = run_streaming(argv, on_output=outcome, deadline=Deadline(None), doing=f"running {argv[0]}", env=env,
                           timeout=time_limit, cwd=folder, on_start=on_start)
    outcome.tail = {"stdout": result.stdout_tail, "stderr": result.stderr_tail}
    return result.returncode


def first_error_line(outcome: _Output) -> str | None:
    """The agent's own first line that says something failed (stderr first, then stdout; a
    strong word before a weak one, a warning last); else the last line it wrote to stderr, else
    to stdout; None when it wrote nothing."""
    streams = [outcome.lines("stderr"), outcome.lines("stdout")]
    for pattern, warnings in ((_STRONG, False), (_WEAK, False), (_STRONG, True), (_WEAK, True)):
        found = re.compile(pattern, re.IGNORECASE)
        for lines in streams:
            for line in lines:
                if bool(_WARNING.match(line)) != warnings or any(word in line.lower() for word in _HARMLESS):
                    continue
                if found.search(line):
                    return line
    for lines in streams:
        if lines:
            return lines[-1]
    return None


def _same_model(sent: str | None, model: str) -> bool:
    # An Ollama model is named with and without its default tag (llama3 == llama3:latest).
    return sent is not None and (sent == model or sent.removesuffix(":latest") == model.removesuffix(":latest"))


def _judge(agent, label, argv, readiness, exchanges, dropped, returncode, seconds, time_limit, timed_out,
           launch_error, outcome, notes, refusal=None) -> SmokeResult:
    model = readiness.model
    chats = [sent for sent in exchanges if is_chat(sent)]
    answered = [sent for sent in chats if _same_model(sent.model, model) and sent.ok]
    exited_ok = returncode == 0 and not timed_out and launch_error is None
    passed = exited_ok and bool(answered)
    reason = hint = None
    failed = next((sent for sent in chats if not sent.ok), None)
    if launch_error is not None:
        reason, hint = launch_error, f"Check that {argv[0]} can be run, then run this again."
    elif timed_out:
        reason = f"{label} did not finish within {seconds_text(time_limit)} s."
        hint = ("Give it longer with --time-limit (a slow machine or a large prompt), or look at what the server "
                "received." if answered or not failed else "See the server's answer below.")
    elif returncode != 0:
        reason = f"{label} exited with status {returncode}."
    elif not chats:
        reason = f"{label} exited 0, but the server received no chat request from it."
        hint = "Check that the agent used the server lmprep set up for it (see `lmprep env --for AGENT`)."
    elif not answered:
        if failed is None:
            others = sorted({sent.model or "no model" for sent in chats})
            reason = f"{label} asked the server for {', '.join(others)}, not {model}."
        else:
            reason = f"{label} exited 0, but the server did not answer its chat request with 2xx."
    if not passed and hint is None:
        if refusal is not None and refusal.hint:
            hint = refusal.hint  # lmprep's check saw it coming, and knows the fix
        elif failed is not None:
            said = (f"The server answered {failed.method} {failed.path} with {failed.status or 'nothing'}: "
                    f"{failed.error or 'no reason given'}.")
            if failed.status in (401, 403):
                advice = ("The token the agent sent was missing or refused: give the server's token with "
                          "`api_key_env` under its [providers.NAME] (the notes say where an agent cannot take one).")
            elif failed.status is None:
                advice = "Check that the server is still running, then run this again."
            else:
                advice = f"`lmprep --for {agent}` checks the route and request shape the agent needs."
            hint = f"{said} {advice}"
        else:
            hint = f"Run it yourself to see all it says: `lmprep exec --for {agent} -- {argv[0]}`."
    if passed and refusal is not None:
        notes = (*notes, f"lmprep's check refused this server for {label} ({refusal.message}), yet its first "
                         "request worked: please report this at lmprep's issue tracker.")
    first_error = None if passed else first_error_line(outcome)
    return SmokeResult(agent, label, argv, passed=passed, returncode=None if timed_out else returncode,
                       seconds=seconds, time_limit=time_limit, timed_out=timed_out,
                       started=launch_error is None, first_error=first_error, reason=reason, hint=hint,
                       requests=exchanges, requests_dropped=dropped, model=model, notes=notes,
                       check_refused=None if refusal is None else refusal.message, readiness=readiness)

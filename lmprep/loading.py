"""The last step of the pipeline: the model loaded as the next agent will find it.

Look at what the server has loaded and with which window; check, without loading anything,
that it serves the route the agent sends; decide whether a load is needed; load in the
foreground or in a detached process; then verify: read back the window the server really
has, and send the agent's first request in miniature.
"""

from __future__ import annotations

import time

from .config import FOREVER, Settings
from .deadline import Deadline
from .errors import AgentUnsupportedError, ContextTooSmallError, WarmupFailedError
from .events import Notice, Reporter, Step, WaitEnded, WaitStarted
from .providers.base import WARM_UP_READ_TIMEOUT, ModelState
from .warmup import LoadJob, WarmUp


class ActionNeeded(Exception):
    """A run asked to check without acting (pipeline.run_ensure with ``act=False``, as `lmprep
    doctor` runs it) reached a step that acts: a load (``state`` "needs_load") or a download
    ("needs_download"), after which the checks that need it would run. Not an LmprepError: nothing
    failed, and it has no exit code of the ensure table."""

    def __init__(self, state: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.state = state
        self.message = message
        self.hint = hint


def ensure_command(settings: Settings) -> str:
    """The `lmprep` command line that makes these settings' provider ready for their agent."""
    agent = f" --for {settings.agent.value}" if settings.agent else ""
    provider = f" -p {settings.provider.value}" if settings.provider else ""
    return f"lmprep{agent}{provider}"


def ensure_loaded(provider, chosen, model: str, settings: Settings, report: Reporter, deadline: Deadline,
                  background: str, readiness, hand_off: bool = False, act: bool = True) -> WarmUp:
    """Warm up as ``settings`` ask, and return what happened. ``hand_off``: an agent is told the
    window next (env/exec), so a load that decides it is waited for. ``act=False``: every check
    that needs no load, then ActionNeeded where the model would be loaded."""
    mode = settings.warm_up.value
    needed = settings.min_context.value
    source = settings.min_context.source
    agent = settings.agent.value if settings.agent else None
    needs = _needs(agent, provider.kind)
    required = needed  # the window the model must hold, also where the agent asks for it itself
    if needed and agent is not None and source == f"--for {agent}" and _sets_own_window(agent, provider.kind):
        _check_own_window(provider, model, agent, needed, report)
        needed = None  # the agent's own minimum: it asks for that window itself
    keep_alive = settings.keep_alive.value
    if mode == "off" and not needed and needs is None and keep_alive is None:
        return WarmUp("off", "off")  # nothing to look at: the ready path sends no more requests
    if keep_alive is not None and not provider.honours_keep_alive:
        report(Notice(f"{provider.label} decides how long {model} stays loaded; --keep-alive does not apply."))
        keep_alive = None

    state = provider.model_state(model)
    readiness.context_length = state.context if state.loaded else None
    _check_maximum(provider, model, state, needed, source)
    # The agent's route, the server's version and what it says of the model's tools were checked
    # before any download (pipeline.run_ensure); what needs the loaded model is checked below.
    job = LoadJob(model, _context_to_load(provider, model, state, needed, source, report), keep_alive,
                  needed, source, agent)

    if state.loaded and job.context_length is None:
        _note_cpu(provider, model, state, report, readiness)
        return _already_loaded(provider, job, mode, deadline, report, act)
    if mode == "off" and job.context_length is None and agent is None:
        return WarmUp("off", "off")
    _check_load_blocker(provider, model)
    _check_fit(provider, model, job.context_length or required, required, settings, report,
               state.context if state.loaded else None)

    from .warmup import previous_failure, state_file_for

    state_file = state_file_for(chosen.name, chosen.base_url.value, model)
    failure = previous_failure(state_file, model) if not state.loaded else None
    if not act:
        raise _load_needed(provider, job, state, needs, agent, settings, failure)
    # Under --for the ready line rests only on what was checked: the window and the agent's first
    # request need the model loaded, so that load is waited for, even with --warm-up off.
    foreground = mode != "background" or failure is not None or agent is not None or (bool(needed) and hand_off)
    if not foreground:
        readiness.context_length = None  # what the load will give is not known yet: never the old window
        return _start_background(provider, chosen, job, settings, background, state_file, report)
    if failure is not None:
        reason = str(failure.get("error") or "its process ended without saying why").rstrip(".")
        report(Notice(f"The last background load of {model} failed: {reason}. Loading it in the foreground."))
    elif mode == "background" or (mode == "off" and agent is not None):
        checks = _what_a_load_checks(needs, needed, agent)
        report(Step(f"Waiting for the load: only a finished load shows {checks}" if mode == "background"
                    else f"Loading {model} although --warm-up is off: only a load shows {checks}"))
    return _load_in_foreground(provider, chosen, job, mode, deadline, state_file, report, readiness)


def load_and_verify(provider, job: LoadJob, read_timeout: float | None, report: Reporter | None = None,
                    on_loaded=None) -> ModelState:
    """Load ``job.model``, read back the window the server gave it, and send the agent's first
    request; returns what the server then says of the model (its window None where it does not
    say). Shared by the foreground and the background child, whose failures the next run reads.
    ``on_loaded()`` is called once the load itself worked, before the checks that follow it."""
    provider.warm_up(job.model, read_timeout, job.context_length, job.keep_alive)
    if on_loaded is not None:
        on_loaded()
    state = provider.model_state(job.model)
    context = state.context
    if job.needed and context is not None and context < job.needed:
        raise too_small(provider, job.model, context, job.needed, job.needed_source)
    if job.needed and context is None and report is not None:
        report(_window_unknown(provider, job.model, job.needed))
    _send_agents_request(provider, job, read_timeout)
    return state


def _what_a_load_checks(needs, needed: int | None, agent: str | None) -> str:
    """What only a finished load can confirm, for the line that says why lmprep waits."""
    who = needs.agent if needs is not None else (_label(agent) if agent else "the agent")
    if needed and needs is not None:
        return f"that it holds the {needed} tokens of context {who} needs and answers its first request"
    if needed:
        return f"that it holds the {needed} tokens of context {who} needs"
    return f"that it answers {who}'s first request"


def _label(agent: str) -> str:
    from .agents import agent_module

    return agent_module(agent).LABEL


def _sets_own_window(agent: str, kind: str) -> bool:
    from .agents import sets_own_window

    return sets_own_window(agent, kind)


def _check_own_window(provider, model: str, agent: str, needed: int, report: Reporter) -> None:
    """An agent that asks this server for its window with each request (aider on Ollama) needs
    no loaded window of its own: nothing to check but that the model can hold that much."""
    _check_maximum(provider, model, provider.model_state(model), needed, f"--for {agent}")
    report(Step(f"{_label(agent)} sets {provider.label}'s context window itself with each request: "
                "the window it is loaded with does not matter"))


def _check_load_blocker(provider, model: str) -> None:
    """Before a load: what makes the server fail it whatever the window (an Ollama lmprep started
    with OLLAMA_KV_CACHE_TYPE=q8_0 and OLLAMA_FLASH_ATTENTION=0) is said now, not as the server's
    HTTP 500 after it; a refusal, so no warm-up is recorded."""
    blocker = provider.load_blocker(model)
    if blocker is not None:
        what, fix = blocker
        raise WarmupFailedError(f"{provider.label} cannot load {model}: {what}.",
                                f"{fix} where {provider.label} runs, restart it, and run lmprep again.")


def _check_fit(provider, model: str, window: int | None, required: int | None, settings: Settings,
               report: Reporter, loaded_window: int | None) -> None:
    """Before a load: the memory it needs at its window against the memory free where the model
    runs (lmprep/fit.py). A required window that does not fit is refused (ContextTooSmallError)
    unless --ignore-fit; any other is loaded, with a warning."""
    from .fit import check_fit, does_not_fit, fit_statement, ways_out

    ignore = bool(settings.ignore_fit.value)
    fit = check_fit(provider, model, window, refuse=bool(required) and not ignore, loaded_window=loaded_window)
    if fit is None:
        return
    if fit.fits:
        report(Step(f"Estimated: {fit_statement(fit)}"))
    else:
        report(Notice(f"{does_not_fit(fit, provider.label, refused=False)} "
                      f"{ways_out(provider.kind, fit, ignore_hint=False)}"))


def _note_cpu(provider, model: str, state: ModelState, report: Reporter, readiness) -> None:
    """A model partly (or wholly) in system memory runs on the CPU: agents crawl. Say so, with the
    fix; under --for a heavy spill comes with the ways out of the memory estimate."""
    readiness.cpu_percent = state.cpu_percent
    if state.cpu_percent:
        from .fit import HEAVY_SPILL_PERCENT, ways_out

        heavy = readiness.agent is not None and state.cpu_percent > HEAVY_SPILL_PERCENT
        fix = ways_out(provider.kind, None, ignore_hint=False) if heavy else provider.cpu_hint()
        report(Notice(f"{provider.label} runs {state.cpu_percent}% of {model} on the CPU: it did not fit in GPU "
                      f"memory, and the agent will be slow. {fix}"))


def too_small(provider, model: str, loaded: int, needed: int, source: str) -> ContextTooSmallError:
    return ContextTooSmallError(
        f"{provider.label} has {model!r} loaded with a {loaded}-token context window; {needed} are required "
        f"(from {source}).",
        provider.context_fix_hint(needed),
    )


def agent_needs_for(settings: Settings, kind: str):
    """What the agent of --for sends to a ``kind`` server (None: no agent, or its native API)."""
    return _needs(settings.agent.value if settings.agent else None, kind)


def _needs(agent: str | None, kind: str):
    if agent is None:
        return None
    from .agents import agent_needs

    return agent_needs(agent, kind)


def _send_agents_request(provider, job: LoadJob, read_timeout: float | None) -> None:
    needs = _needs(job.agent, provider.kind)
    if needs is not None:
        from .protocols import check_request

        check_request(provider, needs, job.model, read_timeout)


def _window_unknown(provider, model: str, needed: int) -> Notice:
    return Notice(f"{provider.label} does not say which window {model} is loaded with; "
                  f"cannot check that it holds {needed} tokens.")


def _check_maximum(provider, model: str, state: ModelState, needed: int | None, source: str) -> None:
    if needed and state.maximum is not None and state.maximum < needed:
        raise ContextTooSmallError(
            f"{model!r} supports at most {state.maximum} tokens of context, fewer than the {needed} required "
            f"(from {source}).",
            f"Choose a model with a larger context window, or ask for at most that with --min-context {state.maximum}.",
        )


def _context_to_load(provider, model: str, state: ModelState, needed: int | None, source: str,
                     report: Reporter) -> int | None:
    """The window to load the model with (None: as the server chooses), or ContextTooSmallError
    where it is loaded with too small a window that cannot be changed here."""
    if not needed or not provider.can_set_context:
        if needed and state.loaded and state.context is not None and state.context < needed:
            raise too_small(provider, model, state.context, needed, source)
        if needed and state.loaded and state.context is None:
            report(_window_unknown(provider, model, needed))
        return None
    if state.loaded and state.context is not None and state.context >= needed:
        return None
    if state.loaded and state.context is not None:
        report(Step(f"{model} is loaded with {state.context} tokens of context; reloading it with {needed}"))
    return needed


def _what_failed(exc: BaseException) -> str:
    if isinstance(exc, ContextTooSmallError):
        return "with too small a context window"
    if isinstance(exc, AgentUnsupportedError):
        return "the agent's first request was refused"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted before its checks ended"
    return "the checks after the load failed"


def _load_needed(provider, job: LoadJob, state: ModelState, needs, agent: str | None, settings: Settings,
                 failure: dict | None) -> ActionNeeded:
    """Where a run that acts would load ``job.model``: what only that load can show, and how to get it."""
    checks = _what_a_load_checks(needs, job.needed, agent)
    if state.loaded and job.context_length is not None:
        what = (f"{job.model} is loaded on {provider.label} with {state.context} tokens of context: lmprep would "
                f"reload it with {job.context_length}, and only that load shows {checks}")
    elif state.loaded is None:  # a generic server, LiteLLM: a request is what loads it
        what = f"{provider.label} does not say whether {job.model} is loaded: only a load shows {checks}"
    else:
        what = f"{job.model} is not loaded on {provider.label}: only a load shows {checks}"
    if failure is not None:
        what += f" (its last load failed: {str(failure.get('error') or 'its process ended without saying why').rstrip('.')})"
    return ActionNeeded("needs_load", f"{what}.",
                        f"`lmprep doctor --load` loads it and checks (as `{ensure_command(settings)}` does).")


def _already_loaded(provider, job: LoadJob, mode: str, deadline: Deadline, report: Reporter,
                    act: bool = True) -> WarmUp:
    """Loaded with the window needed: no warm-up; how long it stays, and the agent's first request
    (which a loaded model answers without a load: ``act=False`` sends it too)."""
    if job.keep_alive is not None and act:
        read_timeout = deadline.cap(WARM_UP_READ_TIMEOUT, f"keeping {job.model} loaded")
        if not provider.refresh_keep_alive(job.model, job.keep_alive, read_timeout):
            report(Notice(f"{job.model} is loaded already: {provider.label} keeps the time it was loaded for, "
                          "and --keep-alive applies the next time lmprep loads it."))
    _send_agents_request(provider, job, deadline.cap(WARM_UP_READ_TIMEOUT, f"checking {job.model}'s first request"))
    return WarmUp(mode, "loaded")


def _start_background(provider, chosen, job: LoadJob, settings: Settings, background: str, state_file,
                      report: Reporter) -> WarmUp:
    from .lock import FileLock, lock_path
    from .warmup import NotRecorded, start_detached, start_in_thread

    lock = FileLock(lock_path(chosen.name, chosen.base_url.value, job.model, "load"))
    if not lock.try_acquire():
        report(Step(f"Another lmprep is loading {job.model} already"))
        return WarmUp(settings.warm_up.value, "started", None, str(state_file))
    start = start_in_thread if background == "thread" else start_detached
    try:
        start(chosen, job, state_file, settings.http_timeouts(), lock=lock)
    except NotRecorded as exc:
        report(Notice(f"The background load of {job.model} was not started: its record cannot be written to "
                      f"{exc.path} ({exc.reason}), and a load nobody can check is not trusted. Free some space or "
                      "fix that folder's permissions, or load it now with --warm-up wait."))
        return WarmUp(settings.warm_up.value, "not_started", None, None)
    except BaseException:
        lock.release()
        raise
    return WarmUp(settings.warm_up.value, "started", None, str(state_file))


def _replace_background_load(state_file, job: LoadJob, report: Reporter) -> bool:
    """A background load that lmprep started with another window is stopped rather than waited
    for: its load would be undone by the reload this one needs. LM Studio (and Lemonade) load
    with the window a request gives (LM Studio's REST load takes `context_length`), and the
    foreground load that follows unloads whatever instance the stopped one left."""
    from .warmup import read_state, stop_background_load

    record = read_state(state_file) or {}
    if record.get("status") != "running" or record.get("mode") != "background" \
            or record.get("model") != job.model or record.get("requested_context") == job.context_length:
        return False
    if not stop_background_load(record.get("pid")):
        return False
    window = record.get("requested_context")
    was = f"{window} tokens" if isinstance(window, int) else "the server's default window"
    report(Step(f"Stopped the background load of {job.model} ({was}): loading it with "
                f"{job.context_length} tokens instead"))
    return True


def _load_in_foreground(provider, chosen, job: LoadJob, mode: str, deadline: Deadline, state_file,
                        report: Reporter, readiness) -> WarmUp:
    from .lock import FileLock, lock_path
    from .warmup import recorded

    model = job.model
    with FileLock(lock_path(chosen.name, chosen.base_url.value, model, "load")) as lock:
        acquired = replaced = False
        if job.context_length is not None:  # a reload: a background load at another window is replaced
            acquired = lock.try_acquire()
            replaced = not acquired and _replace_background_load(state_file, job, report)
        waited = False if acquired else lock.acquire(
            deadline, f"waiting for another lmprep to load {model}",
            on_wait=lambda: None if replaced else report(Notice(f"Another lmprep is loading {model}; waiting for it")))
        if waited:  # that load may have done what this one would
            state = provider.model_state(model)
            job = job._replace(context_length=_context_to_load(provider, model, state, job.needed,
                                                               job.needed_source, report))
            if state.loaded and job.context_length is None:
                readiness.context_length = state.context
                _note_cpu(provider, model, state, report, readiness)
                return _already_loaded(provider, job, mode, deadline, report)
        window = f" with {job.context_length} tokens of context" if job.context_length else ""
        forever = " (kept loaded for ever)" if job.keep_alive == FOREVER else ""
        report(WaitStarted(f"Loading {model}{window}{forever}"))
        started = time.monotonic()
        loaded: list[float] = []  # when the load itself worked: a check after it is what failed
        try:
            with recorded(state_file, chosen, job, "wait") as record:
                read_timeout = deadline.cap(WARM_UP_READ_TIMEOUT, f"loading {model}")
                state = load_and_verify(provider, job, read_timeout, report,
                                        on_loaded=lambda: loaded.append(time.monotonic()))
                record["context_length"] = state.context
        except BaseException as exc:
            if loaded:
                report(WaitEnded(f"Loaded {model}, but {_what_failed(exc)}", loaded[0] - started, ok=False))
            else:
                report(WaitEnded(f"Loading {model} failed", time.monotonic() - started, ok=False))
            # A load was sent and recorded: `--json` says so ("error"), not "not_started" as for a
            # run refused before any load (the fit check, the model's maximum, load_blocker()).
            outcome = "error" if isinstance(exc, Exception) else "interrupted"  # as its record says it
            readiness.warm_up = WarmUp(mode, outcome, round(time.monotonic() - started, 3), str(state_file))
            raise
    seconds = time.monotonic() - started
    report(WaitEnded(f"Loaded {model}", seconds, ok=True))
    readiness.context_length = record["context_length"]
    _note_cpu(provider, model, state, report, readiness)
    return WarmUp(mode, "ok", round(seconds, 3))

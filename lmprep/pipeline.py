"""ensure_oss_ready: resolve → probe → ensure the model → warm up."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from .config import SOURCE_AUTO, Flags, ProviderSettings, Settings, Sourced, resolve_settings
from .deadline import Deadline
from .errors import LmprepError, ModelMissingError, NotConfiguredError, UnreachableError
from .events import Notice, Reporter, Step, ignore
from .hosts import is_loopback_url
from .loading import ActionNeeded, agent_needs_for, ensure_command, ensure_loaded
from .providers import KINDS, open_provider
from .warmup import WarmUp


class Readiness:
    """The outcome of one ensure run; on failure the error carries the fields known so far.

    A plain class, not a dataclass: it is built on every run, and the dataclasses machinery
    costs about 2 ms of start-up, more than the rest of this module."""

    __slots__ = ("provider", "provider_source", "kind", "base_url", "base_url_source", "model", "model_source",
                 "state", "downloaded", "warm_up", "context_length", "agent", "cpu_percent", "timings_ms", "rtt_ms",
                 "passed_over", "started")

    def __init__(
        self,
        provider: str | None = None,
        provider_source: str | None = None,
        kind: str | None = None,
        base_url: str | None = None,
        base_url_source: str | None = None,
        model: str | None = None,
        model_source: str | None = None,
        state: str = "ready",
        downloaded: bool = False,
        warm_up: WarmUp | None = None,
        context_length: int | None = None,  # the window the server has the model loaded with, where it was read
        agent: str | None = None,  # --for: the agent whose first request was checked
        cpu_percent: int | None = None,  # share of the loaded model run on the CPU, where the server says
        timings_ms: dict[str, float] | None = None,
        rtt_ms: float | None = None,  # the probe's round trip to the server (its connection included)
        passed_over: list[dict] | None = None,  # `-p box1,box2`: the boxes tried first, and why not them
        started: dict | None = None,  # the server this run started: {command, pid, log, seconds}; None: none
    ) -> None:
        self.provider = provider
        self.provider_source = provider_source
        self.kind = kind
        self.base_url = base_url
        self.base_url_source = base_url_source
        self.model = model
        self.model_source = model_source
        self.state = state
        self.downloaded = downloaded
        self.warm_up = warm_up
        self.context_length = context_length
        self.agent = agent
        self.cpu_percent = cpu_percent
        self.timings_ms = {} if timings_ms is None else timings_ms
        self.rtt_ms = rtt_ms
        self.passed_over = [] if passed_over is None else passed_over
        self.started = started

    @property
    def ok(self) -> bool:
        return self.state == "ready"

    def to_dict(self) -> dict:
        """Every field by name (``warm_up`` as a dict too); a copy, safe to change."""
        values = {name: getattr(self, name) for name in self.__slots__}
        values["warm_up"] = None if self.warm_up is None else self.warm_up._asdict()
        values["timings_ms"] = dict(self.timings_ms)
        values["passed_over"] = [dict(box) for box in self.passed_over]
        values["started"] = None if self.started is None else dict(self.started)
        return values

    def __eq__(self, other: object) -> bool:
        if type(other) is not Readiness:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # mutable, like the dataclass it was

    def __repr__(self) -> str:
        return f"Readiness({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"


def ensure_oss_ready(
    provider: str | None = None,
    model: str | None = None,
    *,
    base_url: str | None = None,
    warm_up: str = "background",
    offline: bool = False,
    config_path: str | None = None,
    on_progress: Reporter | None = None,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    timeout: float | None = None,
    min_context: int | None = None,
    agent: str | None = None,
    keep_alive: str | float | None = None,
    env: Mapping[str, str] | None = None,
    ignore_fit: bool = False,
    start: bool = True,
) -> Readiness:
    """Make a local provider ready: server answering, model on disk, model loading or loaded
    (with at least ``min_context`` tokens of context window, where given). With ``agent``
    ("codex", "claude", ...), ready for that agent: its minimum window, and the route and
    request shape it sends. ``keep_alive`` ("30m", "2h", seconds, -1 for ever) goes with the load.
    ``ignore_fit``: load a required window that the memory estimate says will not fit (--ignore-fit).
    ``start``: start a server on this machine that is down, where lmprep knows how (False: --no-start);
    it outlives this process (``Readiness.started`` says what was started).

    Raises an LmprepError subclass (with ``.state``, ``.exit_code``, ``.hint``) when it cannot.
    A background warm-up runs in a daemon thread of this process.
    """
    flags = Flags(
        provider=provider, model=model, base_url=base_url, warm_up=warm_up, offline=offline or None,
        connect_timeout=connect_timeout, timeout=timeout, config_path=config_path, min_context=min_context,
        agent=agent, keep_alive=keep_alive, read_timeout=read_timeout, ignore_fit=ignore_fit or None,
        start=None if start else False,
    )
    settings = resolve_settings(flags, env)
    return run_ensure(settings, report=on_progress or ignore, background="thread")


def run_ensure(
    settings: Settings,
    *,
    report: Reporter = ignore,
    background: str = "process",
    readiness: Readiness | None = None,
    hand_off: bool = False,
    deadline: Deadline | None = None,
    act: bool = True,
) -> Readiness:
    """The pipeline on resolved settings. ``readiness`` is filled in as it goes, so a caller
    that catches the error still knows how far it got. ``hand_off``: the caller tells an agent
    the window next (env, exec), so a load that decides it is waited for. ``deadline``: one
    shared with other runs (`lmprep doctor`), instead of the settings' own --timeout.

    ``act=False`` runs every check that needs no download and no load, and raises ActionNeeded
    where the next step would be one (`lmprep doctor`): the same checks, in the same order, with
    the same errors as a run that acts, up to that step."""
    readiness = readiness if readiness is not None else Readiness()
    if settings.provider is not None and "," in settings.provider.value:
        return _first_ready_box(settings, report, background, readiness, hand_off, deadline, act)
    readiness.agent = settings.agent.value if settings.agent else None
    started = time.perf_counter()
    deadline = deadline if deadline is not None else Deadline(settings.timeout.value)
    timings = readiness.timings_ms

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round((now - since) * 1000, 1)
        return now

    try:
        mark = time.perf_counter()
        chosen = _choose_provider(settings, report, readiness, deadline)
        settings = settings.for_provider(chosen.name)  # its own `for = `, now that it is known
        readiness.agent = settings.agent.value if settings.agent else None
        mark = lap("resolve", mark)
        with open_provider(chosen, **settings.http_timeouts(), deadline=deadline,
                           report=report, stall_timeout=settings.stall_timeout.value) as provider:
            if readiness.provider_source != SOURCE_AUTO:  # found by auto-detection: "Found ..." said it
                report(Step(f"Checking {provider.label} at {provider.base_url}"))
                try:
                    listing = provider.probe()  # chosen by name: the server must answer as that kind
                except UnreachableError as exc:
                    listing = _start_and_probe(provider, chosen, settings, exc, report, deadline, readiness, act)
            else:
                listing = provider.list_models()  # auto-detection identified it already
            readiness.rtt_ms = provider.http.first_round_trip_ms
            mark = lap("probe", mark)
            model = readiness.model or _served_model(provider, listing, readiness)
            needs = agent_needs_for(settings, provider.kind)
            served = provider.served_name(model, listing)
            if served is not None and served != model:
                model = _respelled(provider, model, served, report, readiness)
            if needs is not None:  # what the agent needs and no model decides: before any download or load
                from .protocols import check_route, check_tools

                report(Step(f"Checking that {provider.label} serves {needs.protocol.label}, as {needs.agent} needs"))
                check_route(provider, needs)
                if served is not None:
                    check_tools(provider, needs, model)
            if served is None:
                _obtain_model(provider, model, settings, report, readiness, listing, act)
                if needs is not None:
                    check_tools(provider, needs, model)  # the server knows the model now: before the load
                mark = lap("download", mark)
            readiness.warm_up = ensure_loaded(provider, chosen, model, settings, report, deadline, background,
                                              readiness, hand_off, act)
            lap("warm_up", mark)
    except LmprepError as exc:
        readiness.state = exc.state
        exc.readiness = readiness
        if readiness.started is not None:  # it answers, and lives on after this failure: say so
            pid = readiness.started["pid"]
            kept = (f"The server lmprep started for this run keeps running ({f'pid {pid}, ' if pid else ''}"
                    f"log {readiness.started['log']}).")
            exc.hint = f"{exc.hint} {kept}" if exc.hint else kept
        raise
    except ActionNeeded as exc:
        readiness.state = exc.state
        raise
    except KeyboardInterrupt:
        readiness.state = "interrupted"
        raise
    finally:
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
    return readiness


def _start_and_probe(provider, chosen: ProviderSettings, settings: Settings, error: UnreachableError,
                     report: Reporter, deadline: Deadline, readiness: Readiness, act: bool = True) -> list[str]:
    """The server did not answer: start it where lmprep can (server_start.py, which raises
    ``error`` where it does not), then probe it again. ``act=False``: ActionNeeded where it would."""
    if not act:
        from .server_start import plan_to_start

        _, plan = plan_to_start(chosen, settings, error)
        raise ActionNeeded(
            "needs_start",
            f"{chosen.label} is not running at {chosen.base_url.value}: lmprep would start it "
            f"(`{plan.described}`), and what the agent needs can only be checked after that.",
            f"`lmprep doctor --load` starts it and checks (as `{ensure_command(settings)}` does), "
            "or start it yourself.",
        )
    from .server_start import start_if_down

    started = start_if_down(chosen, settings, error, report, deadline)
    if started is not None:
        readiness.started = started.as_dict()
        readiness.timings_ms["start"] = round(started.record.seconds * 1000, 1)
        # Started from this environment: what it says of the server's settings holds (fit, load_blocker).
        provider.server_environ = os.environ
    return provider.probe()


def _first_ready_box(settings: Settings, report: Reporter, background: str, readiness: Readiness,
                     hand_off: bool, deadline: Deadline | None = None, act: bool = True) -> Readiness:
    """`-p box1,box2`: each box in turn until one is ready (for the agent, with --for); says
    which, and why the ones before it were passed over (``readiness.passed_over``: provider,
    base URL, state, exit code and the reason, the message the warning shows). None ready: the
    last box's error, the others' reasons before its message."""
    source = settings.provider.source
    names = [name.strip() for name in settings.provider.value.split(",") if name.strip()]
    passed: list[dict] = []

    def reasons() -> str:
        return "; ".join(f"{box['provider']}: {box['reason'].rstrip('.')} (exit {box['exit_code']})" for box in passed)

    for index, name in enumerate(names):
        attempt = Readiness()
        try:
            run_ensure(settings._replace(provider=Sourced(name, source)), report=report, background=background,
                       readiness=attempt, hand_off=hand_off, deadline=deadline, act=act)
        except ActionNeeded:
            _copy(attempt, readiness)
            raise
        except LmprepError as exc:
            if exc.state in ("interrupted", "timed_out") or index == len(names) - 1:
                if passed:
                    exc.message = f"No box was ready ({reasons()}). {name}: {exc.message}"
                _copy(attempt, readiness)
                readiness.passed_over = passed
                exc.readiness = readiness
                raise
            passed.append({"provider": name, "base_url": attempt.base_url, "state": exc.state,
                           "exit_code": int(exc.exit_code), "reason": exc.message})
            report(Notice(f"Passed over {name}: {exc.message}"))
            continue
        if passed:
            report(Step(f"Using {name}, the first box ready; passed over {reasons()}"))
        _copy(attempt, readiness)
        readiness.passed_over = passed
        return readiness
    raise NotConfiguredError("No box was named.", "Give one or more provider names with -p, separated by commas.")


def _copy(source: Readiness, target: Readiness) -> None:
    for name in Readiness.__slots__:
        setattr(target, name, getattr(source, name))


def _choose_provider(settings: Settings, report: Reporter, readiness: Readiness,
                     deadline: Deadline) -> ProviderSettings:
    if settings.provider is None:
        from .detect import detect_provider

        try:
            chosen = detect_provider(settings, deadline, report)
            readiness.provider_source = SOURCE_AUTO
            report(Step(f"Found {chosen.label} at {chosen.base_url.value}"))
        except UnreachableError as exc:  # none is running: the one to start, where there is one
            from .server_start import SOURCE_STARTED, choose_to_start

            chosen = choose_to_start(settings, exc)
            readiness.provider_source = SOURCE_STARTED
            report(Step(f"Nothing is running; starting {chosen.label}, "
                        f"{'the first in the config file' if chosen.name in settings.configured else 'installed here'}"))
    else:
        chosen = settings.provider_settings(settings.provider.value)
        readiness.provider_source = settings.provider.source
    readiness.provider = chosen.name
    readiness.kind = chosen.kind
    if chosen.base_url is None:
        raise NotConfiguredError(
            f"The provider {chosen.name!r} has no base URL.",
            f"Give one with --base-url, or `base_url = ` under [providers.{chosen.name}] in the config file.",
        )
    readiness.base_url = chosen.base_url.value
    readiness.base_url_source = chosen.base_url.source
    if chosen.token and chosen.base_url.value.startswith("http://") and not is_loopback_url(chosen.base_url.value):
        report(Notice(
            f"The API token from ${chosen.api_key_env.value} goes to {chosen.base_url.value} unencrypted; "
            "use https:// for servers on other machines."
        ))
    if chosen.model is not None:
        readiness.model = chosen.model.value
        readiness.model_source = chosen.model.source
    return chosen


def _served_model(provider, listing: list[str], readiness: Readiness) -> str:
    """No model chosen and no default: a server that serves exactly one model decides."""
    from .config import served_model_id

    model = served_model_id(provider.only_model(listing), provider.label, provider.base_url)
    if model is None:
        from .providers.base import named_models

        raise NotConfiguredError(
            f"No model was chosen, and {provider.label} at {provider.base_url} serves {named_models(listing)}.",
            f"Give one with -m/--model, LMPREP_MODEL, or `model = ` under [providers.{provider.settings.name}].",
        )
    readiness.model = model
    readiness.model_source = "served"
    return model


def _respelled(provider, model: str, served: str, report: Reporter, readiness: Readiness) -> str:
    """The server has ``model`` only under the id ``served`` (another case, or with its owner):
    the agent must send that id, or its first request fails."""
    from .config import served_model_id

    served_model_id(served, provider.label, provider.base_url)  # it reaches `lms`, an agent, a command line
    report(Step(f"{provider.label} {provider.name_rule}: using {served!r} for {model!r}"))
    readiness.model = served
    return served


def _obtain_model(provider, model: str, settings: Settings, report: Reporter, readiness: Readiness,
                  listing: list[str], act: bool = True) -> None:
    from .providers.base import missing_model_detail

    can_download = KINDS[provider.kind].can_download
    if settings.offline.value or not can_download:
        why = "--offline forbids downloading it" if can_download else f"{provider.label} cannot download models"
        raise ModelMissingError(
            f"{provider.label} at {provider.base_url} does not have {model!r}, and {why}. "
            f"{missing_model_detail(model, listing)}",
            "Run lmprep without --offline to download it." if can_download else provider.missing_hint(model),
        )
    if not act:
        raise ActionNeeded(
            "needs_download",
            f"{provider.label} at {provider.base_url} does not have {model!r} yet: lmprep would download it, and "
            f"what the agent needs can only be checked after that. {missing_model_detail(model, listing)}",
            f"`lmprep doctor --load` downloads and loads it, then checks (as `{ensure_command(settings)}` does).",
        )
    from .lock import FileLock, lock_path

    with FileLock(lock_path(provider.settings.name, provider.base_url, model)) as lock:
        waited = lock.acquire(
            provider.deadline, f"waiting for another lmprep to download {model}",
            on_wait=lambda: report(Notice(f"Another lmprep is downloading {model}; waiting for it to finish")),
        )
        if waited and provider.has_model(model, provider.list_models()):
            report(Step(f"{model} was downloaded by the other lmprep"))
            return
        report(Step(f"{model} is not on {provider.label} yet: downloading it"))
        provider.download(model)
    readiness.downloaded = True
    listing = provider.list_models()
    if not provider.has_model(model, listing):
        raise ModelMissingError(
            f"{provider.label} still does not list {model!r} after the download. "
            f"{missing_model_detail(model, listing)}",
            provider.missing_hint(model),
        )
    report(Step(f"Downloaded {model}"))

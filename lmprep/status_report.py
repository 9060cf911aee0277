"""`lmprep status`: every known and configured provider side by side, without side effects.

Only GET requests are sent: nothing is downloaded, nothing is loaded, no file is written.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .config import SOURCE_AUTO, Flags, ProviderSettings, Settings, resolve_settings
from .errors import AuthFailedError, ExitCode, LmprepError, NotConfiguredError, ProtocolError

STATUS_SCHEMA_VERSION = 1
#: How long `lmprep status` waits for all providers when no --timeout is given.
DEFAULT_STATUS_TIMEOUT = 15.0
#: Variables that set a value for whichever provider is chosen, not for every provider.


@dataclass(frozen=True)
class ModelInfo:
    id: str
    loaded: bool | None = None  # None: the server does not say
    context_length: int | None = None
    cpu_percent: int | None = None  # share of the loaded model run on the CPU (Ollama's /api/ps)

    def to_dict(self) -> dict:
        return {"id": self.id, "loaded": self.loaded, "context_length": self.context_length,
                "cpu_percent": self.cpu_percent}


@dataclass(frozen=True)
class WarmUpRecord:
    """The last background warm-up recorded for a provider (from its state file)."""

    model: str | None
    status: str  # running | ok | error | interrupted | abandoned (its process died without recording an outcome)
    seconds: float | None
    started_at: float | None
    finished_at: float | None
    error: str | None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "status": self.status,
            "seconds": self.seconds,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "error": self.error,
        }


@dataclass
class ProviderStatus:
    name: str
    kind: str
    label: str
    state: str = "not_configured"
    running: bool = False  # the server answered at all
    base_url: str | None = None
    base_url_source: str | None = None
    model: str | None = None
    model_source: str | None = None
    model_present: bool | None = None
    model_loaded: bool | None = None
    models: list[ModelInfo] | None = None  # None: not listed (server not reached)
    last_warm_up: WarmUpRecord | None = None
    last_bench: dict | None = None  # `lmprep bench`'s last result for this model at its window
    error: LmprepError | None = None
    identified: bool = False  # answered this kind's own identity route (auto-detection)
    rtt_ms: float | None = None  # the first request's round trip, connection included (as the ready line's)
    started: Any = None  # the StartedServer record when lmprep started this server and it still runs

    @property
    def ok(self) -> bool:
        return self.state == "ready"

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else int(self.error.exit_code if self.error else ExitCode.NOT_CONFIGURED)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "label": self.label,
            "state": self.state,
            "running": self.running,
            "rtt_ms": self.rtt_ms,
            "base_url": self.base_url,
            "base_url_source": self.base_url_source,
            "model": self.model,
            "model_source": self.model_source,
            "model_present": self.model_present,
            "model_loaded": self.model_loaded,
            "models": None if self.models is None else [m.to_dict() for m in self.models],
            "last_warm_up": self.last_warm_up.to_dict() if self.last_warm_up else None,
            "last_bench": self.last_bench,
            "started": None if self.started is None else _started_dict(self.started),
            "error": _error_dict(self.error),
        }


@dataclass
class StatusReport:
    """The providers, and the one whose state decides the outcome (``chosen``)."""

    providers: list[ProviderStatus]
    chosen: str | None
    chosen_source: str | None
    config_path: str
    config_loaded: bool
    error: LmprepError | None = None  # why no provider decides (none or several running)
    warnings: list[str] = field(default_factory=list)

    @property
    def decisive(self) -> ProviderStatus | None:
        return next((p for p in self.providers if p.name == self.chosen), None)

    @property
    def decisive_error(self) -> LmprepError | None:
        """Why the deciding provider is not ready (None: it is, or none decides)."""
        decisive = self.decisive
        return decisive.error if decisive is not None and not decisive.ok else None

    @property
    def state(self) -> str:
        if self.error is not None:
            return self.error.state
        decisive = self.decisive
        return decisive.state if decisive else "not_configured"

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return int(self.error.exit_code)
        decisive = self.decisive
        return decisive.exit_code if decisive else int(ExitCode.NOT_CONFIGURED)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def to_dict(self) -> dict:
        return {
            "schema": STATUS_SCHEMA_VERSION,
            "ok": self.ok,
            "state": self.state,
            "exit_code": self.exit_code,
            "chosen": self.chosen,
            "chosen_source": self.chosen_source,
            "config_path": self.config_path,
            "config_loaded": self.config_loaded,
            "providers": [p.to_dict() for p in self.providers],
            "error": _error_dict(self.error if self.error is not None or self.ok else self.decisive_error),
        }


def status(
    provider: str | None = None,
    model: str | None = None,
    *,
    base_url: str | None = None,
    config_path: str | None = None,
    connect_timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    read_timeout: float | None = None,
) -> StatusReport:
    """Probe every known and configured provider (GET requests only) and report on each, within
    ``timeout`` seconds (default DEFAULT_STATUS_TIMEOUT; a provider that has not answered by
    then is reported as timed out).

    ``provider``/``model``/``base_url`` apply to the chosen provider only. Raises
    NotConfiguredError when the configuration itself is unusable (bad file, unknown provider).
    """
    env = os.environ if env is None else env
    flags = Flags(provider=provider, model=model, base_url=base_url, connect_timeout=connect_timeout,
                  config_path=config_path, timeout=timeout, read_timeout=read_timeout)
    # A base URL or model meant for the chosen provider is not probed on the others (resolve_settings).
    settings = resolve_settings(flags, env)
    if settings.provider is not None:
        settings.provider_settings(settings.provider.value)  # its variables unusable: say so, exit 3
    return collect_status(settings, list(settings.providers.values()))


def collect_status(settings: Settings, entries: list[ProviderSettings], deadline=None) -> StatusReport:
    """Probe ``entries`` in parallel, within ``deadline`` (default: the settings' timeout, or
    DEFAULT_STATUS_TIMEOUT); ``settings`` says which provider is chosen."""
    from .deadline import Deadline
    from .parallel import UNFINISHED, run_all

    detect = settings.provider is None
    candidates = {c.name for c in settings.auto_detect_candidates()} if detect else set()
    records = _warm_up_records()
    timeouts = settings.http_timeouts()
    if deadline is None:
        deadline = Deadline(settings.timeout.value if settings.timeout.value is not None else DEFAULT_STATUS_TIMEOUT)
    opened: list = []

    def probe(entry: ProviderSettings):
        return lambda: probe_provider(entry, timeouts=timeouts, identify=entry.name in candidates,
                                      records=records, deadline=deadline, opened=opened)

    results = run_all([probe(entry) for entry in entries], deadline, name="lmprep-status",
                      on_abandon=lambda: [provider.http.abort() for provider in list(opened)])
    rows = []
    ours = _started_here()
    for entry, result in zip(entries, results):
        if isinstance(result, ProviderStatus):
            if result.state == "timed_out":  # the shared deadline, met inside a request: name the box
                result.error = deadline.error(f"asking {entry.label} at {result.base_url}")
            rows.append(result)
            continue
        row = _row(entry, records)
        if result is UNFINISHED:
            row.state, row.error = "timed_out", deadline.error(f"asking {entry.label} at {row.base_url}")
        else:
            row.state, row.error = "internal_error", _internal(result)
        rows.append(row)
    for row in rows:
        row.started = ours.get((row.name, row.base_url))

    report = StatusReport(
        providers=rows, chosen=None, chosen_source=None, config_path=str(settings.config_path.value),
        config_loaded=settings.config_loaded, warnings=list(settings.warnings),
    )
    if not detect:
        report.chosen, report.chosen_source = settings.provider.value, settings.provider.source
        return report
    running = [row for row in rows if row.name in candidates and row.identified]
    if len(running) == 1:
        report.chosen, report.chosen_source = running[0].name, SOURCE_AUTO
        return report
    from .detect import none_running, several_running  # the same words and exit code as ensure's

    if running:
        report.error = several_running([(row.name, row.label, row.base_url) for row in running])
    else:
        looked = ", ".join(f"{row.label} at {row.base_url}" for row in rows if row.name in candidates)
        report.error = none_running(looked, "", settings)
    return report


def _started_here() -> dict:
    """(provider, base URL) → the record of each server lmprep started that still runs (the same
    process: pid and start time); read only, stale records stay for `lmprep stop` to forget."""
    from .started import is_same_process, started_servers

    return {(record.provider, record.base_url): record for record in started_servers() if is_same_process(record)}


def _started_dict(record) -> dict:
    return {"pid": record.pid, "since": _iso(record.started_at), "command": record.command, "log": record.log,
            "seconds": record.seconds}


def _row(entry: ProviderSettings, records: list[dict] | None) -> ProviderStatus:
    """The row of ``entry`` before it is probed: what the settings and the records say."""
    row = ProviderStatus(name=entry.name, kind=entry.kind, label=entry.label)
    if entry.model is not None:
        row.model, row.model_source = entry.model.value, entry.model.source
    if entry.base_url is not None:
        row.base_url, row.base_url_source = entry.base_url.value, entry.base_url.source
        row.last_warm_up = _last_warm_up(records if records is not None else _warm_up_records(), entry, row.model)
    return row


def _internal(exc: BaseException) -> LmprepError:
    from .errors import InternalError

    return InternalError(f"Unexpected error: {type(exc).__name__}: {exc}", "This is a bug in lmprep: please report it.")


def probe_provider(entry: ProviderSettings, *, timeouts: dict[str, float], identify: bool = False,
                   records: list[dict] | None = None, deadline=None, opened: list | None = None) -> ProviderStatus:
    """The status of one provider; never raises."""
    from .providers import KINDS

    row = _row(entry, records)
    if entry.base_url is None:
        row.error = NotConfiguredError(
            f"{entry.label} has no base URL.",
            f"Set `base_url = ` under [providers.{entry.name}] in the config file, or give --base-url.",
        )
        return row
    try:
        _probe(row, entry, timeouts, identify, deadline, opened, records)
    except LmprepError as exc:
        row.state, row.error = exc.state, exc
    except Exception as exc:  # one broken provider must not hide the others
        row.state, row.error = "internal_error", _internal(exc)
    if row.state == "model_missing" and row.error is None:
        can_download = KINDS[entry.kind].can_download
        row.error = _model_missing(row, can_download)
    return row


def _probe(row: ProviderStatus, entry: ProviderSettings, timeouts: dict[str, float], identify: bool,
           deadline=None, opened: list | None = None, records: list[dict] | None = None) -> None:
    from .providers import open_provider

    try:
        provider = open_provider(entry, **timeouts, deadline=deadline)
    except (KeyError, ImportError):
        raise NotConfiguredError(f"This version of lmprep cannot talk to {entry.label} yet.",
                                 "Upgrade lmprep, or use the `openai` kind for any OpenAI-compatible server.") from None
    if opened is not None:
        opened.append(provider)
    with provider:
        try:
            listing = provider.list_models()
        except (AuthFailedError, ProtocolError):
            # The server answered, just not with a listing: auto-detection still sees it.
            row.running = True
            row.rtt_ms = provider.http.first_round_trip_ms
            row.identified = identify and provider.identify()
            raise
        row.running = True
        row.rtt_ms = provider.http.first_round_trip_ms  # before identify() adds exchanges of its own
        row.identified = identify and provider.identify()
        try:
            loaded = provider.loaded_models(listing)
        except Exception:  # best effort: the listing alone still makes a status
            loaded = None
        loaded_ids = list(loaded) if loaded is not None else None
        # One pass over each list: a listing of thousands of models stays linear.
        loaded_keys: dict[str, int | None] = {}
        for loaded_id, context in (loaded or {}).items():
            for key in provider.model_keys(loaded_id):
                loaded_keys.setdefault(key, context)
        row.models = [
            ModelInfo(
                model_id,
                None if loaded_ids is None else provider.model_key(model_id) in loaded_keys,
                loaded_keys.get(provider.model_key(model_id)),
                provider.cpu_percent(model_id) if loaded else None,
            )
            for model_id in listing
        ]
        if row.model is None:
            # As `lmprep` does: a server that serves exactly one model decides.
            from .config import served_model_id

            served = served_model_id(provider.only_model(listing), entry.label, entry.base_url.value)
            if served is None:
                from .providers.base import named_models

                row.state = "not_configured"
                row.error = NotConfiguredError(
                    f"No model was chosen, and {entry.label} at {entry.base_url.value} serves {named_models(listing)}.",
                    f"Give one with -m/--model, LMPREP_MODEL, or `model = ` under [providers.{entry.name}].",
                )
                return
            row.model, row.model_source = served, "served"
        # As `lmprep` does: a model the server has only in its own spelling is shown in it.
        spelled = provider.served_name(row.model, listing)
        row.model_present = spelled is not None
        row.model = spelled or row.model
        # The model known now (served, or in the server's spelling): its own last warm-up, as the server names it.
        row.last_warm_up = _last_warm_up(records if records is not None else _warm_up_records(), entry, row.model,
                                         lambda recorded: provider.has_model(row.model, [recorded]))
        if loaded_ids is not None:
            row.model_loaded = provider.has_model(row.model, loaded_ids)
        row.state = "ready" if row.model_present else "model_missing"
        failure = _failed_load(row, provider)
        if failure is not None:
            row.state, row.error = failure.state, failure
        row.last_bench = _last_bench(entry, row, provider)


def _failed_load(row: ProviderStatus, provider) -> LmprepError | None:
    """A present model that is not loaded now and whose last recorded load failed is not ready:
    the next `lmprep` would load it in the foreground, and an agent started now would wait for a
    load that failed last time (once the server shows it loaded, it is ready again)."""
    from .errors import WarmupFailedError
    from .warmup import FAILED

    record = row.last_warm_up
    if (not row.model_present or row.model_loaded or record is None or record.status not in FAILED
            or record.model is None or not provider.has_model(row.model, [record.model])):
        return None
    reason = (record.error or "its process ended without saying why").rstrip(".")
    return WarmupFailedError(f"The last load of {row.model!r} on {row.label} failed: {reason}.",
                             "Run `lmprep --warm-up wait` to load it and see each step, or look at the server's log.")


def _last_bench(entry: ProviderSettings, row: ProviderStatus, provider) -> dict | None:
    """The figures of the last `lmprep bench` of the row's model at the window it is loaded
    with (or of no known window), where one was kept."""
    from .bench import kept_figures, last_result, results_dir

    if not row.model_present or not results_dir().is_dir():
        return None
    key = provider.model_key(row.model)
    window = next((m.context_length for m in row.models or () if provider.model_key(m.id) == key), None)
    record = last_result(entry.name, entry.base_url.value, row.model, window)
    return None if record is None else kept_figures(record)


def _model_missing(row: ProviderStatus, can_download: bool) -> LmprepError:
    from .errors import ModelMissingError
    from .providers.base import missing_model_detail

    hint = ("Run `lmprep` to download it." if can_download
            else "Start the server with that model, or choose one it serves with -m.")
    listing = [model.id for model in row.models or []]
    return ModelMissingError(f"{row.label} at {row.base_url} does not have {row.model!r}. "
                             f"{missing_model_detail(row.model or '', listing)}", hint)


def _warm_up_records() -> list[dict]:
    from .warmup import read_states

    return read_states()


def _last_warm_up(records: list[dict], entry: ProviderSettings, model: str | None = None,
                  same=None) -> WarmUpRecord | None:
    """The newest warm-up recorded for ``entry``'s server, of ``model`` where the row has one (a
    record of another model is not this row's: `lmprep -m tiny32` failing must not show as the
    last warm-up of the default model). ``same(recorded)``: whether a recorded name is ``model``
    (the server's own rule, once it is known); plain equality before."""
    from .redact import redact

    base_url = redact(entry.base_url.value) if entry.base_url else None  # as the record has it
    for record in records:  # newest first
        if record.get("provider") != entry.name or record.get("base_url") != base_url:
            continue
        recorded = record.get("model")
        if model is not None and not (isinstance(recorded, str) and (same(recorded) if same else recorded == model)):
            continue
        from .warmup import outcome

        status = outcome(record)
        return WarmUpRecord(
            model=record.get("model") if isinstance(record.get("model"), str) else None,  # shown cleaned
            status=status,
            seconds=_number(record.get("seconds")),
            started_at=_number(record.get("started_at")),
            finished_at=_number(record.get("finished_at")),
            error=record.get("error") if isinstance(record.get("error"), str) else None,
        )
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    except OverflowError:  # an integer of hundreds of digits in a corrupt record
        return None
    return number if number is not None and number == number and abs(number) != float("inf") else None


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    try:
        return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, ValueError, OSError):  # a time no calendar has (a corrupt record)
        return None


def _error_dict(error: LmprepError | None) -> dict | None:
    return {"message": error.message, "hint": error.hint} if error else None

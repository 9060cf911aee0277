"""Auto-detection: which provider is running, when none was chosen."""

from __future__ import annotations

from .config import SOURCE_DEFAULT, ProviderSettings, Settings, Sourced
from .deadline import Deadline
from .errors import NotConfiguredError
from .events import Notice, Reporter, ignore
from .parallel import UNFINISHED, run_all
from .providers import open_provider

CHOOSE_HINT = (
    "Choose one with `--local-provider NAME` (or LMPREP_PROVIDER), or set "
    '`oss_provider = "NAME"` in the config file (`lmprep config path` shows where).'
)


def detect_provider(settings: Settings, deadline: Deadline | None = None,
                    report: Reporter = ignore) -> ProviderSettings:
    """Probe every candidate's endpoint at once and return the single one that answers, within
    ``deadline`` (TimedOutError past it: an unfinished probe leaves the answer open). Under WSL,
    where nothing answers on localhost, the local defaults are tried on the Windows host too."""
    deadline = deadline or Deadline(None)
    candidates = settings.auto_detect_candidates()
    found = _answering(settings, candidates, deadline)
    windows: list[ProviderSettings] = []
    if not found:
        windows = _on_the_windows_host(candidates)
        found = _answering(settings, windows, deadline) if windows else []
        if found:
            # The same server may answer at the gateway and at the nameserver: the first of each kind.
            found = [c for i, c in enumerate(found) if c.name not in {other.name for other in found[:i]}]
            if len(found) == 1:
                report(Notice(f"Nothing answered on localhost; under WSL, lmprep uses {found[0].label} on the "
                              f"Windows host at {found[0].base_url.value} ({found[0].base_url.source})."))
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(f"{c.label} at {c.base_url.value}" for c in candidates) or "nothing"
        skipped = "".join(f" Not looked for: {error.message}" for error in settings.skipped_candidates())
        hint = CHOOSE_HINT
        if windows:
            from .wsl import LISTEN_HINT

            hosts = " and ".join(sorted({c.base_url.value.split("//", 1)[1].split(":", 1)[0] for c in windows}))
            looked += f"; under WSL, also on the Windows host at {hosts}"
            hint = f"{LISTEN_HINT} {CHOOSE_HINT}"
        raise NotConfiguredError(f"No provider was chosen, and none is running (looked for {looked}).{skipped}",
                                 hint)
    running = " and ".join(f"{c.label} ({c.base_url.value})" for c in found)
    raise NotConfiguredError(f"No provider was chosen, and several are running: {running}.", CHOOSE_HINT)


def _answering(settings: Settings, candidates: list[ProviderSettings], deadline: Deadline) -> list[ProviderSettings]:
    """The candidates that identify themselves, probed in parallel."""
    opened = []

    def answers(candidate: ProviderSettings):
        def probe() -> bool:
            with open_provider(candidate, **settings.http_timeouts(), deadline=deadline) as provider:
                opened.append(provider)
                return provider.identify()
        return probe

    results = run_all([answers(c) for c in candidates], deadline, name="lmprep-detect",
                      on_abandon=lambda: [provider.http.abort() for provider in list(opened)])
    if any(result is UNFINISHED for result in results) or deadline.expired:
        raise deadline.error("looking for a running provider")
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [candidate for candidate, ok in zip(candidates, results) if ok]


def _on_the_windows_host(candidates: list[ProviderSettings]) -> list[ProviderSettings]:
    """Under WSL, the candidates at their built-in localhost defaults, moved to each address the
    Windows host may have (none elsewhere, and none for a base URL someone chose)."""
    from .hosts import is_loopback_url
    from .wsl import default_gateway, on_host, resolv_nameserver, under_wsl

    local = [c for c in candidates if c.base_url is not None and c.base_url.source == SOURCE_DEFAULT
             and is_loopback_url(c.base_url.value)]
    if not local or not under_wsl():
        return []
    hosts: dict[str, str] = {}
    for address, how in ((default_gateway(), "WSL: the default gateway"),
                         (resolv_nameserver(), "WSL: the nameserver of /etc/resolv.conf")):
        if address is not None:
            hosts.setdefault(address, how)
    return [c._replace(base_url=Sourced(on_host(c.base_url.value, address), how))
            for address, how in hosts.items() for c in local]

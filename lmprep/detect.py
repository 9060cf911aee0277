"""Auto-detection: which provider is running, when none was chosen."""

from __future__ import annotations

from .config import ProviderSettings, Settings
from .deadline import Deadline
from .errors import NotConfiguredError
from .parallel import UNFINISHED, run_all
from .providers import open_provider

CHOOSE_HINT = (
    "Choose one with `--local-provider NAME` (or LMPREP_PROVIDER), or set "
    '`oss_provider = "NAME"` in the config file (`lmprep config path` shows where).'
)


def detect_provider(settings: Settings, deadline: Deadline | None = None) -> ProviderSettings:
    """Probe every candidate's endpoint at once and return the single one that answers, within
    ``deadline`` (TimedOutError past it: an unfinished probe leaves the answer open)."""
    deadline = deadline or Deadline(None)
    candidates = settings.auto_detect_candidates()
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
    found = [candidate for candidate, ok in zip(candidates, results) if ok]
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(f"{c.label} at {c.base_url.value}" for c in candidates) or "nothing"
        skipped = "".join(f" Not looked for: {error.message}" for error in settings.skipped_candidates())
        raise NotConfiguredError(f"No provider was chosen, and none is running (looked for {looked}).{skipped}",
                                 CHOOSE_HINT)
    running = " and ".join(f"{c.label} ({c.base_url.value})" for c in found)
    raise NotConfiguredError(f"No provider was chosen, and several are running: {running}.", CHOOSE_HINT)

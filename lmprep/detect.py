"""Auto-detection: which provider is running, when none was chosen."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .config import ProviderSettings, Settings
from .errors import NotConfiguredError
from .providers import open_provider

CHOOSE_HINT = (
    "Choose one with `--local-provider NAME` (or LMPREP_PROVIDER), or set "
    '`oss_provider = "NAME"` in the config file (`lmprep config path` shows where).'
)


def detect_provider(settings: Settings) -> ProviderSettings:
    """Probe every candidate's endpoint at once and return the single one that answers."""
    candidates = settings.auto_detect_candidates()

    def answers(candidate: ProviderSettings) -> bool:
        with open_provider(candidate, connect_timeout=settings.connect_timeout.value) as provider:
            return provider.identify()

    with ThreadPoolExecutor(max_workers=len(candidates), thread_name_prefix="lmprep-detect") as pool:
        results = list(pool.map(answers, candidates))
    found = [candidate for candidate, ok in zip(candidates, results) if ok]
    if len(found) == 1:
        return found[0]
    if not found:
        looked = ", ".join(f"{c.label} at {c.base_url.value}" for c in candidates)
        raise NotConfiguredError(f"No provider was chosen, and none is running (looked for {looked}).", CHOOSE_HINT)
    running = " and ".join(f"{c.label} ({c.base_url.value})" for c in found)
    raise NotConfiguredError(f"No provider was chosen, and several are running: {running}.", CHOOSE_HINT)

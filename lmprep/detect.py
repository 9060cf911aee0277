"""Auto-detection: which provider is running, when none was chosen; and which kind of server
answers where a chosen provider did not answer as its kind."""

from __future__ import annotations

from .config import SOURCE_DEFAULT, ProviderSettings, Settings, Sourced
from .deadline import Deadline
from .errors import NotConfiguredError, UnreachableError
from .events import Notice, Reporter, ignore
from .parallel import UNFINISHED, run_all
from .providers import open_provider


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
        if windows:
            hosts = " and ".join(sorted({c.base_url.value.split("//", 1)[1].split(":", 1)[0] for c in windows}))
            looked += f"; under WSL, also on the Windows host at {hosts}"
        error = none_running(looked, skipped, settings)
        if windows:
            from .wsl import LISTEN_HINT

            error.hint = f"{LISTEN_HINT} {error.hint}"
        raise error
    raise several_running([(c.name, c.label, c.base_url.value) for c in found])


def _answering(settings: Settings, candidates: list[ProviderSettings], deadline: Deadline) -> list[ProviderSettings]:
    """The candidates that identify themselves, probed in parallel."""
    results = identify_all(candidates, deadline, "lmprep-detect", **settings.http_timeouts())
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


def identify_all(candidates: list[ProviderSettings], deadline: Deadline, name: str, **timeouts) -> list:
    """Each candidate's identify(), all at once, within ``deadline`` (run_all's results: a bool,
    the exception raised, or UNFINISHED)."""
    opened = []

    def answers(candidate: ProviderSettings):
        def probe() -> bool:
            with open_provider(candidate, **timeouts, deadline=deadline) as provider:
                opened.append(provider)
                return provider.identify()
        return probe

    return run_all([answers(c) for c in candidates], deadline, name=name,
                   on_abandon=lambda: [provider.http.abort() for provider in list(opened)])


def none_running(looked: str, skipped: str, settings: Settings) -> UnreachableError:
    """Nothing answers where servers are looked for: unreachable (exit 4), which is what scripts
    test for before they start one, with how to start each server installed on this machine."""
    return UnreachableError(f"No provider was chosen, and none is running (looked for {looked}).{skipped}",
                            start_hint(settings))


def several_running(found: list[tuple[str, str, str]]) -> NotConfiguredError:
    """Several servers answer: which one is the user's to say, with the exact values to give.
    ``found``: (name, label, base URL) of each."""
    from .termtext import listed

    running = listed(f"{label} ({base_url})" for _, label, base_url in found)
    choices = listed((f"`-p {name}`" for name, _, _ in found), "or")
    lines = listed((f'`oss_provider = "{name}"`' for name, _, _ in found), "or")
    return NotConfiguredError(
        f"No provider was chosen, and several are running: {running}.",
        f"Choose one with {choices} (or LMPREP_PROVIDER), or for good with {lines} in the config file "
        "(`lmprep config path` shows where).",
    )


def start_hint(settings: Settings) -> str:
    """How to start each server whose program is on this machine, else the usual commands."""
    import shutil

    from .errors import LmprepError

    starts = []
    try:
        from .lms import find_lms

        lmstudio = settings.providers.get("lmstudio")
        starts.append(f"`{find_lms(lmstudio.lms_path if lmstudio else None)} server start` (LM Studio)")
    except LmprepError:
        pass
    named = set()
    for program, command, label in _STARTERS:
        if label not in named and shutil.which(program):
            named.add(label)  # Lemonade by its newer program only
            starts.append(f"`{command}` ({label})")
    if not starts:
        return ("Start your server: LM Studio with `lms server start`, Ollama with `ollama serve`, llama.cpp with "
                "`llama-server -m MODEL.gguf`, or point lmprep at one that runs elsewhere with `-p NAME --base-url "
                "URL`.")
    return (f"Start one: {', '.join(starts)}; or point lmprep at one that runs elsewhere with `-p NAME --base-url "
            "URL`.")


#: Servers whose program on PATH says how to start them (LM Studio's `lms` is looked for
#: where LM Studio puts it too, by find_lms). Their default ports are the ones looked at.
_STARTERS = (
    ("ollama", "ollama serve", "Ollama"),
    ("llama-server", "llama-server -m MODEL.gguf", "llama.cpp"),
    ("vllm", "vllm serve MODEL", "vLLM"),
    ("lemond", "lemond", "Lemonade"),  # Lemonade's server since 10.0.1 (providers/lemonade.py)
    ("lemonade-server", "lemonade-server serve", "Lemonade"),
)


def what_answers(provider, listed: bool) -> tuple[str, str] | None:
    """Which kind of server answers at ``provider``'s base URL, with the evidence: its listing
    where that names one, else LM Studio's greeting, Ollama's root, then the `owned_by` of an
    OpenAI listing where the kind's own listing is another one and failed (``listed`` False). Only
    once a server did not answer as the kind chosen: it costs requests."""
    from .hosts import strip_v1

    if provider.listing_says not in (None, provider.kind):
        return provider.listing_says, provider.owners_evidence()
    settings = provider.settings
    timeouts = {"connect_timeout": provider.http.connect_timeout, "read_timeout": provider.http.read_timeout}
    routes = [(kind, evidence) for kind, evidence in (
        ("lmstudio", "GET /lmstudio-greeting answers as LM Studio's does"),
        ("ollama", f"GET {strip_v1(provider.base_url)}/ says \"Ollama is running\""),
    ) if kind != provider.kind]
    # At once, as auto-detection asks them: a server that answers slowly costs one wait, not two.
    results = identify_all([settings._replace(name=kind, kind=kind) for kind, _ in routes], provider.deadline,
                           "lmprep-identify", **timeouts)
    for (kind, evidence), result in zip(routes, results):
        if result is True:
            return kind, evidence
    if listed or provider.lists_openai_models:
        return None  # what its /models said is known already, and names no other kind
    with open_provider(settings._replace(name="openai", kind="openai"), **timeouts,
                       deadline=provider.deadline) as generic:
        said = generic.owners_say()
        return (said, generic.owners_evidence()) if said not in (None, provider.kind) else None

"""Flags + environment + config file + defaults → Settings, each value with its source."""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import NotConfiguredError
from .hosts import normalize_base_url, parse_ollama_host
from .providers.kinds import AUTO_DETECT_KINDS, KINDS

WARM_UP_MODES = ("background", "wait", "off")
DEFAULT_CONNECT_TIMEOUT = 5.0
#: Seconds a server has to answer an ordinary request (and to finish sending that answer).
#: Every request lmprep makes on the ready path is answered at once by a working server (a
#: listing, a load state); a warm-up, a load and a pull have their own, longer limits.
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_STALL_TIMEOUT = 120.0
# The longest timeout accepted: a socket timeout must fit the platform's time_t, and
# `inf` or 1e300 s used to crash the first request with an OverflowError.
MAX_TIMEOUT = 1e9
SOURCE_DEFAULT = "default"
#: The largest context window (min_context) taken: far above any model's.
MAX_TOKENS = 1_000_000_000
#: A config file is a few kB; a bigger one is not lmprep's.
MAX_CONFIG_BYTES = 1024 * 1024
SOURCE_AUTO = "auto-detected"

#: Variables that, like --base-url and --model, concern the provider used only.
CHOSEN_ONLY_VARIABLES = ("LMPREP_BASE_URL", "LMPREP_MODEL")
# Variables that concern only some providers (the ecosystem's own).
_PROVIDER_VARIABLES = {"CODEX_OSS_BASE_URL", "CODEX_OSS_PORT", "OLLAMA_HOST", "LM_STUDIO_BASE_URL"}
#: The token variable LM Studio's client libraries read, after the conventional LM_API_TOKEN.
LM_STUDIO_API_KEY = "LM_STUDIO_API_KEY"
_TOP_LEVEL_KEYS = {
    "oss_provider", "providers", "warm_up", "offline", "connect_timeout", "read_timeout", "timeout", "stall_timeout", "min_context",
    "keep_alive", "for", "ignore_fit", "start",
}
#: The keys that say how lmprep starts a provider's server that is down (server_start.py).
START_KEYS = ("start", "command", "args", "model_path", "models_dir")
_PROVIDER_KEYS = {"kind", "base_url", "model", "lms_path", "api_key_env", "for", "ca_cert", *START_KEYS}


class Sourced(NamedTuple):
    """A resolved value and where it came from (a flag, a variable, the file, a default)."""

    value: Any
    source: str

    @classmethod
    def __class_getitem__(cls, item):  # Sourced[str] in annotations
        return cls


class Flags(NamedTuple):
    """Values given on the command line (or as API arguments); None means not given."""

    provider: str | None = None
    model: str | None = None
    base_url: str | None = None
    warm_up: str | None = None
    offline: bool | None = None
    connect_timeout: float | None = None
    timeout: float | None = None
    config_path: str | None = None
    min_context: int | str | None = None  # tokens: 65536, or "64k"
    agent: str | None = None  # --for AGENT
    keep_alive: str | float | None = None  # "30m", "2h", seconds, -1 for ever
    read_timeout: float | None = None
    ignore_fit: bool | None = None  # --ignore-fit: load a window that does not fit the machine's memory
    start: bool | None = None  # False: --no-start, never start a server that is down


class ProviderSettings(NamedTuple):
    name: str
    kind: str
    base_url: Sourced[str] | None
    model: Sourced[str] | None
    api_key_env: Sourced[str] | None
    lms_path: Sourced[str] | None
    token: str | None = None
    # A private CA's certificates (a PEM file, or a folder of them) that an https server's
    # certificate is checked against, instead of the system's.
    ca_cert: Sourced[str] | None = None
    # Its config table's keys that say how to start its server (START_KEYS, checked): `command`
    # and `args` as tuples of strings, `model_path` and `models_dir` with `~` expanded, `start`.
    start_options: Mapping[str, Any] = MappingProxyType({})

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields if name != "token")
        return f"ProviderSettings({shown}, token={'<redacted>' if self.token else None})"

    @property
    def label(self) -> str:
        builtin = KINDS[self.kind].label
        return builtin if self.name == self.kind else f"{self.name} ({builtin})"


class Settings(NamedTuple):
    provider: Sourced[str] | None  # None: auto-detect
    providers: dict[str, ProviderSettings]
    warm_up: Sourced[str]
    offline: Sourced[bool]
    connect_timeout: Sourced[float]
    timeout: Sourced[float | None]
    config_path: Sourced[Path]
    config_loaded: bool
    warnings: tuple[str, ...] = ()
    # Providers whose environment variables are unusable, with the error to raise on use.
    broken: Mapping[str, NotConfiguredError] = MappingProxyType({})
    stall_timeout: Sourced[float] = Sourced(DEFAULT_STALL_TIMEOUT, SOURCE_DEFAULT)
    min_context: Sourced[int | None] = Sourced(None, SOURCE_DEFAULT)  # tokens the loaded model must hold
    agent: Sourced[str] | None = None  # the agent that starts next (--for), whose requests must work
    keep_alive: Sourced[float | None] = Sourced(None, SOURCE_DEFAULT)  # seconds; FOREVER; None: the server's
    read_timeout: Sourced[float] = Sourced(DEFAULT_READ_TIMEOUT, SOURCE_DEFAULT)
    # `for = ` under [providers.NAME]: the agent used with that provider, below --for and LMPREP_FOR.
    provider_agents: Mapping[str, Sourced[str]] = MappingProxyType({})
    agent_given: bool = False  # by --for or LMPREP_FOR (also as "none"): no provider's `for` applies
    # min_context as the file and --min-context give it, before any agent's minimum.
    min_context_given: Sourced[int | None] = Sourced(None, SOURCE_DEFAULT)
    ignore_fit: Sourced[bool] = Sourced(False, SOURCE_DEFAULT)  # load although the estimate says it will not fit
    start: Sourced[bool] = Sourced(True, SOURCE_DEFAULT)  # start a local server that is down (--no-start: False)
    configured: tuple[str, ...] = ()  # the config file's [providers.NAME] tables, in the file's order

    def for_provider(self, name: str) -> "Settings":
        """These settings once ``name`` is the provider used: its own `for = ` where neither
        --for nor LMPREP_FOR chose the agent, and that agent's window."""
        agent = self.provider_agents.get(name)
        if agent is None or self.agent_given:
            return self
        agent = _an_agent(agent)
        return self._replace(agent=agent, min_context=_with_agent_minimum(self.min_context_given, agent))

    def for_agent(self, agent: str, source: str = "--for") -> "Settings":
        """These settings as `--for agent` would have made them (its window, its checks):
        how `lmprep doctor --smoke` runs each agent on one set of settings."""
        chosen = Sourced(agent, source)
        return self._replace(agent=chosen, agent_given=True,
                             min_context=_with_agent_minimum(self.min_context_given, chosen))

    def http_timeouts(self) -> dict[str, float]:
        """The time limits every request to a provider gets (open_provider's keywords)."""
        return {"connect_timeout": self.connect_timeout.value, "read_timeout": self.read_timeout.value}

    def provider_settings(self, name: str) -> ProviderSettings:
        """The provider ``name``; for several boxes (`-p box1,box2`), the first, once each is usable."""
        names = [part.strip() for part in name.split(",")]
        for part in names:
            if part in self.broken:
                raise self.broken[part]
        return self.providers[names[0]]

    def auto_detect_candidates(self) -> list[ProviderSettings]:
        """The providers auto-detection probes; one whose variables are unusable (a bad
        OLLAMA_HOST) is left out, so that it cannot stop the others from being found."""
        return [self.providers[name] for name in AUTO_DETECT_KINDS if name not in self.broken]

    def skipped_candidates(self) -> list[NotConfiguredError]:
        """Why each provider left out of auto-detection was left out."""
        return [self.broken[name] for name in AUTO_DETECT_KINDS if name in self.broken]


def default_config_path() -> Path:
    from .dirs import config_dir

    return config_dir() / "config.toml"


def resolve_settings(flags: Flags = Flags(), env: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting by precedence: flags, LMPREP_* variables, the ecosystem's
    variables, the config file, built-in defaults."""
    env = os.environ if env is None else env
    _check_flags(flags)
    config_path = _config_path(flags, env)
    document, text = _load_file(config_path)
    file_source = f"config {config_path.value}"
    config = _ConfigFile(document, text, str(config_path.value))

    names = list(KINDS) + [n for n in config.provider_tables if n not in KINDS]
    provider = _pick(
        (flags.provider, "--local-provider"),
        (env.get("LMPREP_PROVIDER") or None, "LMPREP_PROVIDER"),
        (config.top("oss_provider", str), file_source),
    )
    codex_warnings: list[str] = []
    if provider is None:
        provider = _codex_oss_provider(env, codex_warnings)
    if provider is not None:
        provider = Sourced(provider.value.strip(), provider.source)
    # --base-url and --model (and LMPREP_BASE_URL, LMPREP_MODEL) are meant for the provider used:
    # the chosen one, else each that auto-detection tries. The others keep their own values.
    others_flags = flags._replace(base_url=None, model=None)
    others_env = {k: v for k, v in env.items() if k not in CHOSEN_ONLY_VARIABLES}
    providers: dict[str, ProviderSettings] = {}
    broken: dict[str, NotConfiguredError] = {}
    completed_roots: list[_CompletedRoot] = []
    # `-p box1,box2`: several boxes, the first one ready for the agent is used (pipeline.py).
    chosen_names = [part.strip() for part in provider.value.split(",")] if provider is not None else []
    for name in names:
        mine = provider is None or name in chosen_names
        completed: list[_CompletedRoot] = []
        try:
            providers[name] = _resolve_provider(name, flags if mine else others_flags, env if mine else others_env,
                                                config, file_source, completed)
        except _ProviderVariableError as exc:
            # A bad OLLAMA_HOST must not stop someone who uses LM Studio: it is raised
            # only when this provider is the one used.
            broken[name] = exc
        # Said of the providers this run may use only: the chosen one, else those auto-detection tries.
        if name not in broken and (name in chosen_names if provider is not None else name in AUTO_DETECT_KINDS):
            completed_roots += completed
    for name in chosen_names:
        if name not in names:
            raise _unknown_provider(Sourced(name, provider.source), names)

    warm_up = _pick(
        (flags.warm_up, "--warm-up"),
        (config.top("warm_up", str, choices=WARM_UP_MODES), file_source),
        ("background", SOURCE_DEFAULT),
    )
    offline = _pick(
        (flags.offline or None, "--offline"),
        (config.top("offline", bool), file_source),
        (False, SOURCE_DEFAULT),
    )
    connect_timeout = _pick(
        (flags.connect_timeout, "--connect-timeout"),
        (config.top("connect_timeout", float, positive=True), file_source),
        (DEFAULT_CONNECT_TIMEOUT, SOURCE_DEFAULT),
    )
    timeout = _pick(
        (flags.timeout, "--timeout"),
        (config.top("timeout", float, positive=True), file_source),
    ) or Sourced(None, SOURCE_DEFAULT)
    agent = _agent(flags, env, config, file_source)
    # lmprep.agents is imported only where a file names an agent: most runs read none.
    provider_agents = {name: Sourced(config.provider(name, "for", choices=_agent_names()), file_source)
                       for name in names if "for" in config.provider_tables.get(name, {})}
    if provider is not None and provider.value in provider_agents and (agent is None or agent.source == file_source):
        agent = provider_agents[provider.value]  # the chosen provider's own `for`, over the top-level one
    # The command line or the variable decides, whichever provider is used.
    agent_given = agent is not None and agent.source in ("--for", "LMPREP_FOR")
    agent = _an_agent(agent)
    min_context_given = _min_context(flags, config, file_source)
    return Settings(
        provider=provider,
        providers=providers,
        warm_up=warm_up,
        offline=offline,
        connect_timeout=connect_timeout,
        timeout=timeout,
        config_path=config_path,
        config_loaded=document is not None,
        warnings=(*_home_warning(), *config.warnings, *codex_warnings, *_completed_root_notices(completed_roots)),
        broken=broken,
        stall_timeout=_pick(
            (config.top("stall_timeout", float, positive=True), file_source),
            (DEFAULT_STALL_TIMEOUT, SOURCE_DEFAULT),
        ),
        min_context=_with_agent_minimum(min_context_given, agent),
        agent=agent,
        provider_agents=MappingProxyType(provider_agents),
        agent_given=agent_given,
        min_context_given=min_context_given,
        keep_alive=_keep_alive(flags, config, file_source),
        read_timeout=_pick(
            (flags.read_timeout, "--read-timeout"),
            (config.top("read_timeout", float, positive=True), file_source),
            (DEFAULT_READ_TIMEOUT, SOURCE_DEFAULT),
        ),
        ignore_fit=_pick(
            (flags.ignore_fit or None, "--ignore-fit"),
            (config.top("ignore_fit", bool), file_source),
            (False, SOURCE_DEFAULT),
        ),
        start=_pick(
            (False if flags.start is False else None, "--no-start"),
            (config.top("start", bool), file_source),
            (True, SOURCE_DEFAULT),
        ),
        configured=tuple(config.provider_tables),
    )


#: The values of Codex's `oss_provider` (its LMSTUDIO_OSS_PROVIDER_ID and OLLAMA_OSS_PROVIDER_ID).
CODEX_OSS_PROVIDERS = ("lmstudio", "ollama")


def codex_config_path(env: Mapping[str, str]) -> Path:
    """Codex's own config file: `config.toml` in $CODEX_HOME when that is set and not empty (taken
    as it is, no `~` expanded), else in ~/.codex (codex-rs `find_codex_home`)."""
    from .dirs import home_dir

    if env.get("CODEX_HOME"):
        return Path(env["CODEX_HOME"]) / "config.toml"
    home = Path(env["HOME"]) if env.get("HOME") else home_dir()
    return (home or Path("/nonexistent")) / ".codex" / "config.toml"  # no home at all: no Codex config


def _codex_oss_provider(env: Mapping[str, str], warnings: list[str]) -> Sourced[str] | None:
    """`oss_provider` of Codex's config file, the provider `codex --oss` uses: the selected
    profile's (`profile = "NAME"`, `[profiles.NAME] oss_provider`) else the top-level one, as
    Codex resolves it. A file Codex users share with lmprep must never stop lmprep: what cannot
    be read or used is a warning, and lmprep goes on as without it."""
    path = codex_config_path(env)
    source = f"Codex's config {_home_abbreviated(path, env)}"
    try:
        document, _ = _load_file(Sourced(path, SOURCE_DEFAULT))  # missing: None, silently
    except NotConfiguredError as exc:
        warnings.append(f"{exc.message} lmprep ignores it (it reads only Codex's oss_provider there).")
        return None
    if not document:
        return None
    value = document.get("oss_provider")
    profile = document.get("profile")
    profiles = document.get("profiles")
    if isinstance(profile, str) and isinstance(profiles, dict) and isinstance(profiles.get(profile), dict) \
            and "oss_provider" in profiles[profile]:
        value = profiles[profile]["oss_provider"]
    if value is None:
        return None
    if value not in CODEX_OSS_PROVIDERS:
        shown = repr(value) if isinstance(value, str) else "not a string"
        warnings.append(f"{path}: Codex's oss_provider ({shown[:80]}) is not "
                        f"{' or '.join(CODEX_OSS_PROVIDERS)}; lmprep ignores it.")
        return None
    return Sourced(value, source)


def _home_abbreviated(path: Path, env: Mapping[str, str]) -> str:
    """``path`` with the home folder written ``~`` (as people read it: "~/.codex/config.toml")."""
    from .dirs import home_dir

    home = Path(env["HOME"]) if env.get("HOME") else home_dir()
    try:
        if home is None:
            return str(path)
        return str(Path("~") / path.relative_to(home))
    except ValueError:
        return str(path)


def _home_warning() -> tuple[str, ...]:
    from .dirs import fallback_warning

    warning = fallback_warning()
    return () if warning is None else (warning,)


#: `for = "none"` (or LMPREP_FOR=none, --for none): no agent, over a `for` that would apply otherwise.
NO_AGENT = "none"


def _agent_names() -> tuple[str, ...]:
    from .agents import AGENTS

    return (*AGENTS, NO_AGENT)


def _an_agent(agent: Sourced[str] | None) -> Sourced[str] | None:
    return None if agent is None or agent.value == NO_AGENT else agent


def _agent(flags: Flags, env: Mapping[str, str], config: "_ConfigFile", file_source: str) -> Sourced[str] | None:
    """The agent that runs next: --for, else LMPREP_FOR, else the file's top-level `for = `
    (a provider's own `for` is applied once the provider is known: Settings.for_provider)."""
    for value, source in ((flags.agent, "--for"), ((env.get("LMPREP_FOR") or "").strip() or None, "LMPREP_FOR")):
        if value is not None:
            if value not in _agent_names():
                where = "" if source == "--for" else f" (from {source})"
                raise NotConfiguredError(f"Unknown agent {value!r}{where}.",
                                         f"Use one of: {', '.join(_agent_names())}.")
            return Sourced(value, source)
    if "for" not in config.document:
        return None
    return Sourced(config.top("for", str, choices=_agent_names()), file_source)


def _agent_label(agent: Sourced[str]) -> str:
    """Where an agent's window requirement comes from, as config show and errors say it."""
    if agent.source in ("--for", "LMPREP_FOR"):
        return f"{agent.source} {agent.value}" if agent.source == "--for" else f"LMPREP_FOR={agent.value}"
    return f"for = {agent.value} in {agent.source}"


def _with_agent_minimum(given: Sourced[int | None], agent: Sourced[str] | None) -> Sourced[int | None]:
    """--min-context or the file's min_context, else the agent's own minimum."""
    if given.value is not None or agent is None:
        return given
    minimum = _agent_min_context(agent)
    return Sourced(minimum, _agent_label(agent)) if minimum is not None else given


def _agent_min_context(agent: Sourced[str] | None) -> int | None:
    """The window the agent needs, unless --min-context or the file says otherwise."""
    if agent is None:
        return None
    from .agents import min_context

    return min_context(agent.value)


#: --keep-alive for ever (Ollama's -1; LM Studio: loaded without a TTL).
FOREVER = -1.0
# Patterns stay strings (compiled by `re` on first use, then cached): most runs use none of them.
_DURATION_PART = r"(\d+(?:\.\d+)?)(ms|s|m|h|d)"
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_keep_alive(value: Any) -> float:
    """Seconds from ``30m``, ``2h``, ``1h30m``, ``90s``, a number of seconds, or FOREVER for
    ``-1`` (any negative number, as Ollama reads it). ValueError for anything else, and for 0,
    which would unload the model as soon as it is loaded."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            parts = re.findall(_DURATION_PART, text)
            if not parts or "".join(number + unit for number, unit in parts) != text:
                raise ValueError(f"{value!r} is not a duration") from None
            seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # nan, inf
        raise ValueError(f"{value!r} is not a duration")
    if seconds < 0:
        return FOREVER
    if seconds == 0:
        raise ValueError("0 would unload the model at once")
    if seconds > MAX_TIMEOUT:
        raise ValueError(f"{value!r} is longer than {MAX_TIMEOUT:.0f} s; use -1 for ever")
    return seconds


def parse_tokens(value: Any) -> int:
    """A number of tokens: a whole number, or one with a `k`/`K` suffix meaning 1024 as agents' and
    Ollama's docs write windows ("64k" = 65536, "128k" = 131072, the sizes models are trained
    with). ValueError for anything else, for 0 and below, and past MAX_TOKENS."""
    if isinstance(value, bool):
        raise ValueError("not a number of tokens")
    if isinstance(value, int):
        tokens = value
    else:
        text = str(value).strip()
        number, multiplier = (text[:-1], 1024) if text[-1:] in ("k", "K") else (text, 1)
        # The length check first: int() refuses more than 4300 digits with a ValueError of its own.
        if not (number.isascii() and number.isdigit()) or len(number.lstrip("0")) > 12:
            raise ValueError(f"{text[:40]!r} is not a number of tokens")
        tokens = int(number) * multiplier
    if tokens <= 0:
        raise ValueError("it must be above 0")
    if tokens > MAX_TOKENS:
        raise ValueError(f"it is more than {MAX_TOKENS:,} tokens")
    return tokens


def _min_context(flags: Flags, config: "_ConfigFile", file_source: str) -> Sourced[int | None]:
    if "min_context" in config.document:
        try:
            from_file = parse_tokens(config.document["min_context"])
        except ValueError as exc:
            raise config._type_error((), "min_context", f"at most {MAX_TOKENS:,} tokens" if "more than" in str(exc)
                                     else 'a number of tokens above 0, such as 65536 or "64k"') from None
    else:
        from_file = None
    return _pick(
        (None if flags.min_context is None else parse_tokens(flags.min_context), "--min-context"),
        (from_file, file_source),
    ) or Sourced(None, SOURCE_DEFAULT)


def _keep_alive(flags: Flags, config: "_ConfigFile", file_source: str) -> Sourced[float | None]:
    hint = "Give a duration such as 30m, 2h or 90s, a number of seconds, or -1 to keep it loaded for ever."
    if flags.keep_alive is not None:
        try:
            return Sourced(parse_keep_alive(flags.keep_alive), "--keep-alive")
        except ValueError as exc:
            raise NotConfiguredError(f"--keep-alive {flags.keep_alive!r} is not usable: {exc}.", hint) from None
    if "keep_alive" in config.document:
        try:
            return Sourced(parse_keep_alive(config.document["keep_alive"]), file_source)
        except ValueError as exc:
            raise config._type_error((), "keep_alive", f"a duration ({exc})") from None
    return Sourced(None, SOURCE_DEFAULT)


def _check_flags(flags: Flags) -> None:
    """The CLI validates its options with click; API callers reach here unchecked."""
    if flags.warm_up is not None and flags.warm_up not in WARM_UP_MODES:
        raise NotConfiguredError(
            f"Unknown warm-up mode {flags.warm_up!r}.", f"Use one of: {', '.join(WARM_UP_MODES)}."
        )
    if flags.min_context is not None:
        try:
            parse_tokens(flags.min_context)
        except ValueError:
            raise NotConfiguredError(f"min_context={flags.min_context!r} is not a number of tokens.",
                                     'Give a whole number above 0, e.g. 65536 or "64k" (k: 1024).') from None
    for name, value in (("connect_timeout", flags.connect_timeout), ("read_timeout", flags.read_timeout),
                        ("timeout", flags.timeout)):
        if value is not None and not 0 < value <= MAX_TIMEOUT:  # also refuses nan and inf
            raise NotConfiguredError(
                f"{name}={value!r} is not a usable timeout.",
                f"Give a number of seconds above 0 (at most {MAX_TIMEOUT:.0f}), or leave it out.",
            )


def _is_variable_name(name: str) -> bool:
    """An environment variable name as shells take it: ASCII letters, digits and _, not
    starting with a digit."""
    return name.isascii() and name.isidentifier()


#: Real model ids are well under this (Hugging Face: 96 characters; Ollama names a few hundred).
MAX_MODEL_ID = 512


def model_id_problem(model: str) -> str | None:
    """Why ``model`` cannot be a model id lmprep passes on (to a server, `lms`, an agent's
    environment or command line), or None. Never quotes it. The one rule for ids from every
    source: flags, variables, the config file, and what a server serves."""
    if model.startswith("-"):
        return "it starts with '-' and would be read as an option (real model ids never do)"
    if len(model) > MAX_MODEL_ID:
        return f"it is {len(model)} characters long (at most {MAX_MODEL_ID})"
    for ch in model:
        if ch < " " or ch == "\x7f" or "\x80" <= ch <= "\x9f":
            return "it holds a control character"
        if "\ud800" <= ch <= "\udfff":
            return "it is not valid Unicode (a lone surrogate)"
    return None


def validate_model_id(model: str, source: str) -> str:
    model = model.strip()
    if not model:
        raise NotConfiguredError(f"The model id from {source} is empty.", "Give a model id, e.g. `-m openai/gpt-oss-20b`.")
    problem = model_id_problem(model)
    if problem is not None:
        raise NotConfiguredError(f"Refusing the model id from {source}: {problem}.",
                                 "Check the model id; real ones are short and printable.")
    return model


def served_model_id(model: str | None, label: str, base_url: str) -> str | None:
    """A model id a server chose (it serves only that one), held to the same rule as an id
    from ``-m``: ProtocolError (exit 8) when lmprep cannot pass it on."""
    problem = None if model is None else model_id_problem(model)
    if problem is not None:
        from .errors import ProtocolError

        raise ProtocolError(f"{label} at {base_url} serves a model id lmprep cannot pass on: {problem}.",
                            "Give the model with -m, or look at what the server is serving.")
    return model


def _pick(*candidates: tuple[Any, str]) -> Sourced | None:
    for value, source in candidates:
        if value is not None:
            return Sourced(value, source)
    return None


def expand_user(path: str) -> Path:
    """``Path(path).expanduser()``, but a ``~name`` of no known user stays as written
    (pathlib raises RuntimeError for it) and then simply names no file."""
    try:
        return Path(path).expanduser()
    except (RuntimeError, ValueError):  # ValueError: "~a\0b" reaches pwd.getpwnam with a NUL
        return Path(path)


def _config_path(flags: Flags, env: Mapping[str, str]) -> Sourced[Path]:
    if flags.config_path:
        return Sourced(expand_user(flags.config_path), "--config")
    if env.get("LMPREP_CONFIG"):
        return Sourced(expand_user(env["LMPREP_CONFIG"]), "LMPREP_CONFIG")
    return Sourced(default_config_path(), SOURCE_DEFAULT)


def folder_hint(folder: Path, source: str = "--config") -> str:
    """What to do when the config path ``folder`` (from ``source``) is a folder."""
    import shlex

    inside = shlex.quote(str(folder / "config.toml"))
    source = source if source in ("--config", "LMPREP_CONFIG") else "--config or LMPREP_CONFIG"
    return f"Point {source} at a file in it, e.g. {inside} (`lmprep config init --config {inside}` writes one)."


def _load_file(path: Sourced[Path]) -> tuple[dict | None, str]:
    from .files import read_regular

    try:
        raw = read_regular(path.value, MAX_CONFIG_BYTES)  # a FIFO or /dev/zero as --config: refused, not read
    except NotADirectoryError as exc:  # a file where a folder should be, such as HOME=/dev/null
        if path.source == SOURCE_DEFAULT:
            return None, ""
        raise NotConfiguredError(
            f"The config file {path.value} (from {path.source}) cannot exist: {exc.strerror}.",
            "Point --config/LMPREP_CONFIG at an existing file.",
        ) from None
    except FileNotFoundError:
        if path.source == SOURCE_DEFAULT:
            return None, ""
        import shlex

        # `config init` alone writes where LMPREP_CONFIG points, but not where a --config of this run did.
        init = f"lmprep config init --config {shlex.quote(str(path.value))}" if path.source == "--config" \
            else "lmprep config init"
        raise NotConfiguredError(
            f"The config file {path.value} (from {path.source}) does not exist.",
            f"Create it with `{init}`, or point {path.source} at an existing file.",
        ) from None
    except OSError as exc:
        # os.path.isdir, not Path.is_dir: the latter raises for a name too long (ENAMETOOLONG).
        if os.path.isdir(path.value):
            raise NotConfiguredError(f"The config file {path.value} (from {path.source}) is a folder, not a file.",
                                     folder_hint(path.value, path.source)) from None
        raise NotConfiguredError(
            f"The config file {path.value} cannot be read: {exc.strerror or exc}.",
            "Check its permissions, or point --config/LMPREP_CONFIG elsewhere.",
        ) from None
    except ValueError as exc:  # a path no file can have (a NUL byte)
        raise NotConfiguredError(
            f"The config file path {str(path.value)!r} (from {path.source}) is not usable: {exc}.",
            "Point --config/LMPREP_CONFIG at an existing file.",
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise _bad_file(path.value, line, column, "it is not valid UTF-8") from None

    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        line, column = _decode_error_position(exc, text)
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)\s*$", "", str(exc))
        raise _bad_file(path.value, line, column, reason + _unquoted_hint(text, line, column)) from None
    except RecursionError:
        # tomllib recurses once per nested array or inline table.
        line, column = _position_of(text, r"(?:[\[{][^\[\]{}]*){64}", r"[\[{]")
        raise _bad_file(path.value, line, column, "arrays or inline tables are nested too deeply") from None
    except ValueError as exc:
        # Not a TOMLDecodeError: int() refuses a number of more than 4300 digits.
        line, column = _position_of(text, r"\d[\d_]{4300}")
        raise _bad_file(path.value, line, column, str(exc).split(";")[0]) from None


def _unquoted_hint(text: str, line: int, column: int) -> str:
    """What to write instead of a bare word as a value (``oss_provider = ollama``, the slip people
    make most in TOML), or "": tomllib only says "Invalid value" there."""
    written = text.split("\n")[line - 1] if 0 < line <= text.count("\n") + 1 else ""
    key = re.match(r"\s*([^=\[\]]+?)\s*=\s*$", written[: column - 1])
    word = re.match(r"[A-Za-z][^\s#\"',\[\]{}]*", written[column - 1:])
    if not key or not word or len(word.group()) > 80:
        return ""
    if word.group().lower() in ("true", "false"):
        return f"; true and false are written in lower case: `{key.group(1)} = {word.group().lower()}`"
    return f'; a string needs quotes: `{key.group(1)} = "{word.group()}"`'


def _position_of(text: str, *patterns: str) -> tuple[int, int]:
    """Line and column (1-based) of the first pattern found; else the end of the text."""
    for pattern in patterns:
        match = re.search(pattern, text)
        if match:
            before = text[: match.start()]
            return before.count("\n") + 1, match.start() - (before.rfind("\n") + 1) + 1
    lines = text.rstrip("\n").split("\n")
    return len(lines), len(lines[-1]) + 1


def _decode_error_position(exc: Exception, text: str) -> tuple[int, int]:
    line = getattr(exc, "lineno", None)
    column = getattr(exc, "colno", None)
    if line and column:
        return line, column
    match = re.search(r"line (\d+), column (\d+)", str(exc))
    if match:
        return int(match.group(1)), int(match.group(2))
    # "at end of document": the last line with text (split at "\n" only, as TOML does).
    lines = text.rstrip("\n").split("\n")
    return len(lines), len(lines[-1]) + 1


#: Where a user (also one who installed with pip, without this repository) reads what each key means.
CONFIG_HELP = ("Fix that line, or point --config elsewhere. `lmprep config init --config example.toml` writes a "
               "file that describes every key; so does the README's Configuration section.")


def _bad_file(path: Path, line: int, column: int, reason: str) -> NotConfiguredError:
    return NotConfiguredError(
        f"The config file {path} is invalid at line {line}, column {column}: {reason}.",
        CONFIG_HELP,
    )


class _ProviderVariableError(NotConfiguredError):
    """An ecosystem variable that only some providers read is unusable."""


#: Unknown keys warned about one by one (with their line); past these, one line counts the rest.
MAX_UNKNOWN_KEY_WARNINGS = 20


class _ConfigFile:
    """Typed access to the parsed file, with errors that point at the offending line."""

    def __init__(self, document: dict | None, text: str, path: str) -> None:
        self.document = document or {}
        self.text = text
        self.path = path
        self.warnings: list[str] = []
        unknown = [((), key) for key in self.document if key not in _TOP_LEVEL_KEYS]
        providers = self.document.get("providers", {})
        if not isinstance(providers, dict):
            raise self._type_error((), "providers", "a table ([providers.NAME] sections)")
        self.provider_tables: dict[str, dict] = {}
        for name, table in providers.items():
            if not isinstance(table, dict):
                raise self._type_error(("providers",), name, "a table")
            unknown += [(("providers", name), key) for key in table if key not in _PROVIDER_KEYS]
            self.provider_tables[name] = table
        # Each warning scans the text for its line: only the first few are worth it (a file of
        # thousands of unknown keys took half a minute), the rest are counted.
        for table_path, key in unknown[:MAX_UNKNOWN_KEY_WARNINGS]:
            self._warn_unknown(table_path, key)
        if len(unknown) > MAX_UNKNOWN_KEY_WARNINGS:
            self.warnings.append(f"{self.path}: and {len(unknown) - MAX_UNKNOWN_KEY_WARNINGS} more unknown keys "
                                 "(ignored)")

    def top(self, key: str, kind: type, *, choices=None, positive=False):
        return self._value((), self.document, key, kind, choices=choices, positive=positive)

    def provider(self, name: str, key: str, kind: type = str, *, choices=None):
        table = self.provider_tables.get(name, {})
        return self._value(("providers", name), table, key, kind, choices=choices)

    def _value(self, table_path, table, key, kind, *, choices=None, positive=False):
        if key not in table:
            return None
        value = table[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            expected = {str: "a string", bool: "true or false", float: "a number", int: "a whole number"}[kind]
            raise self._type_error(table_path, key, expected)
        if choices is not None and value not in choices:
            raise self._type_error(table_path, key, "one of " + ", ".join(repr(c) for c in choices))
        if positive and not 0 < value <= (MAX_TOKENS if kind is int else MAX_TIMEOUT):  # also refuses nan and inf
            unit, example, most = ("tokens", 65536, "1,000,000,000 tokens") if kind is int \
                else ("seconds", 30, "1,000,000,000 seconds (31 years)")
            below = value != value or value <= 0  # nan is refused as "not above 0"
            raise self._type_error(table_path, key, f"a number of {unit} above 0, such as {example}" if below
                                   else f"at most {most}")
        return value

    def _type_error(self, table_path, key, expected) -> NotConfiguredError:
        line, column = locate_key(self.text, table_path, key)
        dotted = ".".join((*table_path, key))
        return _bad_file(Path(self.path), line, column, f"`{dotted}` must be {expected}")

    def _warn_unknown(self, table_path, key) -> None:
        import difflib

        line, _ = locate_key(self.text, table_path, key)
        dotted = ".".join((*table_path, key))
        known = sorted(_PROVIDER_KEYS if table_path else _TOP_LEVEL_KEYS)
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        meant = f"; did you mean `{'.'.join((*table_path, close[0]))}`?" if close else ""
        self.warnings.append(f"{self.path}:{line}: unknown key `{dotted}` (ignored){meant}")


_HEADER = r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$"
_HEADER_PART = r'\s*("[^"]*"|\'[^\']*\'|[^.]+)\s*(?:\.|$)'  # "a.b" quoted keys keep their dots


def locate_key(text: str, table_path: tuple[str, ...], key: str) -> tuple[int, int]:
    """Line and column (1-based) of ``key = ...`` inside the table ``table_path``.

    tomllib reports positions only for syntax errors, so type errors are located by
    scanning headers and keys. Falls back to the table header, else to where the table
    itself is written as a key (``providers = {lmstudio = ...}``), then to line 1.
    """
    found, subtable_line, header_line = _scan_key(text, table_path, key)
    if found is not None:
        return found
    if subtable_line is not None:
        return subtable_line, 1
    if header_line is not None:
        return header_line, 1
    for depth in range(len(table_path), 0, -1):
        found = _scan_key(text, table_path[: depth - 1], table_path[depth - 1])[0]
        if found is not None:
            return found
    return 1, 1


def _scan_key(text: str, table_path: tuple[str, ...], key: str):
    """(line, column) of ``key =`` in the table (or None), the line of a [table_path.key...]
    header (or None), and the line of the table's own header (or None)."""
    current: tuple[str, ...] = ()
    header_line = None
    subtable_line = None  # a [table_path.key] or [table_path.key.*] header: the key is a table
    full = (*table_path, key)
    # split("\n"), not splitlines(): TOML lines end at "\n" only, and a string may hold
    # "\u2028" that splitlines() would count as a line break.
    for number, line in enumerate(text.split("\n"), start=1):
        header = re.match(_HEADER, line)
        if header:
            current = tuple(part.strip().strip("\"'") for part in re.findall(_HEADER_PART, header.group(1)))
            if current == table_path:
                header_line = number
            elif subtable_line is None and current[: len(table_path) + 1] == (*table_path, key):
                subtable_line = number
            continue
        # `model = 3` under [providers.lmstudio], or a dotted key written higher up:
        # `lmstudio.model = 3` under [providers], `providers.lmstudio.model = 3` at the top.
        if full[: len(current)] == current and len(current) <= len(table_path):
            match = _dotted_key_pattern(full[len(current):]).match(line)
            if match:
                return (number, match.end() + 1), subtable_line, header_line
    return None, subtable_line, header_line


def _dotted_key_pattern(parts: tuple[str, ...]) -> re.Pattern:
    """``a.b.c =`` with each part bare, "quoted" or 'quoted', and blanks around the dots."""
    def one(part: str) -> str:
        return "(?:" + "|".join((re.escape(part), '"' + re.escape(part) + '"', "'" + re.escape(part) + "'")) + ")"
    return re.compile(r"^\s*" + r"\s*\.\s*".join(one(part) for part in parts) + r"\s*=\s*")


def _resolve_provider(name, flags, env, config: _ConfigFile, file_source,
                      completed: list["_CompletedRoot"]) -> ProviderSettings:
    kind_name = config.provider(name, "kind", choices=tuple(KINDS))
    if name in KINDS:
        if kind_name is not None and kind_name != name:
            raise config._type_error(("providers", name), "kind", f"{name!r} (or left out) for the built-in provider")
        kind_name = name
    elif kind_name is None:
        line, column = locate_key(config.text, ("providers", name), "kind")
        raise _bad_file(Path(config.path), line, column, f"the custom provider `{name}` needs `kind = ` one of {', '.join(KINDS)}")
    kind = KINDS[kind_name]

    base_url = _pick(
        (flags.base_url, "--base-url"),
        (env.get("LMPREP_BASE_URL") or None, "LMPREP_BASE_URL"),
        *(_ecosystem_base_urls(kind_name, env) if name == kind_name else ()),
        (config.provider(name, "base_url"), file_source),
        *(_lmstudio_port_file(env) if kind_name == "lmstudio" else ()),
        (kind.default_base_url, SOURCE_DEFAULT),
    )
    if base_url is not None:
        checked = _checked_base_url(base_url)
        api_base = api_base_url(checked, kind_name)
        if api_base != checked:
            completed.append(_CompletedRoot(base_url.source, checked, api_base, kind.label))
        base_url = Sourced(api_base, base_url.source)

    model = _pick(
        (flags.model, "--model"),
        (env.get("LMPREP_MODEL") or None, "LMPREP_MODEL"),
        (config.provider(name, "model"), file_source),
        (kind.default_model, SOURCE_DEFAULT),
    )
    if model is not None:
        model = Sourced(validate_model_id(model.value, model.source), model.source)

    api_key_env = _pick(
        (config.provider(name, "api_key_env"), file_source),
        (kind.default_api_key_env, SOURCE_DEFAULT),
    )
    if api_key_env is not None and not _is_variable_name(api_key_env.value):
        raise config._type_error(("providers", name), "api_key_env", "the name of an environment variable")
    token = env.get(api_key_env.value) or None if api_key_env else None
    if kind_name == "lmstudio" and token is None and api_key_env is not None and api_key_env.source == SOURCE_DEFAULT \
            and env.get(LM_STUDIO_API_KEY):
        # LM Studio's client libraries read LM_STUDIO_API_KEY; LM_API_TOKEN (its docs' name) comes first.
        api_key_env, token = Sourced(LM_STUDIO_API_KEY, SOURCE_DEFAULT), env[LM_STUDIO_API_KEY]
    if token is not None:
        from .redact import check_token, register_secret

        register_secret(token)
        try:
            check_token(token, api_key_env.value)
        except NotConfiguredError as exc:
            # Raised only when this provider is used: a bad LM_API_TOKEN must not stop Ollama.
            raise _ProviderVariableError(exc.message, exc.hint) from None

    lms_path = None
    if kind_name == "lmstudio":
        lms_path = _pick(
            (env.get("LMPREP_LMS") or None, "LMPREP_LMS"),
            (config.provider(name, "lms_path"), file_source),
        )
    ca_cert = _pick((config.provider(name, "ca_cert"), file_source))
    if ca_cert is not None:
        ca_cert = Sourced(str(expand_user(ca_cert.value)), ca_cert.source)
    return ProviderSettings(name, kind_name, base_url, model, api_key_env, lms_path, token, ca_cert,
                            _start_options(name, config))


def _start_options(name: str, config: "_ConfigFile") -> Mapping[str, Any]:
    """The keys of [providers.NAME] that say how to start its server, checked: `command` (the
    whole argv, no shell) and `args` (added to what lmprep runs) lists of strings, `command` not
    empty; `model_path` and `models_dir` paths; `start` true or false."""
    table = config.provider_tables.get(name, {})
    options: dict[str, Any] = {}
    for key in ("command", "args"):
        if key in table:
            value = table[key]
            if not isinstance(value, list) or not all(isinstance(part, str) and "\0" not in part for part in value) \
                    or (key == "command" and (not value or not value[0].strip())):
                what = "a list of strings, the program first" if key == "command" else "a list of strings"
                raise config._type_error(("providers", name), key, what)
            options[key] = tuple(value)
    for key in ("model_path", "models_dir"):
        value = config.provider(name, key)
        if value is not None:
            options[key] = str(expand_user(value))
    start = config.provider(name, "start", bool)
    if start is not None:
        options["start"] = start
    return MappingProxyType(options)


def _ecosystem_base_urls(kind: str, env: Mapping[str, str]) -> list[tuple[str | None, str]]:
    candidates: list[tuple[str | None, str]] = []
    if KINDS[kind].codex_oss:
        candidates.append((env.get("CODEX_OSS_BASE_URL") or None, "CODEX_OSS_BASE_URL"))
        port = (env.get("CODEX_OSS_PORT") or "").strip()
        if port:
            # (the length check first: int() raises its own ValueError past 4300 digits)
            if not (port.isascii() and port.isdigit() and len(port.lstrip("0")) <= 5) or not 0 < int(port) < 65536:
                raise _ProviderVariableError(
                    f"CODEX_OSS_PORT={port!r} is not a port number.", "Set it to a number such as 1234, or unset it."
                )
            candidates.append((f"http://localhost:{int(port)}/v1", "CODEX_OSS_PORT"))
    if kind == "lmstudio" and env.get("LM_STUDIO_BASE_URL", "").strip():
        candidates.append((lmstudio_base_url(env["LM_STUDIO_BASE_URL"]), "LM_STUDIO_BASE_URL"))
    if kind == "ollama" and env.get("OLLAMA_HOST", "").strip():
        try:
            origin = parse_ollama_host(env["OLLAMA_HOST"])
        except ValueError as exc:
            raise _ProviderVariableError(
                f"OLLAMA_HOST={env['OLLAMA_HOST']!r} is not a valid host: {exc}.",
                "Set it like Ollama expects (e.g. 127.0.0.1:11434 or http://host:port), or unset it.",
            ) from None
        candidates.append((origin + "/v1", "OLLAMA_HOST"))
    return candidates


def api_base_url(base_url: str, kind: str) -> str:
    """A server's root (``http://localhost:11434``, no path) → the base URL of its OpenAI API
    (``.../v1``), where the kind's layout is known: each serves that API under one path, the path
    of its default base URL (Ollama, LM Studio, llama-server and vLLM /v1, Lemonade /api/v1,
    Docker Model Runner /engines/v1). OpenAI clients given the root get 404 for every request.
    A URL with a path (a proxy's ``/custom/v1``) and the generic ``openai`` kind stay as given.
    ``base_url`` is checked (normalize_base_url) already: no trailing slash, query or fragment."""
    default = KINDS[kind].default_base_url
    if default is None or _url_path(base_url):
        return base_url
    return base_url + "/" + _url_path(default)


def _url_path(url: str) -> str:
    """The path of a checked URL, without its leading slash ("" for a server's root)."""
    return url.split("://", 1)[1].partition("/")[2]


class _CompletedRoot(NamedTuple):
    """A base URL given as a server's root, and the API base lmprep uses instead."""

    source: str
    given: str
    api_base: str
    label: str


def _completed_root_notices(completed: list[_CompletedRoot]) -> list[str]:
    """One line per root URL given (a --base-url that auto-detection tries on every kind is
    one line, naming the paths that differ from the usual /v1)."""
    by_given: dict[tuple[str, str], list[_CompletedRoot]] = {}
    for entry in completed:
        by_given.setdefault((entry.source, entry.given), []).append(entry)
    notices = []
    for (source, given), entries in by_given.items():
        said = f"The base URL {given} from {source} has no path"
        paths: dict[str, list[str]] = {}
        for entry in entries:
            paths.setdefault(entry.api_base[len(given):], []).append(entry.label)
        if len(entries) == 1:
            notices.append(f"{said}: lmprep uses {entries[0].label}'s API base, {entries[0].api_base}.")
        elif len(paths) == 1:
            notices.append(f"{said}: lmprep uses the API base {entries[0].api_base}.")
        else:
            usual = max(paths, key=lambda path: len(paths[path]))
            others = ", ".join(f"{label}: {path}" for path, labels in paths.items() if path != usual
                               for label in labels)
            notices.append(f"{said}: lmprep uses each server's API base under it, {given}{usual} ({others}).")
    return notices


def lmstudio_base_url(value: str) -> str:
    """LM_STUDIO_BASE_URL as LM Studio's client libraries take it (the server root, often
    `http://localhost:1234`, `ws://host:port` or `host:port`) → the OpenAI base URL (`.../v1`)."""
    text = value.strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme)
    url = f"{scheme}://{rest}".rstrip("/")
    return url if _url_path(url) else url + "/v1"


def lmstudio_homes(home: Path) -> list[Path]:
    """LM Studio's home folders in the order `lms` itself looks at them."""
    from .files import read_regular

    homes: list[Path] = []
    pointer = home / ".lmstudio-home-pointer"
    try:
        # The careful reader: a FIFO there hung every command, a link to /dev/zero filled memory.
        target = read_regular(pointer, 65536).decode("utf-8").strip()
    except (OSError, UnicodeDecodeError, ValueError):
        target = ""
    if target:
        homes.append(expand_user(target))
    homes += [home / ".lmstudio", home / ".cache" / "lm-studio"]
    return homes


def _lmstudio_port_file(env: Mapping[str, str]) -> list[tuple[str | None, str]]:
    """The port LM Studio's server really listens on: LM Studio writes it to
    `<LM Studio home>/.internal/http-server.json` (`{"port": N, ...}`) when the server starts."""
    import json

    from .files import read_regular

    from .dirs import home_dir

    home = Path(env["HOME"]) if env.get("HOME") else home_dir()
    for lm_home in lmstudio_homes(home) if home is not None else ():
        path = lm_home / ".internal" / "http-server.json"
        try:
            document = json.loads(read_regular(path, 65536))  # a FIFO or a device there: skipped, never waited on
        except (OSError, ValueError, RecursionError):
            continue
        port = document.get("port") if isinstance(document, dict) else None
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port < 65536:
            return [(f"http://localhost:{port}/v1", str(path))]
    return []


def _checked_base_url(base_url: Sourced[str]) -> str:
    try:
        return normalize_base_url(base_url.value)
    except ValueError as exc:
        error = _ProviderVariableError if base_url.source in _PROVIDER_VARIABLES else NotConfiguredError
        raise error(
            f"The base URL {base_url.value!r} from {base_url.source} is not usable: {exc}.",
            "Give a URL like http://localhost:1234/v1.",
        ) from None


def _unknown_provider(provider: Sourced[str], valid: list[str]) -> NotConfiguredError:
    import difflib

    close = difflib.get_close_matches(provider.value, valid, n=1, cutoff=0.6)
    suggestion = f"Did you mean {close[0]!r}? " if close else ""
    return NotConfiguredError(
        f"Unknown provider {provider.value!r} (from {provider.source}).",
        f"{suggestion}Valid providers: {', '.join(valid)}.",
    )

"""Ollama: native API at the server root (/api/...), OpenAI-compatible API under /v1."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Any

from ..config import FOREVER
from ..errors import DownloadFailedError, LmprepError, ProtocolError, WarmupFailedError
from ..events import Step, Transfer
from ..hosts import strip_v1
from ..http import error_text, json_error_message, parse_json
from ..termtext import one_line
from .base import (
    IDENTIFY_READ_TIMEOUT,
    WARM_UP_READ_TIMEOUT,
    ModelState,
    PullLayers,
    Provider,
    StallWatch,
    check_listed,
    count,
    kind_of_owners,
    positive_int,
)

if TYPE_CHECKING:
    from ..starting import StartPlan, StartRequest

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"


def normalize_model_name(name: str) -> str:
    """Ollama's full form of a model name: ``host/namespace/model:tag``, lower-cased."""
    # casefold, not lower: lower() turns a final "Σ" into "ς", so "aΣ" and "aΣ:latest" differed.
    name = name.strip().casefold()
    parts = name.split("/")
    model, _, tag = parts[-1].partition(":")
    tag = tag or DEFAULT_TAG
    leading = parts[:-1]
    if len(leading) == 0:
        host, namespace = DEFAULT_REGISTRY, DEFAULT_NAMESPACE
    elif len(leading) == 1:
        host, namespace = DEFAULT_REGISTRY, leading[0]
    else:
        host, namespace = leading[0], "/".join(leading[1:])
    return f"{host}/{namespace}/{model}:{tag}"


def pull_source(model: str) -> str:
    """Where Ollama pulls ``model`` from, as the pull's first line says it: a name with a host
    comes from that host (``hf.co/USER/REPO[:QUANT]`` and ``huggingface.co/...`` from Hugging
    Face, which Ollama reaches through that host), other names from ollama.com (its library
    for a name without a namespace)."""
    host, namespace = normalize_model_name(model).split("/")[:2]
    if host in ("hf.co", "huggingface.co"):
        return "Hugging Face"
    if host != DEFAULT_REGISTRY:
        return host
    return "the Ollama library" if namespace == DEFAULT_NAMESPACE else "ollama.com"


class Ollama(Provider):
    kind = "ollama"
    lists_openai_models = False  # GET /api/tags
    stop_hint = ("the Ollama app's Quit, or `systemctl stop ollama` where its Linux installer made it a service "
                 "(`ollama serve` has no stop command)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shown: dict[str, dict] = {}
        self._on_cpu: dict[str, int] = {}  # normalised name → % not in GPU memory, from the last /api/ps
        self._expires: dict[str, object] = {}  # normalised name → its `expires_at`, from the last /api/ps
        self._resident: list[tuple[str, int, int]] = []  # (name, size, size_vram) of each, from the last /api/ps
        self._sizes: dict[str, object] = {}  # name → its `size` (bytes on disk) in the last /api/tags

    @property
    def root(self) -> str:
        return strip_v1(self.base_url)

    def unreachable_hint(self) -> str:
        return "Start it with `ollama serve` (or open the Ollama app), or install it from https://ollama.com/download."

    @classmethod
    def start_plan(cls, request: StartRequest) -> StartPlan | None:
        """`ollama serve` (the `ollama` on PATH; None without one), listening where the base URL
        points, and, when lmprep starts it for an agent, with the agent's window as its default
        window and --keep-alive as its default keep-alive. The user's own OLLAMA_* values win.

        The variables as `ollama serve` reads them (ollama/ollama envconfig/config.go at fb30760,
        2026-08; every value trimmed of spaces and quotes by `Var`): OLLAMA_HOST, `[scheme://]
        host[:port]`, http and 11434 by default, an IPv6 address in brackets (`Host`);
        OLLAMA_CONTEXT_LENGTH, a decimal count of tokens, 0 or unset: by VRAM (`Uint`, the window
        of every load that asks for none: all OpenAI and Anthropic requests);
        OLLAMA_KEEP_ALIVE, a Go duration (`30m`, `1h30m`, `1500ms`) or whole seconds, negative for
        ever, 5 minutes by default (`KeepAlive`). Checked against Ollama v0.33.0-rc2 built from
        source: OLLAMA_CONTEXT_LENGTH is capped at the model's training window, `8k` is no number
        to it (a warning, then its default: so lmprep writes digits), a request's num_ctx wins;
        OLLAMA_KEEP_ALIVE as keep_alive_variable() reads it (`2d` is its default 5 minutes)."""
        from ..starting import StartPlan

        if not request.base_url.startswith("http://"):
            return None  # `ollama serve` speaks plain http
        ollama = request.which("ollama")
        if ollama is None:
            return None
        env: dict[str, str] = {}
        if not _user_host_serves(request):
            host = request.host if request.host.startswith("[") or ":" not in request.host else f"[{request.host}]"
            env["OLLAMA_HOST"] = f"{host}:{request.port}"
        if request.window is not None and not _user_sets(request.environ, "OLLAMA_CONTEXT_LENGTH"):
            env["OLLAMA_CONTEXT_LENGTH"] = str(request.window)
        if request.keep_alive is not None and not _user_sets(request.environ, "OLLAMA_KEEP_ALIVE"):
            env["OLLAMA_KEEP_ALIVE"] = go_duration(request.keep_alive)
        return StartPlan((ollama, "serve"), env)

    def missing_hint(self, model: str) -> str:
        return f"Download it with `ollama pull {model}`, or run lmprep without --offline."

    def identify(self) -> bool:
        try:
            response = self.http.request(
                "GET", f"{self.root}/", read_timeout=IDENTIFY_READ_TIMEOUT, retry=False, doing="looking for Ollama"
            )
            return response.status_code == 200 and b"Ollama is running" in response.content
        except LmprepError:
            return False

    def list_models(self) -> list[str]:
        doing = "listing models (GET /api/tags)"
        response = self.http.request("GET", f"{self.root}/api/tags", doing=doing)
        if response.status_code != 200:
            raise ProtocolError(
                f"{self.label} at {self.root} answered GET /api/tags with HTTP {response.status_code}: "
                f"{error_text(response)}.",
                "Check that the base URL points at Ollama (default http://localhost:11434/v1).",
            )
        body = parse_json(response, self.label, doing)
        models = body.get("models") if isinstance(body, dict) else None
        if not isinstance(models, list):
            raise ProtocolError(
                f"{self.label} at {self.root} answered GET /api/tags without a `models` list.",
                "Check that the base URL points at Ollama (default http://localhost:11434/v1).",
            )
        check_listed(self, models, "/api/tags")
        names = []
        for item in models:
            if isinstance(item, dict):
                name = item.get("name") or item.get("model")
                if isinstance(name, str):
                    names.append(name)
                    self._sizes[name] = item.get("size")  # read only before a load: kept raw, as listed
        # llama-server answers /api/tags too, with its OpenAI `data` list beside the `models`
        # (tools/server: "ollama specific endpoint"); Ollama's own /api/tags has no `data`.
        data = body.get("data")
        if isinstance(data, list):
            self.listed_owners = tuple(item["owned_by"] for item in data
                                       if isinstance(item, dict) and isinstance(item.get("owned_by"), str))
            self.listing_says = kind_of_owners(self.listed_owners)
        else:
            self.listing_says = "ollama"
        return names

    def model_key(self, model: str) -> str:
        return normalize_model_name(model)

    def model_keys(self, served: str) -> tuple[str, ...]:
        return (normalize_model_name(served),)

    def download(self, model: str) -> None:
        self.report(Step(f"Pulling {model} from {pull_source(model)}"))
        with self.http.stream(
            "POST",
            f"{self.root}/api/pull",
            json_body={"model": model, "stream": True},
            read_timeout=self.stall_timeout,
            doing=f"pulling {model}",
            timeout_error=DownloadFailedError,
            failure_error=DownloadFailedError,  # a pull cut off, reset or flooding is a failed download
        ) as response:
            if response.status_code != 200:
                response.read()
                raise DownloadFailedError(
                    f"Ollama refused to pull {model!r} (HTTP {response.status_code}: {error_text(response)}).",
                    self._pull_hint(model),
                )
            PullTracker(model, self).follow(response.iter_lines())

    # Ollama loads a model with the window its requests ask for (`options.num_ctx`), and
    # otherwise with its default (OLLAMA_CONTEXT_LENGTH, or by VRAM: 4k below 24 GiB). Agents
    # speak its OpenAI and Anthropic APIs, which cannot carry num_ctx, and a request whose window
    # differs from the loaded one's reloads the model (server/sched.go `needsReload`, with
    # `usesAutomaticNumCtx` in server/routes.go): a model lmprep loaded with num_ctx would be
    # reloaded at the default by the agent's first request. So lmprep loads it as agents will
    # find it, without num_ctx, and reads the window back.
    can_set_context = False
    honours_keep_alive = True

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        """From /api/ps: every loaded model by name, with its context length (and, for
        cpu_percent(), how much of it is not in GPU memory: `size_vram` below `size`)."""
        try:
            response = self.http.request("GET", f"{self.root}/api/ps", doing="reading the loaded models")
            running = response.json().get("models") if response.status_code == 200 else None
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return None
        if not isinstance(running, list):
            return None
        loaded: dict[str, int | None] = {}
        self._on_cpu = {}
        self._expires = {}
        self._resident = []
        for entry in running:
            name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
            if isinstance(name, str):
                loaded[name] = positive_int(entry.get("context_length"))
                self._expires[normalize_model_name(name)] = entry.get("expires_at")
                size, vram = positive_int(entry.get("size")), entry.get("size_vram")
                if size and isinstance(vram, int) and not isinstance(vram, bool) and vram >= 0:
                    self._resident.append((name, size, min(vram, size)))
                    # Ollama's own `ollama ps` shows the same split as "48%/52% CPU/GPU".
                    on_cpu = max(1, round(100 * (size - vram) / size)) if vram < size else 0
                    self._on_cpu[normalize_model_name(name)] = on_cpu
        return loaded

    def cpu_percent(self, model: str) -> int | None:
        return self._on_cpu.get(normalize_model_name(model))

    def reclaimable_bytes(self, model: str, on_gpu: bool) -> float:
        """Ollama unloads loaded models to make room for a load that does not fit beside them
        (server/sched.go `findRunnerToUnload`): their memory, from the last /api/ps, counts as free."""
        return sum(vram if on_gpu else size - vram for _, size, vram in self._resident)

    def cpu_hint(self) -> str:
        return ("Use a smaller model, or a smaller context window (OLLAMA_CONTEXT_LENGTH where Ollama runs: its "
                "KV cache takes GPU memory too), so that it fits the GPU.")

    def model_state(self, model: str) -> ModelState:
        """Loaded and its window from /api/ps, the maximum from /api/show's model_info."""
        wanted = normalize_model_name(model)
        running = self.loaded_models([])
        loaded = None if running is None else any(normalize_model_name(name) == wanted for name in running)
        context = next((length for name, length in (running or {}).items() if normalize_model_name(name) == wanted),
                       None)
        info = self._show(model).get("model_info")
        maximum = None
        if isinstance(info, dict):
            maximum = next((positive_int(v) for k, v in info.items()
                            if isinstance(k, str) and k.endswith(".context_length") and positive_int(v)), None)
        return ModelState(loaded, context, maximum, self.cpu_percent(model) if loaded else None)

    def fit_facts(self, model: str):
        """/api/show's model_info has the GGUF keys the estimate reads (not `attention.key_length`
        or `value_length`: the head size comes from embedding_length / head_count, checked
        against Ollama v0.33.0-rc2 built from source); the weights are the model's size in the
        /api/tags listing the run began with; the cache type, parallel sequences and default
        window are OLLAMA_* as the server has them where lmprep started it, else as a server
        started from this environment reads them (a server on this machine only is estimated)."""
        from ..fit import ModelFacts, ollama_cache_type, ollama_default_window, ollama_parallel

        shape = self._shape(model)
        if shape is None:
            return None
        environ = self.server_environ
        cache = ollama_cache_type(environ)
        return ModelFacts(shape, cache, cache, "OLLAMA_KV_CACHE_TYPE" if cache != "f16" else "",
                          ollama_default_window(environ), ollama_parallel(environ))

    def _shape(self, model: str):
        from ..fit import shape_from_metadata

        info = self._show(model).get("model_info")
        return shape_from_metadata(info, self._size(model)) if isinstance(info, dict) else None

    def load_blocker(self, model: str) -> tuple[str, str] | None:
        """Where lmprep started Ollama (and so knows its environment): a quantised
        OLLAMA_KV_CACHE_TYPE that this server cannot load (flash attention off, or a head size
        the cache's blocks do not divide). A server started elsewhere may run with other values
        than this environment's: nothing is said of it."""
        if self.server_environ is None:
            return None
        from ..fit import ollama_cache_problem

        return ollama_cache_problem(self._shape(model), self.server_environ)

    def _size(self, model: str) -> int | None:
        """The model's size on disk (its weights) as the last /api/tags listing said; None where it did not."""
        wanted = normalize_model_name(model)
        return next((positive_int(size) for name, size in self._sizes.items() if normalize_model_name(name) == wanted),
                    None)

    def tool_support(self, model: str) -> bool | None:
        """From /api/show's `capabilities` (Ollama refuses tools to a model without "tools")."""
        capabilities = self._show(model).get("capabilities")
        if not isinstance(capabilities, list):
            return None
        return "tools" in capabilities

    def _show(self, model: str) -> dict:
        """POST /api/show for ``model`` (asked once per run); {} when it says nothing usable."""
        cache = self._shown
        if model not in cache:
            try:
                response = self.http.request("POST", f"{self.root}/api/show", json_body={"model": model},
                                             doing=f"reading what {model} is")
                body = response.json() if response.status_code == 200 else None
            except (LmprepError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
                body = None
            cache[model] = body if isinstance(body, dict) else {}
        return cache[model]

    def context_fix_hint(self, needed: int) -> str:
        return (f"Ollama gives agents its default window: restart it with `OLLAMA_CONTEXT_LENGTH={needed} ollama "
                f"serve`, or use a model whose Modelfile says `PARAMETER num_ctx {needed}` (if it is set already, "
                "`ollama stop` the model and run lmprep again).")

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        if problem == "tools":
            return ("The model's template has no tool support (`ollama show MODEL` lists its capabilities): "
                    "choose one that lists `tools`, such as qwen3-coder or gpt-oss.")
        if problem == "version":
            return "Update Ollama from https://ollama.com/download."
        if problem == "route":
            since = {"responses": "0.13.3 (Codex wants 0.13.4)", "messages": "0.14"}.get(protocol.name)
            version = self.server_version()
            running = f" (this one is {version})" if version else ""
            if since:
                return (f"Ollama serves {protocol.label} from {since} on{running}: update it from "
                        "https://ollama.com/download.")
        return super().unsupported_hint(protocol, problem, said)

    def server_version(self) -> str | None:
        try:
            response = self.http.request("GET", f"{self.root}/api/version", read_timeout=IDENTIFY_READ_TIMEOUT, retry=False,
                                         doing="reading Ollama's version")
            version = response.json().get("version") if response.status_code == 200 else None
        except (LmprepError, ValueError, AttributeError, RecursionError):
            return None
        return one_line(version, 40) if isinstance(version, str) else None

    def _pull_hint(self, model: str) -> str:
        return f"Check the name at https://ollama.com/library, or run `ollama pull {model}` to see Ollama's own output."

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        """The native load request (/api/generate without a prompt), with `keep_alive` where given."""
        payload: dict[str, Any] = {"model": model}
        if keep_alive is not None:
            payload["keep_alive"] = ollama_duration(keep_alive)
        response = self.http.request(
            "POST",
            f"{self.root}/api/generate",
            json_body=payload,
            read_timeout=read_timeout,
            doing="loading the model (POST /api/generate)",
            timeout_error=WarmupFailedError,
            retry=True,
        )
        try:
            body: Any = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            body = None
        message = json_error_message(body)
        if response.status_code == 200 and message is None and isinstance(body, dict):
            return
        raise WarmupFailedError(
            f"Ollama could not load {model!r} (HTTP {response.status_code}: {message or error_text(response)}).",
            f"Check `ollama ps` and the Ollama server log; `ollama run {model}` shows the same error interactively.",
        )

    def refresh_keep_alive(self, model: str, keep_alive: float, read_timeout: float | None) -> bool:
        """A load request to a loaded model only sets how long it stays (server/sched.go
        `useLoadedRunner`); requests without keep_alive, as agents send, leave that as it is."""
        self.warm_up(model, read_timeout, keep_alive=keep_alive)
        return True


    def kept_for_ever(self, model: str) -> bool:
        """Whether /api/ps says ``model`` stays loaded for ever: a negative keep_alive is Go's
        longest duration, so `expires_at` is now + ~292 years (checked against Ollama v0.33.0-rc2
        built from source: "2319-03-14T06:17:19.85Z" on 2026-12-02; the year moves with the
        clock). False where it says a real expiry (any real keep_alive is below 100 years), or
        nothing, or a time lmprep cannot read."""
        self.loaded_models([])
        expires = self._expires.get(normalize_model_name(model))
        year = re.match(r"\+?(\d{4,6})-", expires) if isinstance(expires, str) else None
        return year is not None and int(year[1]) >= time.gmtime().tm_year + 100

    def unload(self, model: str) -> bool:
        """keep_alive 0 on the load request unloads the model at once (Ollama's own `ollama stop`)."""
        response = self.http.request("POST", f"{self.root}/api/generate", json_body={"model": model, "keep_alive": 0},
                                     doing=f"unloading {model}")
        return response.status_code == 200


def go_duration(seconds: float) -> str:
    """--keep-alive seconds as OLLAMA_KEEP_ALIVE takes them (a Go duration, envconfig.KeepAlive):
    `-1` for ever (not a Go duration, so Ollama reads it as whole seconds, -1, and negative is for
    ever; checked against Ollama v0.33.0-rc2 built from source: `-1` never unloads; it is also what
    Ollamas before envconfig read), whole seconds as `Ns`, else milliseconds (Go's ParseDuration
    has no exponents, which `%g` would write, and no `d` unit: `2d` is Ollama's 5 minutes)."""
    if seconds == FOREVER:
        return "-1"
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    return f"{max(1, round(seconds * 1000))}ms"


#: Nanoseconds in each unit Go's time.ParseDuration takes (`µs` is U+00B5, `μs` U+03BC); none other,
#: and case matters (`5M` is no duration).
_GO_UNITS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}
# A number with at least one digit (`5`, `1.5`, `.5`, `5.`), then a unit; longer units first (`ms` before `m`).
_GO_PART = r"([0-9]*)(?:\.([0-9]*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)"
_INT64 = 1 << 63
#: Ollama's keep-alive where OLLAMA_KEEP_ALIVE is unset or not one it reads (envconfig.KeepAlive).
OLLAMA_DEFAULT_KEEP_ALIVE = 300.0


def parse_go_duration(text: str) -> int | None:
    """Nanoseconds from a Go duration as time.ParseDuration reads it: an optional sign, then
    one or more number-unit parts (`1h30m`, `1.5h`, `-5m`, `300ms`), or a bare `0`; None for
    anything else (a number without a unit, `2d`, spaces inside, an overflow past 2^63 ns)."""
    sign = text[:1] if text[:1] in ("-", "+") else ""
    body = text[len(sign):]
    if body == "0":
        return 0
    if not body or not re.fullmatch(f"(?:{_GO_PART})+", body):
        return None
    total = 0
    for whole, fraction, unit in re.findall(_GO_PART, body):
        if not whole and not fraction:
            return None  # `.s`: no digits at all
        if len(whole.lstrip("0")) > 19:
            return None  # past 2^63 whatever the unit (and int() refuses thousands of digits)
        fraction = fraction[:19]  # Go too stops reading a fraction's digits that add nothing
        scale = _GO_UNITS[unit]
        total += int(whole or 0) * scale + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0)
        if total > _INT64:
            return None
    if sign == "-":
        return -total
    return total if total < _INT64 else None


def keep_alive_variable(value: str | None) -> float:
    """OLLAMA_KEEP_ALIVE in seconds as `ollama serve` reads it (envconfig.KeepAlive): trimmed of
    spaces, then of quotes (envconfig.Var); a Go duration, else whole seconds (strconv.ParseInt,
    ASCII digits); negative: FOREVER; 0: unload as soon as a request ends; anything else, and
    unset, Ollama's 5 minutes. Checked against Ollama v0.33.0-rc2 built from source: `300` and `5m`
    5 minutes, `-1` and `-5m` never unload, `1h30m` 1h30m, `0` unloads at once, `2d` (no `d` unit)
    and `1.5` (no decimal seconds without a unit) the default 5 minutes."""
    text = (value or "").strip().strip("\"'")
    if not text:
        return OLLAMA_DEFAULT_KEEP_ALIVE
    nanoseconds = parse_go_duration(text)
    if nanoseconds is None:
        whole = re.fullmatch(r"([-+]?)0*([0-9]{1,19})", text)  # leading zeros are no digits to int()'s limit
        seconds = int(whole[1] + whole[2]) if whole else None
        if seconds is None or not -_INT64 <= seconds < _INT64:
            return OLLAMA_DEFAULT_KEEP_ALIVE
        # time.Duration(n) * time.Second in int64: past ~292 years it wraps, as Go's does.
        nanoseconds = (seconds * 10**9 + _INT64) % (2 * _INT64) - _INT64
    if nanoseconds < 0:
        return FOREVER
    return nanoseconds / 1e9


def _user_sets(environ, name: str) -> bool:
    """The user's environment gives ``name`` a value Ollama reads (blank is unset to its `Var`)."""
    return bool(environ.get(name, "").strip().strip("\"'"))


def _user_host_serves(request: StartRequest) -> bool:
    """The user's own OLLAMA_HOST has `ollama serve` listen where lmprep will look: kept, so that
    a server shared on the network (`0.0.0.0:11434`) stays shared when lmprep starts it."""
    from urllib.parse import urlsplit

    from ..hosts import parse_ollama_host

    value = request.environ.get("OLLAMA_HOST", "")
    if not _user_sets(request.environ, "OLLAMA_HOST"):
        return False
    try:
        parts = urlsplit(parse_ollama_host(value))  # bind-all addresses read as 127.0.0.1
    except ValueError:
        return False
    ours = request.host.strip("[]").casefold()
    theirs = (parts.hostname or "").casefold()
    return parts.scheme == "http" and parts.port == request.port and (
        theirs == ours or (theirs == "127.0.0.1" and ours == "localhost"))


def ollama_duration(seconds: float) -> int | float:
    """keep_alive for a request body, always a JSON number: api.Duration reads a number as seconds
    (decimals too), negative for ever, while a string must be a Go duration (checked against
    Ollama v0.33.0-rc2 built from source: the string "-1" is HTTP 400 `time: missing unit in
    duration "-1"`, "2d" HTTP 400 `unknown unit "d"`; -1, 600 and 1.5 load)."""
    if seconds == FOREVER or seconds < 0:
        return -1
    return int(seconds) if float(seconds).is_integer() else seconds


class PullTracker:
    """Follows an /api/pull NDJSON stream line by line, summing bytes over layers."""

    def __init__(self, model: str, ollama: Ollama) -> None:
        self.model = model
        self.ollama = ollama
        self.layers = PullLayers("Ollama", model, ollama._pull_hint(model))  # digest -> (completed, total)
        self._finished = False  # the transfer's last event (final=True) was reported
        self.last_status: str | None = None
        self._stall = StallWatch(ollama.stall_timeout, "Ollama", model,
                                 "Run lmprep again: Ollama resumes interrupted pulls.")

    def follow(self, lines) -> None:
        deadline = self.ollama.deadline
        for line in lines:
            deadline.cap(None, f"pulling {self.model}")
            self._check_stall(line)
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except (ValueError, RecursionError):
                raise DownloadFailedError(
                    f"Ollama's pull stream for {self.model!r} had a line that is not JSON: {line[:160]!r}.",
                    self.ollama._pull_hint(self.model),
                ) from None
            if not isinstance(item, dict):
                continue
            if "error" in item:
                raise DownloadFailedError(
                    f"Ollama could not pull {self.model!r}: {json_error_message(item) or 'no reason given'}.",
                    self.ollama._pull_hint(self.model),
                )
            status = item.get("status")
            if status == "success":
                self._layers_done()
                return
            self._track(item)
            status = one_line(status) if isinstance(status, str) else None  # server text: one clean line
            if status and status != self.last_status and not status.startswith("pulling "):
                if self.layers:  # "verifying sha256 digest": every layer is in
                    self._layers_done()
                self.last_status = status
                self.ollama.report(Step(f"Ollama: {status}"))
        raise DownloadFailedError(
            f"Ollama's pull stream for {self.model!r} ended before it said `success`"
            + (f" (last status: {self.last_status})." if self.last_status else "."),
            "Run lmprep again: Ollama resumes interrupted pulls.",
        )

    def _check_stall(self, line: str) -> None:
        """Lines that repeat the same progress are not progress: a pull can stall while the
        server keeps talking."""
        self._stall.check((self.last_status, sum(c for c, _ in self.layers.values())))

    def _track(self, item: dict) -> None:
        digest = item.get("digest")
        completed = item.get("completed")
        total = item.get("total")
        if not isinstance(digest, str):
            return
        completed = count(completed) or 0
        total = count(total)
        if total is not None:
            completed = min(completed, total)  # progress never shows more than the whole
        self.layers.put(digest, (completed, total))
        self._finished = False
        self.ollama.report(self._transfer(final=False))

    def _transfer(self, final: bool) -> Transfer:
        totals = [t for _, t in self.layers.values()]
        done = sum(c for c, _ in self.layers.values())
        known_total = sum(t for t in totals if t) if all(totals) else None
        # Not over until Ollama moves past its layers: it names each layer only when it starts
        # pulling it, so the layers so far may all be complete while others are still to come.
        return Transfer(f"Pulling {self.model}", done, known_total, final=final)

    def _layers_done(self) -> None:
        if self.layers and not self._finished:
            self._finished = True
            self.ollama.report(self._transfer(final=True))

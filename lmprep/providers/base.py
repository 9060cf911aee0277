"""The small interface every provider kind implements, and what OpenAI-style servers share."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from ..config import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, DEFAULT_STALL_TIMEOUT, MAX_MODEL_ID,
                      SOURCE_DEFAULT, ProviderSettings)
from ..deadline import Deadline
from ..errors import DownloadFailedError, LmprepError, ProtocolError, WarmupFailedError
from ..events import Reporter, ignore
from ..http import Http, error_text, json_error_message, parse_json
from ..termtext import one_line, one_word
from .kinds import KINDS

IDENTIFY_READ_TIMEOUT = 2.0
#: The most models a listing may name: servers list tens; a listing of more is not one, and
#: every step after it (matching names, `status`) is linear in it.
MAX_LISTED = 10_000
WARM_UP_READ_TIMEOUT = 600.0
#: How many of a server's model ids a message names before it counts the rest ("and 12 more").
NAMED_MODELS = 10

#: The `owned_by` that servers write into every entry of their OpenAI /models listing, where it
#: names the server rather than the model's owner: LM Studio "organization_owner", llama-server
#: "llamacpp", vLLM "vllm", Lemonade "lemonade", Docker Model Runner "docker"; Ollama writes the
#: model's namespace, "library" for its own library (hf.co and user models say other names).
OWNERS = {"organization_owner": "lmstudio", "library": "ollama", "llamacpp": "llamacpp", "vllm": "vllm",
          "lemonade": "lemonade", "docker": "dmr", "llama-swap": "llamaswap"}


def kind_of_owners(owners) -> str | None:
    """The one provider kind the ``owned_by`` values of a listing name (None: none, or several)."""
    kinds = {OWNERS[owner] for owner in owners if owner in OWNERS}
    return kinds.pop() if len(kinds) == 1 else None


class ModelState(NamedTuple):
    """What the server says of one model, from GET requests only."""

    loaded: bool | None  # in memory now; None: the server does not say
    context: int | None = None  # the window it is loaded with, in tokens; None: not loaded or unknown
    maximum: int | None = None  # the most the model supports; None: unknown
    cpu_percent: int | None = None  # share of the loaded model in system memory, run by the CPU; None: unknown


UNKNOWN = ModelState(None)


def positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


#: Byte counts beyond this are not counts (400-digit totals made the progress maths overflow).
MAX_COUNT = 2**63 - 1


def count(value: Any) -> int | None:
    """A number of bytes or files from a server: an int from 0 to MAX_COUNT, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT else None


def rate(value: Any) -> float | None:
    """Bytes per second from a server: a finite number of at least 1 (a rate of 5e-324 made
    the time left overflow), else None."""
    import math

    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return value if math.isfinite(value) and 1 <= value <= MAX_COUNT else None


#: Layer ids are digests (`sha256:` and 64 hex digits); a longer one is not an id.
MAX_LAYER_ID = 256
#: A model has a handful of layers (files); a stream naming more is not a pull.
MAX_LAYERS = 10_000


class PullLayers(dict):
    """Progress per layer of one pull (id -> what the tracker keeps), held to MAX_LAYERS ids of
    at most MAX_LAYER_ID characters: a stream of ever new, ever longer ids must not grow the heap."""

    def __init__(self, who: str, model: str, hint: str) -> None:
        super().__init__()
        self._who, self._model, self._hint = who, model, hint

    def put(self, layer_id: str, progress: Any) -> None:
        if len(layer_id) > MAX_LAYER_ID:
            raise DownloadFailedError(
                f"{self._who}'s pull stream for {self._model!r} named a layer id of {len(layer_id)} characters.",
                self._hint)
        if layer_id not in self and len(self) >= MAX_LAYERS:
            raise DownloadFailedError(
                f"{self._who}'s pull stream for {self._model!r} named more than {MAX_LAYERS} layers.", self._hint)
        self[layer_id] = progress


class StallWatch:
    """A pull that keeps talking without getting further has stalled too: ``check(mark)`` with
    how far it got (bytes, status); DownloadFailedError once that stood still ``seconds``.
    (Silence is the stream's read timeout, which is the same ``stall_timeout``.)"""

    def __init__(self, seconds: float, who: str, model: str, hint: str) -> None:
        import time

        self._seconds, self._who, self._model, self._hint = seconds, who, model, hint
        self._mark: Any = object()
        self._since = time.monotonic()

    def check(self, mark: Any) -> None:
        import time

        now = time.monotonic()
        if mark != self._mark:
            self._mark, self._since = mark, now
        elif now - self._since > self._seconds:
            raise DownloadFailedError(
                f"{self._who}'s pull of {self._model!r} made no progress for {self._seconds:g} s.",
                f"{self._hint} On a slow link, raise `stall_timeout` in the config file.")


def json_object(text: str | bytes) -> dict:
    """A line or body a server sent, as a JSON object; {} for anything else."""
    import json

    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return {}
    return value if isinstance(value, dict) else {}


def named_models(listing: Sequence[str]) -> str:
    """Model ids from a server, for a message: at most NAMED_MODELS, quoted and cut to one
    short line each, then how many more there are."""
    if not listing:
        return "no model"
    names = ", ".join(repr(one_line(model, 120)) for model in listing[:NAMED_MODELS])
    more = len(listing) - NAMED_MODELS
    return f"{names} and {more} more" if more > 0 else names


def missing_model_detail(model: str, listing: Sequence[str]) -> str:
    """What a model_missing message says after "does not have M": the server's ids closest
    to ``model``, then what it has."""
    import difflib

    # Compared casefolded: the same name in another case comes first, then the same name
    # under an owner (`qwen3-8b`, `Qwen/Qwen3-8B`). Ids longer than any model id lmprep
    # takes are never what was meant.
    folded: dict[str, list[str]] = {}
    for item in listing:
        if len(item) <= MAX_MODEL_ID:
            folded.setdefault(item.casefold(), []).append(item)
    matcher = difflib.SequenceMatcher(b=model.casefold())
    scored = []
    for order, key in enumerate(folded):  # as difflib.get_close_matches, but ties keep the server's order
        matcher.set_seq1(key)
        if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6 and matcher.ratio() >= 0.6:
            scored.append((-matcher.ratio(), order, key))
    close = [item for *_, key in sorted(scored)[:3] for item in folded[key]][:3]
    said = f"Did you mean {' or '.join(repr(one_line(item, 120)) for item in close)}? " if close else ""
    return f"{said}It has {named_models(listing)}."


class Provider:
    """One server of one kind at one base URL.

    Subclasses name their kind and fill in probing, listing, downloading and warming up.
    """

    kind: ClassVar[str]
    #: identify() asks a route of its own (LM Studio's greeting), not the listing probe() reads.
    identity_route: ClassVar[bool] = False
    #: list_models reads the OpenAI listing (GET {base_url}/models), with its `owned_by`.
    lists_openai_models: ClassVar[bool] = True
    #: How a user stops a server of this kind that lmprep did not start (`lmprep stop` refuses to).
    stop_hint: ClassVar[str] = "Ctrl-C where it runs, or by ending its process"

    def __init__(
        self,
        settings: ProviderSettings,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        deadline: Deadline | None = None,
        report: Reporter = ignore,
        stall_timeout: float = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        if settings.base_url is None:
            raise ValueError(f"provider {settings.name} has no base URL")
        self.settings = settings
        self.stall_timeout = stall_timeout
        self.base_url = settings.base_url.value
        self.deadline = deadline or Deadline(None)
        self.report = report
        self.listed_owners: tuple[str, ...] = ()  # the `owned_by` values of the last listing
        self.listing_says: str | None = None  # the kind the last listing's shape names (None: it does not)
        # The environment the server runs with, where lmprep knows it: it started the server in
        # this run, from its own environment (a start plan adds only the host, window and
        # keep-alive). None: started by someone else (a service, an app, an earlier shell).
        self.server_environ: Mapping[str, str] | None = None
        self.http = Http(
            self.base_url,
            label=self.label,
            token=settings.token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            deadline=self.deadline,
            unreachable_hint=self.unreachable_hint(),
            auth_hint=self.auth_hint(),
            ca_cert=settings.ca_cert.value if settings.ca_cert else None,
            certificate_hint=self.certificate_hint(),
        )

    @classmethod
    def start_plan(cls, request):
        """How to start this kind's server on this machine (a starting.StartPlan), or None where
        lmprep knows no way (then only a configured `command` starts it). ``request``: a
        starting.StartRequest. Never runs anything: finding the program is all it may do."""
        return None

    @property
    def label(self) -> str:
        return self.settings.label

    def close(self) -> None:
        self.http.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- what a kind tells the user -------------------------------------------------------

    def unreachable_hint(self) -> str:
        return f"Start the server, or check the base URL (now {self.base_url})."

    def certificate_hint(self) -> str:
        where = (f"check that {self.settings.ca_cert.value} (ca_cert, from {self.settings.ca_cert.source}) holds the CA "
                 "that signed it" if self.settings.ca_cert else
                 f'set `ca_cert = "/path/to/ca.pem"` under [providers.{self.settings.name}] in the config file, '
                 "or SSL_CERT_FILE=/path/to/ca.pem")
        return (f"If a private CA signed the server's certificate, {where}; the certificate must also name the "
                "host of the base URL.")

    def auth_hint(self) -> str:
        variable = self.settings.api_key_env.value if self.settings.api_key_env else None
        if variable is None:
            return "The server wants an API token: name the variable holding it with `api_key_env` in the config file."
        if self.settings.token:
            return f"The token in ${variable} was refused: check that it is current."
        return f"The server wants an API token: set ${variable}."

    def missing_hint(self, model: str) -> str:
        return f"Start the server with {model!r}, or choose a model it serves with -m."

    # -- what a kind does ----------------------------------------------------------------

    def identify(self) -> bool:
        """Whether the server at base_url is this kind; never raises for network trouble."""
        raise NotImplementedError

    def list_models(self) -> list[str]:
        """Probe the server and list the model ids it has (raises unreachable/auth/protocol)."""
        raise NotImplementedError

    #: How the server matches the model of a request to what it has, for messages.
    name_rule: ClassVar[str] = "ignores the case of model names"

    def probe(self) -> list[str]:
        """list_models for a provider chosen by name, which nothing has identified yet: a server
        that answers as another kind is a ProtocolError naming it, before anything acts on it
        (a download through the wrong API, advice about the wrong program). The listing decides
        where it can (its `owned_by`, its shape), so that the usual case costs no request."""
        try:
            listing = self.list_models()
        except ProtocolError as error:
            from ..detect import what_answers

            other = what_answers(self, listed=False)
            if other is not None and other[0] != self.kind:
                raise self.wrong_kind(*other) from error
            raise
        if self.kind == "openai" or self.listing_says == self.kind:
            return listing  # the generic kind takes any OpenAI-compatible server
        if self.listing_says is None and self.identity_route and self.identify():
            return listing
        from ..detect import what_answers

        other = what_answers(self, listed=True)
        if other is not None and other[0] != self.kind:
            raise self.wrong_kind(*other)
        if self.identity_route or self.listed_owners:
            raise self.wrong_kind(None, self.identity_evidence())
        return listing  # an empty listing from a kind known by its listing: nothing says otherwise

    def identity_evidence(self) -> str:
        """Why the server is not taken for this kind, for the message (see owners_evidence)."""
        return self.owners_evidence()

    def owners_evidence(self) -> str:
        """What the last listing's `owned_by` said, for a message."""
        owners = sorted({one_word(owner) for owner in self.listed_owners})
        if not owners:
            return "it lists no models"
        named = ", ".join(repr(owner) for owner in owners[:3]) + (" and others" if len(owners) > 3 else "")
        return f"its /models entries are owned by {named}"

    def wrong_kind(self, other: str | None, evidence: str) -> ProtocolError:
        """The error for a server that answers as ``other`` (None: as no kind lmprep knows)."""
        from .kinds import KINDS

        label = KINDS[self.kind].label
        source = self.settings.base_url.source
        default = KINDS[self.kind].default_base_url
        if source == SOURCE_DEFAULT:  # another server holds the kind's default address
            elsewhere = f"give {label}'s own address with --base-url"
        else:
            elsewhere = (f"point the base URL (from {source}) at {label}'s own address"
                         + (f" (by default {default})" if default else ""))
        entry = self.settings.name
        if other is None:
            return ProtocolError(
                f"{self.base_url} does not answer like {label} ({evidence}).",
                f"If {label} runs elsewhere, {elsewhere}; for another OpenAI-compatible server, "
                + ("use `-p openai`." if entry == self.kind else f'set `kind = "openai"` under [providers.{entry}].'),
            )
        use = (f"use `-p {other}` for it" if entry == self.kind
               else f'set `kind = "{other}"` under [providers.{entry}]')
        return ProtocolError(
            f"{self.base_url} answers like {KINDS[other].label}, not {label} ({evidence}).",
            f"If it is the server you meant, {use}; otherwise {elsewhere}.",
        )

    def model_key(self, model: str) -> str:
        """The form of a wanted model id that a served one is compared in (see model_keys):
        the server's own rule for the model of a request."""
        return model.casefold()

    def model_keys(self, served: str) -> tuple[str, ...]:
        """Every model_key under which the served id ``served`` answers."""
        return (served.casefold(),)

    def has_model(self, model: str, listing: list[str]) -> bool:
        wanted = self.model_key(model)
        return any(wanted in self.model_keys(item) for item in listing)

    def near_models(self, model: str, listing: list[str]) -> list[str]:
        """The listed ids the server's rule does not match to ``model`` but that evidently
        mean it: the same letters in another case, or, on a server that cannot download, the
        same name without its owner (`qwen3-8b` for `Qwen/Qwen3-8B`). Where a server can
        download, another owner's model of that name is another model to fetch."""
        wanted = model.casefold()
        by_name = "/" not in model and not KINDS[self.kind].can_download
        return [item for item in listing
                if item.casefold() == wanted or (by_name and item.rsplit("/", 1)[-1].casefold() == wanted)]

    def served_name(self, model: str, listing: list[str]) -> str | None:
        """The name to send the server for ``model``: ``model`` where the server's rule finds
        it, else the one near model (see near_models) in the server's own spelling; None when
        it has neither, or several near ones."""
        if self.has_model(model, listing):
            return model
        near = self.near_models(model, listing)
        return near[0] if len(near) == 1 else None

    def only_model(self, listing: list[str]) -> str | None:
        """The model to use when none was chosen and the kind has no default (None: ask)."""
        return None

    def download(self, model: str) -> None:
        """Fetch ``model`` onto the server's disk (kinds that can download only)."""
        raise NotImplementedError

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        """Make the server load ``model`` (with ``context_length`` where the kind can set it,
        kept loaded ``keep_alive`` seconds or FOREVER where it honours that); raises
        WarmupFailedError with the server's words."""
        raise NotImplementedError

    # -- what is loaded, and for how long ----------------------------------------------------

    can_set_context: ClassVar[bool] = False  # a load request can choose the window agents then get
    honours_keep_alive: ClassVar[bool] = False  # a load request can say how long the model stays

    def model_state(self, model: str) -> ModelState:
        """Whether ``model`` is loaded, with which window, and its maximum, where the server says.
        GET requests only; never raises for what the server answers."""
        return UNKNOWN

    def cpu_percent(self, model: str) -> int | None:
        """After loaded_models(): how much of ``model`` (in %) runs from system memory on the CPU
        rather than on the GPU, where the server says; None where it does not."""
        return None

    def fit_facts(self, model: str):
        """What the memory estimate needs of ``model`` (lmprep.fit.ModelFacts: its layers, KV
        heads, head size, weights, cache type), from its own metadata; None where the server does
        not give it. Asked only before a load."""
        return None

    def load_blocker(self, model: str) -> tuple[str, str] | None:
        """Why the server will fail to load ``model`` whatever the window, as (what, what to do),
        where lmprep can tell before the load (from ``server_environ``); None otherwise."""
        return None

    def server_estimate(self, model: str, window: int) -> tuple[float, str] | None:
        """The server's own estimate of the bytes a load of ``model`` at ``window`` needs, and
        whose it is (for the message); None where it offers none. Asked only before a load."""
        return None

    def reclaimable_bytes(self, model: str, on_gpu: bool) -> float:
        """After model_state(): the memory (GPU memory where ``on_gpu``, else system memory) the
        server frees by itself to load ``model``, by unloading other models; 0 where it does not."""
        return 0

    def cpu_hint(self) -> str:
        return "Use a smaller model (or quantization), or a smaller context window, so that it fits the GPU."

    def refresh_keep_alive(self, model: str, keep_alive: float, read_timeout: float | None) -> bool:
        """Keep an already loaded model loaded for ``keep_alive``; False where the server
        cannot change that without reloading it."""
        return False

    def unload(self, model: str) -> bool:
        """Unload ``model`` now; False where the server cannot be asked to."""
        return False

    def context_fix_hint(self, needed: int) -> str:
        return f"Restart the server with a context window of at least {needed} tokens."

    # -- what agents send ------------------------------------------------------------------

    def server_version(self) -> str | None:
        """The server's version where it says (None: it does not)."""
        return None

    def _version_field(self, url: str, field: str = "version") -> str | None:
        """``field`` of the JSON object GET ``url`` answers, cleaned and cut (a server's words):
        None where it answers anything else."""
        try:
            response = self.http.request("GET", url, read_timeout=IDENTIFY_READ_TIMEOUT, retry=False,
                                         doing=f"reading {self.label}'s version")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):
            return None
        version = body.get(field) if isinstance(body, dict) else None
        return one_line(version, 40) or None if isinstance(version, str) else None

    def tool_support(self, model: str) -> bool | None:
        """Whether the server says up front that ``model`` takes function tools (None: it does not say)."""
        return None

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        """What to do when the server lacks the route (``problem`` = "route"), refuses tools
        ("tools"), does not stream ("stream") or is too old ("version") for an agent; ``said`` is
        the server's message."""
        if problem in ("route", "version"):
            return f"Use a server that serves {protocol.label}, or upgrade this one."
        if problem == "tools":
            return "Use a server and model that accept function tools."
        return "Upgrade the server: agents read their answers as a stream of events."

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        """Loaded model id → its context length (None where unknown), or None when the server
        does not say which models are loaded. GET requests only; never raises for what the
        server answers."""
        return None

    def _get_json(self, url: str, doing: str) -> Any:
        """The JSON body of a 200 answer to GET ``url``; None for any other answer, or none.
        For what a server may or may not say: never raises for the server's trouble."""
        try:
            response = self.http.request("GET", url, doing=doing)
            return response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            return None

    # -- shared by OpenAI-compatible servers ------------------------------------------------

    def owners_say(self) -> str | None:
        """The kind that the `owned_by` of the OpenAI listing at base_url names (one GET, no
        waiting for a loading server); None: none, or no such listing."""
        try:
            self._openai_model_ids("looking at which server answers")
        except LmprepError:
            return None
        return self.listing_says

    def _openai_model_ids(self, doing: str = "listing models") -> list[str]:
        response = self.http.request("GET", f"{self.base_url}/models", doing=doing)
        return self._openai_model_ids_from(response, doing)

    def _openai_model_ids_from(self, response, doing: str) -> list[str]:
        """The ids of a /models answer, or a ProtocolError when it is not an OpenAI listing."""
        return [item["id"] for item in self._openai_model_items_from(response, doing)]

    def _openai_model_items_from(self, response, doing: str) -> list[dict]:
        """The entries (with an ``id``) of a /models answer; ProtocolError when it is not one."""
        body = parse_json(response, self.label, doing) if response.status_code == 200 else None
        message = json_error_message(body)
        if response.status_code != 200 or message is not None:
            raise ProtocolError(
                f"{self.label} at {self.base_url} answered GET /models with "
                f"HTTP {response.status_code}: {message or error_text(response)}.",
                f"Check that the base URL points at {self.label}'s OpenAI-compatible API (it usually ends in /v1).",
            )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise ProtocolError(
                f"{self.label} at {self.base_url} answered GET /models without a `data` list.",
                f"Check that the base URL points at {self.label}'s OpenAI-compatible API (it usually ends in /v1).",
            )
        check_listed(self, data, "/models")
        items = [item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)]
        self.listed_owners = tuple(item["owned_by"] for item in items if isinstance(item.get("owned_by"), str))
        self.listing_says = kind_of_owners(self.listed_owners)
        return items

    def _openai_warm_up(self, model: str, read_timeout: float, extra: dict | None = None) -> None:
        """One output token through /responses, or /chat/completions where the server lacks it;
        ``extra`` fields go into either request."""
        responses = self._post_warm_up(
            "/responses", {"model": model, "input": "", "max_output_tokens": 1, **(extra or {})}, read_timeout
        )
        if responses is not None and not unknown_route(*responses):
            self._check_warm_up(model, "/responses", *responses)
            return
        chat = self._post_warm_up(
            "/chat/completions",
            {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1, "stream": False,
             **(extra or {})},
            read_timeout,
        )
        self._check_warm_up(model, "/chat/completions", *chat)

    def _post_warm_up(self, path: str, payload: dict, read_timeout: float) -> tuple[int, Any, str]:
        return self._post_warm_up_to(f"{self.base_url}{path}", path, payload, read_timeout)

    def _post_warm_up_to(self, url: str, path: str, payload: dict, read_timeout: float) -> tuple[int, Any, str]:
        response = self.http.request(
            "POST",
            url,
            json_body=payload,
            read_timeout=read_timeout,
            doing=f"loading the model (POST {path})",
            timeout_error=WarmupFailedError,
            retry=True,
        )
        try:
            body = response.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            body = None
        return response.status_code, body, error_text(response)

    def _check_warm_up(self, model: str, path: str, status: int, body: Any, text: str) -> None:
        message = json_error_message(body)
        if status == 200 and message is None and body is not None:
            return
        raise WarmupFailedError(
            f"{self.label} could not load {model!r} (POST {path}: HTTP {status}: {message or text}).",
            self.warm_up_hint(model, body),
        )

    def warm_up_hint(self, model: str, body: Any) -> str:
        return f"Look at {self.label}'s log for why the model did not load."


def check_listed(provider: Provider, items: list, route: str) -> None:
    if len(items) > MAX_LISTED:
        raise ProtocolError(
            f"{provider.label} at {provider.base_url} listed {len(items)} models (GET {route}), more than the "
            f"{MAX_LISTED} any server lists.",
            f"Check that the base URL points at {provider.label}, not at another server or a proxy.",
        )


def unknown_route(status: int, body: Any, text: str) -> bool:
    """The server does not have the route (404/405, or LM Studio's 200 "Unexpected endpoint")."""
    if status in (404, 405, 501):
        message = (json_error_message(body) or text).lower()
        # A 404 naming the model is the model's fault, not the route's.
        return "model" not in message or "endpoint" in message
    message = json_error_message(body)
    return status == 200 and message is not None and "unexpected endpoint" in message.lower()


def error_code(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return str(code) if code is not None else None
    return None

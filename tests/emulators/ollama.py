"""An Ollama server emulator (see the Ollama section of providers.md).

Quirks reproduced: pull progress as an NDJSON stream whose errors arrive *inside* the 200
stream, lines without ``total``/``completed`` early on, streams ending without ``success``;
the native load request (``/api/generate`` without a prompt); case-insensitive
``[host/][namespace/]model[:tag]`` names; ``/v1/responses`` only from 0.13.3 on and
``/v1/messages`` from 0.14 on; unknown routes answer 404 ``404 page not found`` (plain text).

The scheduler's rules (ollama/ollama server/sched.go): a request without ``options.num_ctx``
(all OpenAI and Anthropic requests) gets the default window (``default_num_ctx``, Ollama's
OLLAMA_CONTEXT_LENGTH or VRAM tier, capped at the model's maximum); a loaded model is reloaded
when a request's window differs from the one it was loaded with, unless neither asked for one
(``needsReload``); ``keep_alive`` on a request sets how long the model stays, and a request
without it leaves that as it is (``useLoadedRunner``). A request with tools to a model without
the ``tools`` capability is HTTP 400 "... does not support tools" on every route.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .http_emulator import (
    HTTPEmulator,
    RecordedRequest,
    Reply,
    Route,
    json_reply,
    ndjson_reply,
    rfc3339,
    rfc3339_in,
    text_reply,
)
from .wire import PROTOCOLS, answer, wants_tools

__all__ = ["DEFAULT_NUM_CTX", "ModelName", "OllamaEmulator", "PullPlan", "display_name", "normalise_name", "parse_name"]

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"
#: Context length of a model loaded without ``options.num_ctx``.
DEFAULT_NUM_CTX = 4096
MISSING_MANIFEST = "pull model manifest: file does not exist"
_RESPONSES_API_SINCE = (0, 13, 3)
_MESSAGES_API_SINCE = (0, 14, 0)
#: Go's longest time.Duration, in nanoseconds: a negative keep_alive is this (api.Duration), so
#: /api/ps shows ``expires_at`` ~292 years ahead (the real Ollama v0.33.0-rc2: year 2319 in 2026).
GO_MAX_DURATION_NS = (1 << 63) - 1
_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llama",
    "families": ["llama"],
    "parameter_size": "8.0B",
    "quantization_level": "Q4_K_M",
}


# ---------------------------------------------------------------------- durations

_GO_UNIT_NS = {"ns": 1, "us": 1_000, "\u00b5s": 1_000, "\u03bcs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
               "h": 3600 * 10**9}


def go_parse_duration(text: str) -> int:
    """Nanoseconds, as Go's time.ParseDuration reads ``text``, character by character; ValueError
    with Go's own message where it refuses (``time: missing unit in duration "-1"``)."""
    quoted = json.dumps(text, ensure_ascii=False)
    rest, negative = text, False
    if rest[:1] in ("-", "+"):
        negative, rest = rest[0] == "-", rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {quoted}")
    total = 0
    while rest:
        if not (rest[0] == "." or rest[0].isascii() and rest[0].isdigit()):
            raise ValueError(f"time: invalid duration {quoted}")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        whole, rest = rest[:digits], rest[digits:]
        fraction = ""
        if rest[:1] == ".":
            rest = rest[1:]
            digits = len(rest) - len(rest.lstrip("0123456789"))
            fraction, rest = rest[:digits], rest[digits:]
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {quoted}")
        end = next((i for i, c in enumerate(rest) if c == "." or c in "0123456789"), len(rest))
        unit, rest = rest[:end], rest[end:]
        if not unit:
            raise ValueError(f"time: missing unit in duration {quoted}")
        if unit not in _GO_UNIT_NS:
            raise ValueError(f"time: unknown unit {json.dumps(unit, ensure_ascii=False)} in duration {quoted}")
        value = int(whole or "0") * _GO_UNIT_NS[unit]
        if fraction:
            value += int(int(fraction[:30]) * _GO_UNIT_NS[unit] / 10 ** len(fraction[:30]))
        total += value
        if total > 1 << 63:
            raise ValueError(f"time: invalid duration {quoted}")
    if negative:
        return -total
    if total > GO_MAX_DURATION_NS:
        raise ValueError(f"time: invalid duration {quoted}")
    return total


def keep_alive_variable_seconds(value: str) -> float | None:
    """OLLAMA_KEEP_ALIVE as envconfig.KeepAlive reads it (trimmed of spaces, then quotes): a Go
    duration, else whole seconds (strconv.ParseInt: ASCII digits, int64, then times 10^9 in int64,
    which wraps); negative: ``inf`` (for ever); None where it is neither (Ollama keeps its 5 minutes)."""
    text = value.strip().strip("\"'")
    if not text:
        return None
    try:
        return _seconds(go_parse_duration(text))
    except ValueError:
        pass
    if not re.fullmatch(r"[-+]?[0-9]+", text) or not -(1 << 63) <= int(text) < 1 << 63:
        return None
    return _seconds((int(text) * 10**9 + (1 << 63)) % (1 << 64) - (1 << 63))


def request_keep_alive_seconds(value: Any) -> float:
    """A request body's ``keep_alive`` as api.Duration's UnmarshalJSON reads it: a number is
    seconds, a string a Go duration; negative: ``inf``. ValueError with Ollama's message otherwise
    (a string such as "-1" or "2d", a bool, a list): the request is refused with HTTP 400."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        kind = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}.get(type(value), "?")
        raise ValueError(f"Unsupported type: '{kind}'")
    if isinstance(value, str):
        return _seconds(go_parse_duration(value))
    return float("inf") if value < 0 else float(value)


def _seconds(nanoseconds: int) -> float:
    return float("inf") if nanoseconds < 0 else nanoseconds / 1e9


# ---------------------------------------------------------------------- names


@dataclass(frozen=True)
class ModelName:
    host: str
    namespace: str
    model: str
    tag: str

    def shortest(self) -> str:
        """How Ollama displays a name: default host and namespace left out, tag always present."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"


def parse_name(name: str) -> ModelName | None:
    """``[scheme://][host/][namespace/]model[:tag][@digest]`` with defaults filled in; None if invalid."""
    text = re.sub(r"^https?://", "", name.strip(), flags=re.IGNORECASE).split("@", 1)[0]
    tag = DEFAULT_TAG
    if text.rfind(":") > text.rfind("/"):  # a colon before the last slash belongs to host:port
        text, tag = text.rsplit(":", 1)
    parts = text.split("/")
    if not tag or len(parts) > 3 or not all(parts):
        return None
    host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    else:
        (model,) = parts
    return ModelName(host, namespace, model, tag)


def _parse_or_raise(name: str) -> ModelName:
    parsed = parse_name(name)
    if parsed is None:
        raise ValueError(f"invalid Ollama model name {name!r}")
    return parsed


def display_name(name: str) -> str:
    """``library/Llama3`` → ``Llama3:latest`` (case kept)."""
    return _parse_or_raise(name).shortest()


def normalise_name(name: str) -> str:
    """The comparison form: ``llama3`` == ``LLAMA3:latest`` == ``registry.ollama.ai/library/llama3:latest``."""
    return display_name(name).lower()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------- pulls


@dataclass(frozen=True)
class PullPlan:
    """How ``/api/pull`` streams one model (a ``pull_catalog`` value, all keys optional).

    ``error_after``: number of per-layer lines sent before the in-band ``error`` line.
    """

    layers: tuple[int, ...] = (400_000_000, 12_000, 485)
    chunks: int = 4  #: progress lines per layer
    chunk_seconds: float = 0.0
    omit_totals_first: bool = False  #: each layer starts with a line without total/completed
    error_after: int | None = None
    error: str = "max retries exceeded: unexpected EOF"
    end_without_success: bool = False

    @classmethod
    def from_config(cls, entry: Mapping[str, Any]) -> PullPlan:
        settings = dict(entry)
        if "layers" in settings:
            settings["layers"] = tuple(settings["layers"])
        return cls(**settings)  # a TypeError names any misspelt key


# ---------------------------------------------------------------------- the emulator


class OllamaEmulator(HTTPEmulator):
    """Ollama on ``127.0.0.1:<free port>``.

    Config attributes besides those of :class:`HTTPEmulator` (``loaded``, ``load_seconds``,
    ``fail_load``, ``max_context``, ``hang``); model keys may be written in any form Ollama
    accepts, they are compared with :func:`normalise_name`:

    * ``models``: model → size in bytes (what ``/api/tags`` lists);
    * ``version``: what ``/api/version`` reports (``/v1/responses`` exists from 0.13.3 on);
    * ``pull_catalog``: model → :class:`PullPlan` settings of what ``/api/pull`` can fetch (models
      already present can always be pulled again);
    * ``default_num_ctx``: the window of a load that does not ask for one;
    * ``no_tools``: models whose template has no tool support;
    * ``capabilities_listed``: False emulates an Ollama whose /api/show has no ``capabilities``;
    * ``model_info``: model → more ``/api/show`` ``model_info`` keys (``general.architecture``,
      ``ARCH.block_count``, ...: the shape lmprep's memory estimate reads);
    * ``gpu_share``: model → the fraction of it in GPU memory once loaded (default 1.0); below 1,
      /api/ps shows ``size_vram`` below ``size``, as the real Ollama 0.33 does for a model that spilled
      to the CPU (providers.md);
    * ``idle_unload``: False keeps models loaded for ever (the default, so that tests not about it
      never see an unload); True unloads a model once ``keep_alive`` has passed since its last
      request (``default_keep_alive`` seconds where no request set one, Ollama's 5 minutes;
      negative: never), as Ollama's scheduler does.

    State: ``pull_count[normalised name]`` counts ``/api/pull`` requests; ``explicit_ctx`` holds
    the loaded models whose load asked for a window; ``keep_alive[model]`` the last keep_alive
    a request gave it, in seconds, ``inf`` for ever (``expires_at`` in /api/ps follows it);
    ``inference_loads``, for each OpenAI or Anthropic request (an agent's), whether the model
    had to be loaded for it. A request's keep_alive Ollama cannot read (the string "-1", "2d")
    is HTTP 400 with Go's error, as the real one answers.
    """

    server_header = "ollama-emulator"

    def __init__(
        self,
        *,
        models: Mapping[str, int] | None = None,
        loaded: Mapping[str, int] | None = None,
        version: str = "0.13.5",
        pull_catalog: Mapping[str, Mapping[str, Any]] | None = None,
        load_seconds: float = 0.0,
        fail_load: Mapping[str, str] | None = None,
        max_context: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(loaded=loaded, load_seconds=load_seconds, fail_load=fail_load, max_context=max_context)
        self.models: dict[str, int] = dict(models or {})
        self.version = version
        self.pull_catalog: dict[str, dict[str, Any]] = {name: dict(plan) for name, plan in (pull_catalog or {}).items()}
        self.pull_count: Counter[str] = Counter()
        self.default_num_ctx = DEFAULT_NUM_CTX
        self.no_tools: set[str] = set()
        self.capabilities_listed = True
        self._previous_prompt = ""
        self.explicit_ctx: set[str] = set()
        self.keep_alive: dict[str, Any] = {}
        self.gpu_share: dict[str, float] = {}
        self.idle_unload = False
        self.default_keep_alive: float = 300.0
        self.last_used: dict[str, float] = {}
        self.inference_loads: list[bool] = []
        self.model_info: dict[str, dict[str, Any]] = {}  # model → more /api/show model_info keys (its shape)
        self.kv_cache_type = ""  # OLLAMA_KV_CACHE_TYPE, lower-cased, as the server was started with
        self.flash_attention_off = False  # OLLAMA_FLASH_ATTENTION=0 (or f, false, ...)

    def routes(self) -> dict[tuple[str, str], Route]:
        routes = self._routes_table()
        return {key: self._expiring(route) for key, route in routes.items()}

    def _expiring(self, route: Route) -> Route:
        def expire_then_answer(request: RecordedRequest) -> Reply:
            self._expire_idle()
            return route(request)
        return expire_then_answer

    def _keep_alive_seconds(self, key: str) -> float:
        """How long ``key`` stays after its last request: the keep_alive a request set (already
        read by request_keep_alive_seconds), else the server's default; ``inf``: for ever."""
        value = self.keep_alive.get(key)
        value = self.default_keep_alive if value is None else value
        return float("inf") if value < 0 else value

    def _expire_idle(self) -> None:
        """Unload every model whose keep_alive has passed since its last request."""
        if not self.idle_unload:
            return
        now = time.monotonic()
        with self.lock:
            for key in list(self.loaded):
                keep = self._keep_alive_seconds(key)
                if keep >= 0 and now - self.last_used.get(key, now) > keep:
                    del self.loaded[key]
                    self.keep_alive.pop(key, None)

    def _routes_table(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/"): lambda request: text_reply("Ollama is running"),
            ("GET", "/api/version"): lambda request: json_reply({"version": self.version}),
            ("GET", "/api/tags"): self._tags,
            ("GET", "/api/ps"): self._ps,
            ("POST", "/api/pull"): self._pull,
            ("POST", "/api/generate"): self._generate,
            ("POST", "/api/chat"): self._chat,
            ("POST", "/api/show"): self._show,
            ("GET", "/v1/models"): self._openai_models,
            ("POST", "/v1/chat/completions"): self._openai_answer,
            ("POST", "/v1/responses"): self._openai_answer,
            ("POST", "/v1/messages"): self._openai_answer,
        }

    def find_key(self, mapping: Mapping[str, Any], model: str) -> str | None:
        wanted = parse_name(model)
        if wanted is None:
            return None
        wanted_form = wanted.shortest().lower()
        return next((key for key in mapping if normalise_name(key) == wanted_form), None)

    def _version_at_least(self, since: tuple[int, ...]) -> bool:
        return tuple(int(part) for part in re.findall(r"\d+", self.version)[:3]) >= since

    def supports_responses_api(self) -> bool:
        return self._version_at_least(_RESPONSES_API_SINCE)

    def supports_tools(self, key: str) -> bool:
        with self.lock:
            return self.find_key({name: None for name in self.no_tools}, key) is None

    # ------------------------------------------------------------------ listings

    def _model_entry(self, key: str, size: int) -> dict[str, Any]:
        name = display_name(key)
        return {
            "name": name,
            "model": name,
            "modified_at": rfc3339(),
            "size": size,
            "digest": _digest(normalise_name(key)),
            "details": dict(_DETAILS),
        }

    def _tags(self, request: RecordedRequest) -> Reply:
        with self.lock:
            models = list(self.models.items())
        return json_reply({"models": [self._model_entry(key, size) for key, size in models]})

    def _ps(self, request: RecordedRequest) -> Reply:
        with self.lock:
            loaded = list(self.loaded.items())
            sizes = {key: self.models.get(self.find_key(self.models, key) or "", 0) for key, _ in loaded}
        entries = []
        for key, context_length in loaded:
            entry = self._model_entry(key, sizes[key])
            del entry["modified_at"]
            with self.lock:
                share = self.gpu_share.get(self.find_key(self.gpu_share, key) or "", 1.0)
            entry.update(expires_at=self._expires_at(key), size_vram=int(sizes[key] * share),
                         context_length=context_length)
            entries.append(entry)
        return json_reply({"models": entries})

    def _show(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        name = body.get("model") or body.get("name")
        key = self.find_key(self.models, name) if isinstance(name, str) else None
        if key is None:
            return json_reply({"error": f"model '{name}' not found"}, 404)
        shown = {"capabilities": ["completion", "tools"] if self.supports_tools(key) else ["completion"]}
        with self.lock:
            more_info = dict(self.model_info.get(self.find_key(self.model_info, key) or "", {}))
        return json_reply(
            {
                "modelfile": f"FROM {display_name(key)}\n",
                "parameters": "",
                "template": "{{ .Prompt }}",
                "details": dict(_DETAILS),
                "model_info": {"general.architecture": "llama", "llama.context_length": self.max_context_for(key),
                               **more_info},
                "modified_at": rfc3339(),
                **(shown if self.capabilities_listed else {}),
            }
        )

    def _openai_models(self, request: RecordedRequest) -> Reply:
        with self.lock:
            keys = list(self.models)
        created = int(time.time())
        data = [
            {"id": display_name(key), "object": "model", "created": created, "owned_by": _parse_or_raise(key).namespace}
            for key in keys
        ]
        return json_reply({"object": "list", "data": data})

    # ------------------------------------------------------------------ pull

    def _pull(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        name = body.get("model") or body.get("name")
        if not isinstance(name, str) or not name:
            return json_reply({"error": "model is required"}, 400)
        if parse_name(name) is None:
            return json_reply({"error": "invalid model name"}, 400)
        with self.lock:
            self.pull_count[normalise_name(name)] += 1
        events = self._pull_events(name, self._pull_plan(name))
        if body.get("stream", True) is not False:
            return ndjson_reply(events)
        last: dict[str, Any] = {}
        for last in events:
            if "error" in last:
                return json_reply(last, 500)
        return json_reply(last)

    def _pull_plan(self, name: str) -> PullPlan | None:
        with self.lock:
            plan_key = self.find_key(self.pull_catalog, name)
            if plan_key is not None:
                return PullPlan.from_config(self.pull_catalog[plan_key])
            present_key = self.find_key(self.models, name)
            if present_key is not None:  # re-pulling a present model only re-verifies it
                return PullPlan(layers=(self.models[present_key],), chunks=1)
        return None

    def _pull_events(self, name: str, plan: PullPlan | None) -> Iterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        if plan is None:
            yield {"error": MISSING_MANIFEST}
            return
        layer_lines = 0
        for index, size in enumerate(plan.layers):
            digest = "sha256:" + _digest(f"{normalise_name(name)}#{index}")
            status = f"pulling {digest[7:19]}"
            layer_updates: list[dict[str, Any]] = []
            if plan.omit_totals_first:
                layer_updates.append({"status": status, "digest": digest})
            layer_updates += [
                {"status": status, "digest": digest, "total": size, "completed": size * chunk // plan.chunks}
                for chunk in range(1, plan.chunks + 1)
            ]
            for update in layer_updates:
                if plan.error_after is not None and layer_lines >= plan.error_after:
                    yield {"error": plan.error}
                    return
                if not self.pause(plan.chunk_seconds):
                    return
                yield update
                layer_lines += 1
        if plan.error_after is not None:
            yield {"error": plan.error}
            return
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        if plan.end_without_success:
            return
        with self.lock:
            self.models[self.find_key(self.models, name) or display_name(name)] = sum(plan.layers)
        yield {"status": "success"}

    # ------------------------------------------------------------------ native load / generate

    def _model_or_error(self, body: Mapping[str, Any]) -> str | Reply:
        """The ``models`` key named by ``body["model"]``, or the error reply Ollama gives."""
        name = body.get("model")
        if not isinstance(name, str) or not name:
            return json_reply({"error": "model is required"}, 400)
        key = self.find_key(self.models, name)
        if key is None:
            return json_reply({"error": f"model '{name}' not found"}, 404)
        return key

    def _ensure_loaded(self, key: str, options: Any, keep_alive: Any = None) -> str | None:
        """Loads ``key`` unless it runs already with the window this request gets (sched.go
        ``needsReload``): a request's ``num_ctx``, else the default, capped at the maximum."""
        requested = options.get("num_ctx") if isinstance(options, dict) else None
        explicit = isinstance(requested, int) and requested > 0
        wanted = min(requested if explicit else self.default_num_ctx, self.max_context_for(key))
        current = self.loaded_context(key)
        with self.lock:
            both_auto = not explicit and key not in self.explicit_ctx
        if keep_alive is not None:
            self.keep_alive[key] = keep_alive
        with self.lock:
            self.last_used[key] = time.monotonic()
        if current is not None and (current == wanted or both_auto):
            return None
        if keep_alive is None:
            self.keep_alive.pop(key, None)  # a new runner starts with the server's default
        error = self._cache_refused(key) or self.simulate_load(key, wanted)
        if error is None:
            with self.lock:
                self.last_used[key] = time.monotonic()  # the idle time counts from the end of the load
                (self.explicit_ctx.add if explicit else self.explicit_ctx.discard)(key)
        return error

    def _cache_refused(self, key: str) -> str | None:
        """llama-server's refusal of a quantised KV cache, as Ollama v0.33.0-rc2 built from source
        answers it (HTTP 500): without flash attention, or for a head size (embedding_length /
        head_count) its blocks of 32 do not divide."""
        if self.kv_cache_type not in ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl"):
            return None
        died = "llama-server process has terminated: exit status 1: llama_init_from_model: "
        if self.flash_attention_off:
            return died + "quantized V cache requires flash_attn to be enabled"
        with self.lock:
            info = self.model_info.get(self.find_key(self.model_info, key) or "", {})
        arch = info.get("general.architecture", "llama")
        embedding, heads = info.get(f"{arch}.embedding_length"), info.get(f"{arch}.attention.head_count")
        head = info.get(f"{arch}.attention.key_length") or (embedding // heads if embedding and heads else None)
        if head and head % 32:
            return died + f"K cache type {self.kv_cache_type} with block size 32 does not divide n_embd_head_k={head}"
        return None

    def _expires_at(self, key: str) -> str:
        """/api/ps ``expires_at``: for ever is now + Go's longest duration (time.Now().Add of
        math.MaxInt64 ns: ~292 years, the year 2319 in 2026), as the real Ollama shows it."""
        seconds = self._keep_alive_seconds(key)
        if seconds == float("inf"):
            return rfc3339_in(timedelta(microseconds=GO_MAX_DURATION_NS // 1000))
        return rfc3339_in(timedelta(seconds=seconds))

    def _native(self, request: RecordedRequest, wants_answer: bool, answer: dict[str, Any]) -> Reply:
        """Shared by /api/generate and /api/chat: unload (keep_alive 0), load only, or a one-token answer."""
        body = request.body_object()
        key = self._model_or_error(body)
        if isinstance(key, Reply):
            return key
        reply: dict[str, Any] = {"model": display_name(key), "created_at": rfc3339(), "done": True}
        keep_alive = body.get("keep_alive")
        if keep_alive is not None:
            try:
                keep_alive = request_keep_alive_seconds(keep_alive)
            except ValueError as exc:  # the body does not bind: Ollama's 400, the Go error as it is
                return json_reply({"error": str(exc)}, 400)
        if keep_alive == 0:
            self.unload(key)
            return json_reply({**reply, **_empty(answer), "done_reason": "unload"})
        error = self._ensure_loaded(key, body.get("options"), keep_alive)
        if error is not None:
            return json_reply({"error": error}, 500)
        if not wants_answer:
            return json_reply({**reply, **_empty(answer), "done_reason": "load"})
        reply.update(answer, done_reason="stop")
        return ndjson_reply([reply]) if body.get("stream", True) is not False else json_reply(reply)

    def _generate(self, request: RecordedRequest) -> Reply:
        wants_answer = bool(request.body_object().get("prompt"))
        return self._native(request, wants_answer, {"response": "OK"})

    def _chat(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        wants_answer = bool(body.get("messages"))
        # Ollama's own counters (durations in nanoseconds): prompt_eval_count counts only the prompt
        # it evaluated, not what its cache held; four characters a token, 2,000 tokens a second.
        prompt = json.dumps(body.get("messages"))
        shared = len(os.path.commonprefix([prompt, self._previous_prompt])) if wants_answer else 0
        self._previous_prompt = prompt if wants_answer else self._previous_prompt
        evaluated = max(1, (len(prompt) - shared) // 4)
        stats = {"prompt_eval_count": evaluated, "prompt_eval_duration": evaluated * 500_000,
                 "eval_count": 1, "eval_duration": 10_000_000, "load_duration": 1_000_000}
        return self._native(request, wants_answer, {"message": {"role": "assistant", "content": "OK"}, **stats})

    # ------------------------------------------------------------------ OpenAI and Anthropic inference

    def _openai_answer(self, request: RecordedRequest) -> Reply:
        protocol = PROTOCOLS[request.path]
        if protocol == "responses" and not self.supports_responses_api():
            return self.unknown_route_reply(request)
        if protocol == "messages" and not self._version_at_least(_MESSAGES_API_SINCE):
            return self.unknown_route_reply(request)
        refuse = _anthropic_error if protocol == "messages" else _openai_error
        body = request.body_object()
        name = body.get("model")
        if not isinstance(name, str) or not name:
            return refuse(400, "invalid_request_error", "model is required")
        if protocol == "chat" and not body.get("messages"):
            return refuse(400, "invalid_request_error", "[] is too short - 'messages'")
        key = self.find_key(self.models, name)
        if key is None:
            return refuse(404, "not_found_error", f'model "{name}" not found, try pulling it first')
        if wants_tools(body) and not self.supports_tools(key):
            return refuse(400, "invalid_request_error", f"{_full_name(key)} does not support tools")
        loads_before = self.load_count
        error = self._ensure_loaded(key, None)
        with self.lock:
            self.inference_loads.append(self.load_count > loads_before)
        if error is not None:
            return refuse(500, "api_error", error)
        return answer(protocol, body, str(name))


def _full_name(key: str) -> str:
    parsed = _parse_or_raise(key)
    return f"{parsed.host}/{parsed.namespace}/{parsed.model}:{parsed.tag}"


def _anthropic_error(status: int, error_type: str, message: str) -> Reply:
    return json_reply({"type": "error", "error": {"type": error_type, "message": message}}, status)


def _openai_error(status: int, error_type: str, message: str) -> Reply:
    return json_reply({"error": {"message": message, "type": error_type, "param": None, "code": None}}, status)


def _empty(answer: dict[str, Any]) -> dict[str, Any]:
    """``answer`` with its text emptied: what load and unload replies carry."""
    if "message" in answer:
        return {"message": {"role": "assistant", "content": ""}}
    return {"response": ""}

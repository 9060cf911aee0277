"""OpenAI-compatible servers that cannot download: llama.cpp's llama-server, vLLM, and any other."""

from __future__ import annotations

import time

from urllib.parse import quote

from ..errors import LmprepError, ProtocolError, UnreachableError, WarmupFailedError
from ..events import Step, WaitEnded, WaitStarted
from ..http import error_text, json_error_message
from ..hosts import strip_v1
from ..termtext import one_word
from .base import (
    IDENTIFY_READ_TIMEOUT,
    WARM_UP_READ_TIMEOUT,
    ModelState,
    Provider,
    positive_int,
)

LOADING_POLL_INTERVAL = 0.5
LOADING_WAIT_LIMIT = 600.0
ROUTER_POLL_INTERVAL = 0.25
#: How long a router model may stay `unloaded` (not failed) after lmprep asked for it.
ROUTER_START_GRACE = 2.0


class ServerLoading(Exception):
    """llama-server answers 503 "Loading model" on every route until its model is in memory."""


class OpenAICompatible(Provider):
    """Any OpenAI-compatible server. Nothing says how it matches the model of a request, so
    lmprep takes a model only under the id /models lists, exactly (as vLLM and llama-server's
    router mode do)."""

    kind = "openai"
    owned_by: str | None = None  # the `owned_by` this server writes into /v1/models
    name_rule = "takes a model only by the id it lists, exactly"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._served: list[str] = []
        self._entries: list[dict] = []
        self._index: dict[str, dict] = {}  # model_key -> entry, built once per listing

    def missing_hint(self, model: str) -> str:
        return f"Choose one of those with -m, or restart the server with {model!r}."

    def identify(self) -> bool:
        if self.owned_by is None:
            return False  # a generic server has no identity of its own to detect
        try:
            response = self.http.request(
                "GET", f"{self.base_url}/models", read_timeout=IDENTIFY_READ_TIMEOUT, retry=False,
                doing=f"looking for {self.label}",
            )
            if response.status_code == 503 and _is_loading(response):
                return self.owned_by == "llamacpp"
            data = response.json().get("data") if response.status_code == 200 else None
            return isinstance(data, list) and any(
                isinstance(item, dict) and item.get("owned_by") == self.owned_by for item in data
            )
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return False

    def list_models(self) -> list[str]:
        started = None
        doing = "listing models"
        while True:
            try:
                self._served = self._served_models(doing)
                break
            except ServerLoading:
                if started is None:
                    started = time.monotonic()
                    doing = f"waiting for {self.label} to load its model"
                    self.report(WaitStarted(f"{self.label} is loading its model"))
                waited = time.monotonic() - started
                if waited > LOADING_WAIT_LIMIT:
                    raise ProtocolError(
                        f"{self.label} at {self.base_url} was still loading its model after {waited:.0f} s.",
                        "Look at the server's log; a model too large for memory never finishes loading.",
                    ) from None
                time.sleep(self.deadline.cap(LOADING_POLL_INTERVAL, doing))
        if started is not None:
            self.report(WaitEnded(f"{self.label} finished loading", time.monotonic() - started, ok=True))
        return self._served

    def _served_models(self, doing: str) -> list[str]:
        response = self.http.request("GET", f"{self.base_url}/models", doing=doing)
        if response.status_code == 503 and _is_loading(response):
            raise ServerLoading
        self._entries = self._openai_model_items_from(response, doing)
        self._index_entries()
        return [entry["id"] for entry in self._entries]

    def _index_entries(self) -> None:
        self._index = {}
        for entry in self._entries:
            for key in self.model_keys(entry["id"]):
                self._index.setdefault(key, entry)

    def model_key(self, model: str) -> str:
        return model

    def model_keys(self, served: str) -> tuple[str, ...]:
        return (served,)

    def only_model(self, listing: list[str]) -> str | None:
        return listing[0] if len(listing) == 1 else None

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        self._openai_warm_up(model, read_timeout)

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        if self.owned_by is None:
            return None  # an unknown server says nothing about what it has loaded
        # llama-server and vLLM serve exactly what they have loaded (unless asleep).
        states = {model: self.model_state(model) for model in listing}
        return {model: state.context for model, state in states.items() if state.loaded is not False}

    def _entry(self, model: str) -> dict:
        if not self._entries:
            self.list_models()
        entry = self._index.get(self.model_key(model))
        if entry is not None:
            return entry
        return self._entries[0] if len(self._entries) == 1 else {}


class LlamaCpp(OpenAICompatible):
    """llama-server with one model (`-m`), or in router mode (`--models-dir DIR` or
    `--models-preset FILE`, no `-m`), where it starts one child process per model on demand.

    Router mode, as llama.cpp's tools/server/server-models.{h,cpp} has it and b11434 answers
    (checked against the real binary, see tests/test_llama_router.py): `GET /models` (and
    `/v1/models`) give each model a `status` {`value`: `unloaded` | `loading` | `loaded` |
    `sleeping` | `downloading` | `downloaded`}, plus `failed: true` and `exit_code` when its
    process died while loading; a running model's entry has `meta` (`n_ctx`, `n_ctx_train`).
    `POST /models/load {"model"}` answers `{"success": true}` and loads in the background
    (400 `model is already running` when it is); `GET /props?model=ID` is the child's `/props`,
    and loads the model unless `autoload=false` is given (b11434 does). A server started with
    `--sleep-idle-seconds` puts an idle model to sleep (`/props` `is_sleeping`, router status
    `sleeping`); the next inference request wakes it.
    """

    kind = "llamacpp"
    owned_by = "llamacpp"

    def __init__(self, *args, **kwargs) -> None:
        self._router: bool | None = None  # None: not listed yet
        self._aliases: dict[str, tuple[str, ...]] = {}  # router mode: model id -> its aliases
        super().__init__(*args, **kwargs)

    @property
    def router(self) -> bool:
        if self._router is None:
            try:
                self.list_models()
            except LmprepError:
                return False  # not a listing at all: the request that follows says what is wrong
        return bool(self._router)

    @property
    def name_rule(self) -> str:  # type: ignore[override]
        if self.router:
            return "(router mode) takes a model only by the id or an alias it lists, exactly"
        return "serves one model whatever a request names"

    def _index_entries(self) -> None:
        self._router = any(isinstance(entry.get("status"), dict) for entry in self._entries)
        self._aliases = {}
        if self._router:
            for entry in self._entries:
                aliases = entry.get("aliases")
                if isinstance(aliases, list):
                    self._aliases[entry["id"]] = tuple(alias for alias in aliases if isinstance(alias, str))
        super()._index_entries()

    # Router mode finds the model of a request by its name or one of its aliases, exactly
    # (tools/server/server-models.cpp: `get_meta` looks `mapping` up, then each model's
    # `aliases`; a name it lacks is 400 "model not found"). With one model (`-m`) llama-server
    # ignores the model of requests; lmprep still wants the listed id (as --alias, or the
    # file's path) in any case, or the file's name alone.
    def model_key(self, model: str) -> str:
        return model if self.router else model.casefold()

    def model_keys(self, served: str) -> tuple[str, ...]:
        if self.router:
            return (served, *self._aliases.get(served, ()))
        return (served.casefold(), served.replace("\\", "/").rsplit("/", 1)[-1].casefold())

    def unreachable_hint(self) -> str:
        return f"Start it with `llama-server -m MODEL.gguf --port {_port(self.base_url, 8080)}`, or check the base URL."

    @classmethod
    def start_plan(cls, request):
        """`llama-server` (as found on PATH) with the model the config names, `model_path` (one
        model, `-m`) or `models_dir` (router mode, `--models-dir`: one child per model, loaded on
        demand), the config's `args`, and what lmprep knows: `--host` and `--port` from the base
        URL, `--jinja` (the agents' tool calls need its templates; b11434 has it on by default,
        older builds do not) and `-c` with the agent's window. b11434 gives every slot the whole
        `-c` (its KV cache is unified), and in router mode hands the flags to each model's child.
        A flag the config's `args` already give is not added again: the user's own wins.
        It never guesses a model file: without one it returns a plan with nothing to run and a hint."""
        from ..starting import StartPlan

        program = request.which("llama-server")
        if program is None:
            return None
        options = request.options
        args = tuple(options.get("args", ()))
        if "model_path" in options:
            model: tuple[str, ...] = ("-m", options["model_path"])
        elif "models_dir" in options:
            model = ("--models-dir", options["models_dir"])
        elif _given(args, "-m", "--model", "--models-dir", "--models-preset", "-hf", "--hf-repo"):
            model = ()  # the config's args name the model
        else:
            return StartPlan((), hint=(
                f"lmprep found {program} but no model to start it with (it never guesses one): set "
                f'`model_path = "/path/to/model.gguf"` (or `models_dir = ` for router mode) under '
                f"[providers.{request.provider}] in the config file."))
        host = request.host[1:-1] if request.host.startswith("[") else request.host
        known: list[str] = []
        for flags, values in ((("--host",), [host]), (("--port",), [str(request.port)]),
                              (("--jinja", "--no-jinja"), []),
                              (("-c", "--ctx-size"), None if request.window is None else [str(request.window)])):
            if values is not None and not _given(args, *flags):
                known += [flags[0], *values]
        return StartPlan((program, *model, *known, *args))

    def missing_hint(self, model: str) -> str:
        if self.router:
            return (f"Choose one with -m, or put {model}.gguf into llama-server's --models-dir (or its "
                    "--models-preset file) and restart it.")
        return (f"llama-server serves one model and ignores the `model` of requests: restart it with "
                f"`llama-server -m {model}.gguf --alias {model}`, or pass -m with the served name.")

    def model_state(self, model: str) -> ModelState:
        # One model, loaded for as long as the server runs (unless asleep); /props has the
        # per-slot window. The training context (meta.n_ctx_train) is a ceiling: b11434 caps a
        # larger -c to it ("slot context (8192) exceeds the training context of the model (2048)").
        if self.router:
            return self._router_state(model)
        return self._state(model, self._props(""))

    def _state(self, model: str, props: dict) -> ModelState:
        """The model's state from the server's /props (asleep, the per-slot window) and its listing."""
        meta = self._entry(model).get("meta") or {}
        meta = meta if isinstance(meta, dict) else {}
        settings = props.get("default_generation_settings")
        context = positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
        asleep = props.get("is_sleeping") is True
        return ModelState(not asleep, context or positive_int(meta.get("n_ctx")), positive_int(meta.get("n_ctx_train")),
                          None if asleep or self.router else self.cpu_percent(model))

    def _props(self, query: str) -> dict:
        """GET /props (with ``query``); {} when it says nothing usable."""
        try:
            response = self.http.request("GET", f"{strip_v1(self.base_url)}/props{query}",
                                         doing="reading the context length")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            return {}
        return body if isinstance(body, dict) else {}

    def _router_entry(self, model: str, strict: bool = False) -> tuple[dict, str | None]:
        """The model's /models entry, read now, and its status value (None: unknown).
        ``strict``: a server that stopped answering raises (UnreachableError)."""
        try:
            self._served_models("reading the models' status")
        except UnreachableError:
            if strict:
                raise
            return {}, None
        except (LmprepError, ServerLoading):
            return {}, None
        entry = self._entry(model)
        status = entry.get("status")
        value = status.get("value") if isinstance(status, dict) else None
        return entry, value if isinstance(value, str) else None

    def _router_state(self, model: str) -> ModelState:
        entry, value = self._router_entry(model)
        meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
        maximum = positive_int(meta.get("n_ctx_train"))
        if value not in ("loaded", "sleeping"):
            return ModelState(False, None, maximum)
        # autoload=false: without it, GET /props?model=ID loads the model (b11434).
        props = self._props(f"?model={quote(entry['id'], safe='')}&autoload=false")
        settings = props.get("default_generation_settings")
        context = positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
        return ModelState(value == "loaded", context or positive_int(meta.get("n_ctx")), maximum)

    def cpu_percent(self, model: str) -> int | None:
        """b11434's /props (and /slots, and a router's /models `meta`) name no offloaded layers;
        only its load log does ("offloaded N/M layers to GPU"), and lmprep has that log only for
        a server it started itself (lmprep/started.py records it). None otherwise, and in router
        mode, whose log mixes the loads of all its models."""
        if self.router:
            return None
        try:
            from ..started import find_started, is_same_process
        except ImportError:  # the record of started servers is not part of this build
            return None
        from pathlib import Path

        from ..fit import log_cpu_percent, read_log

        record = find_started(self.settings.name, self.base_url)
        if record is None or not record.log or not is_same_process(record):
            return None
        log = read_log(Path(record.log))
        return None if log is None else log_cpu_percent(log, record.argv)

    def fit_facts(self, model: str):
        """Router mode: the model's file, cache types and window from the command line the
        router runs it with (`status.args` in GET /models, b11434). With one model (`-m`) it is
        loaded as the server starts: lmprep never asks for that load."""
        if not self.router:
            return None
        from ..fit import llama_server_facts

        status = self._router_entry(model)[0].get("status")
        args = status.get("args") if isinstance(status, dict) else None
        if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
            return None
        return llama_server_facts(args)

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        if not self.router:
            # /props once for the whole listing: a server listing thousands of models gets one
            # request, not thousands.
            props = self._props("")
            states = {model: self._state(model, props) for model in listing}
            return {model: state.context for model, state in states.items() if state.loaded}
        loaded = {}
        for entry in self._entries:
            status = entry.get("status")
            if isinstance(status, dict) and status.get("value") == "loaded":
                meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
                loaded[entry["id"]] = positive_int(meta.get("n_ctx"))
        return loaded

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        if self.router:
            model = self._router_load(model, read_timeout)
        elif self._props("").get("is_sleeping") is True:
            self.report(Step(f"Waking {model}: llama-server put it to sleep (--sleep-idle-seconds)"))
        self._openai_warm_up(model, read_timeout)

    def _router_load(self, model: str, read_timeout: float | None) -> str:
        """Have the router load ``model`` (POST /models/load) and wait through `loading` until
        `loaded`; returns the model's id. A sleeping model is woken by the warm-up request."""
        entry, value = self._router_entry(model)
        model_id = entry.get("id", model)
        if value == "loaded":
            return model_id
        if value == "sleeping":
            self.report(Step(f"Waking {model_id}: llama-server put it to sleep (--sleep-idle-seconds)"))
            return model_id
        if value != "loading":
            self.report(Step(f"Asking llama-server to load {model_id} (POST /models/load)"))
            response = self.http.request(
                "POST", f"{strip_v1(self.base_url)}/models/load", json_body={"model": model_id},
                read_timeout=read_timeout, doing=f"loading {model_id} (POST /models/load)",
                timeout_error=WarmupFailedError, retry=True,
            )
            said = error_text(response)
            if response.status_code != 200 and "already running" not in said.lower():
                raise WarmupFailedError(
                    f"llama-server could not load {model_id!r} (POST /models/load: HTTP {response.status_code}: "
                    f"{said}).",
                    "Look at llama-server's log for why.",
                )
        self._wait_for_router(model_id, read_timeout)
        return model_id

    def _wait_for_router(self, model_id: str, read_timeout: float | None) -> None:
        started = time.monotonic()
        limit = read_timeout if read_timeout is not None else WARM_UP_READ_TIMEOUT
        doing = f"waiting for llama-server to load {model_id}"
        while True:
            time.sleep(self.deadline.cap(ROUTER_POLL_INTERVAL, doing))
            entry, value = self._router_entry(model_id, strict=True)
            waited = time.monotonic() - started
            if value in ("loaded", "sleeping"):
                return
            if value is None:  # gone from the listing, or no longer a router at all
                raise WarmupFailedError(
                    f"llama-server no longer lists {model_id!r} with a status while loading it (GET /models).",
                    "Look at llama-server's log; was it restarted, or its --models-dir changed?",
                )
            status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
            if value == "unloaded" and (status.get("failed") is True or waited > ROUTER_START_GRACE):
                code = status.get("exit_code")
                why = (f"the process it started for the model exited with status {code}"
                       if status.get("failed") is True and isinstance(code, int) else "it is unloaded again")
                raise WarmupFailedError(
                    f"llama-server could not load {model_id!r}: {why} (GET /models: status `unloaded`"
                    + (", failed)." if status.get("failed") is True else ")."),
                    "Look at llama-server's log for why (a file that is not a GGUF model, too little memory, a bad "
                    "option in its preset); with --models-max, another load may have taken its place.",
                )
            if waited > limit:
                raise WarmupFailedError(
                    f"llama-server was still loading {model_id!r} after {waited:.0f} s "
                    f"(status `{one_word(value)}`).",
                    "Look at llama-server's log; a model too large for memory never finishes loading.",
                )

    def idle_sleep_seconds(self, model: str) -> float | None:
        """The router's `--sleep-idle-seconds` for ``model``, from its /models entry (`status.args`,
        the command line it runs the model with, b11434); None where it has none or does not say
        (a single-model server's /props does not). Only a completion keeps a model awake:
        /props and /tokenize do not."""
        if not self.router:
            return None
        entry, _ = self._router_entry(model)
        status = entry.get("status") if isinstance(entry.get("status"), dict) else {}
        args = status.get("args")
        if not isinstance(args, list):
            return None
        for flag, value in zip(args, args[1:]):
            if flag == "--sleep-idle-seconds" and isinstance(value, str):
                try:
                    seconds = float(value)
                except ValueError:
                    return None
                return seconds if 0 < seconds < 1e9 else None
        return None

    def keep_awake(self, model: str, read_timeout: float | None) -> None:
        """One completion of one token: what keeps a model from going to sleep."""
        entry, _ = self._router_entry(model) if self.router else ({}, None)
        self._openai_warm_up(entry.get("id", model), read_timeout)

    def unload(self, model: str) -> bool:
        """In router mode, POST /models/unload; a single-model server cannot unload its model."""
        if not self.router:
            return False
        entry, _ = self._router_entry(model)
        response = self.http.request("POST", f"{strip_v1(self.base_url)}/models/unload",
                                     json_body={"model": entry.get("id", model)}, doing=f"unloading {model}")
        return response.status_code == 200

    def context_fix_hint(self, needed: int) -> str:
        if self.router:
            return (f"llama-server cannot change a model's window while it runs: restart it with `-c {needed}` "
                    f"(or more; in router mode that applies to every model), or set `ctx-size = {needed}` for this "
                    "model in its --models-preset file.")
        return f"llama-server cannot change its context window while running: restart it with `-c {needed}` (or more)."

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        if problem == "tools" and said and "must be 'function'" in said:
            return ("This llama-server build refuses tool types other than `function`, which Codex also sends: "
                    "update llama.cpp (later builds skip the types they do not know).")
        if problem == "tools":
            return ("Restart llama-server with --jinja (builds before it became the default ran without it), "
                    "with a model whose chat template supports tools.")
        if problem == "route":
            return (f"This llama-server build has no {protocol.label}: update llama.cpp (b11434 serves "
                    "/v1/responses, /v1/chat/completions and /v1/messages).")
        return super().unsupported_hint(protocol, problem, said)


class VLLM(OpenAICompatible):
    """vLLM: one model, loaded before its HTTP server comes up. With sleep mode
    (`--enable-sleep-mode`, routes only with VLLM_SERVER_DEV_MODE=1; vllm/entrypoints/serve/sleep/
    api_router.py) `GET /is_sleeping` → `{"is_sleeping": bool}` and `POST /wake_up` (200, empty
    body, possibly before the engine is awake); a sleeping model answers inference with 503
    (docs/source/features/sleep_mode.md). Where the routes are missing (404), nothing sleeps."""

    kind = "vllm"
    owned_by = "vllm"
    # vLLM takes a request's model only as one of its served names (`--served-model-name`,
    # else the model path), exactly: any other spelling is 404 "The model `x` does not exist."
    name_rule = "takes a model only by the name it serves, exactly"

    def unreachable_hint(self) -> str:
        return ("Start it with `vllm serve MODEL` (its HTTP server comes up only once the model is loaded), "
                f'or set `command = ["vllm", "serve", "MODEL"]` under [providers.{self.settings.name}] in the config '
                "file for lmprep to start it, or check the base URL.")

    def missing_hint(self, model: str) -> str:
        return f"Pass -m with the name it serves, or restart it with `vllm serve {model}`."

    def _is_sleeping(self) -> bool | None:
        """True/False from GET /is_sleeping; None where vLLM has no such route (not in dev mode)."""
        try:
            response = self.http.request("GET", f"{strip_v1(self.base_url)}/is_sleeping",
                                         doing="asking vLLM whether it sleeps")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):
            return None
        value = body.get("is_sleeping") if isinstance(body, dict) else None
        return value if isinstance(value, bool) else None

    def model_state(self, model: str) -> ModelState:
        # The HTTP server comes up only once its model is loaded; asleep, it is not in GPU memory.
        return ModelState(self._is_sleeping() is not True, positive_int(self._entry(model).get("max_model_len")))

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        if self._is_sleeping() is True:
            self._wake_up(read_timeout)
        self._openai_warm_up(model, read_timeout)

    def _wake_up(self, read_timeout: float | None) -> None:
        self.report(Step("Waking vLLM (POST /wake_up): it was put to sleep"))
        response = self.http.request("POST", f"{strip_v1(self.base_url)}/wake_up", read_timeout=read_timeout,
                                     doing="waking vLLM (POST /wake_up)", timeout_error=WarmupFailedError, retry=True)
        if response.status_code != 200:
            raise WarmupFailedError(
                f"vLLM did not wake up (POST /wake_up: HTTP {response.status_code}: {error_text(response)}).",
                "Look at vLLM's log; `curl -X POST <server>/wake_up` shows the same.",
            )
        started = time.monotonic()
        limit = read_timeout if read_timeout is not None else WARM_UP_READ_TIMEOUT
        while self._is_sleeping() is True:  # /wake_up may answer before the engine is awake
            waited = time.monotonic() - started
            if waited > limit:
                raise WarmupFailedError(f"vLLM still said it was asleep {waited:.0f} s after POST /wake_up.",
                                        "Look at vLLM's log for why it does not wake up.")
            time.sleep(self.deadline.cap(ROUTER_POLL_INTERVAL, "waiting for vLLM to wake up"))

    def context_fix_hint(self, needed: int) -> str:
        return f"vLLM fixes its context window at start: restart it with `--max-model-len {needed}` (or more)."

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        if problem == "tools":
            return ("Start vLLM with --enable-auto-tool-choice and the --tool-call-parser for your model "
                    "(agents let the model choose its tools).")
        if problem == "route":
            return f"This vLLM has no {protocol.label}: update vLLM."
        return super().unsupported_hint(protocol, problem, said)


def _is_loading(response) -> bool:
    try:
        message = json_error_message(response.json()) or ""
    except (ValueError, RecursionError):
        message = response.text
    return "loading model" in message.lower()


def _given(args, *flags: str) -> bool:
    """Whether ``args`` hold one of ``flags`` (as `--flag value` or `--flag=value`)."""
    return any(arg in flags or arg.split("=", 1)[0] in flags for arg in args)


def _port(base_url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(base_url).port or default


__all__ = ["LlamaCpp", "OpenAICompatible", "VLLM"]

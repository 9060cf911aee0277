"""OpenAI-compatible servers that cannot download: llama.cpp's llama-server, vLLM, and any other."""

from __future__ import annotations

import time

from ..errors import LmprepError, ProtocolError
from ..events import WaitEnded, WaitStarted
from ..http import json_error_message
from ..hosts import strip_v1
from .base import (
    CONTEXT_READ_TIMEOUT,
    IDENTIFY_READ_TIMEOUT,
    WARM_UP_READ_TIMEOUT,
    ModelState,
    Provider,
    positive_int,
)

LOADING_POLL_INTERVAL = 0.5
LOADING_WAIT_LIMIT = 600.0


class ServerLoading(Exception):
    """llama-server answers 503 "Loading model" on every route until its model is in memory."""


class OpenAICompatible(Provider):
    kind = "openai"
    owned_by: str | None = None  # the `owned_by` this server writes into /v1/models

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._served: list[str] = []
        self._entries: list[dict] = []
        self._index: dict[str, dict] = {}  # model_key -> entry, built once per listing

    def missing_hint(self, model: str) -> str:
        served = ", ".join(repr(m) for m in self._served) or "nothing"
        return f"It serves {served}: choose one of those with -m, or restart the server with {model!r}."

    def identify(self) -> bool:
        if self.owned_by is None:
            return False  # a generic server has no identity of its own to detect
        try:
            response = self.http.request(
                "GET", f"{self.base_url}/models", read_timeout=IDENTIFY_READ_TIMEOUT,
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
        self._index = {}
        for entry in self._entries:
            for key in self.model_keys(entry["id"]):
                self._index.setdefault(key, entry)
        return [entry["id"] for entry in self._entries]

    def model_keys(self, served: str) -> tuple[str, ...]:
        """llama-server names its model by --alias, else by the file's path: the file name counts too."""
        return (served.casefold(), served.replace("\\", "/").rsplit("/", 1)[-1].casefold())

    def only_model(self, listing: list[str]) -> str | None:
        return listing[0] if len(listing) == 1 else None

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        self._openai_warm_up(model, read_timeout)

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        if self.owned_by is None:
            return None  # an unknown server says nothing about what it has loaded
        # llama-server and vLLM serve exactly what they have loaded.
        return {model: self.model_state(model).context for model in listing}

    def _entry(self, model: str) -> dict:
        if not self._entries:
            self.list_models()
        entry = self._index.get(self.model_key(model))
        if entry is not None:
            return entry
        return self._entries[0] if len(self._entries) == 1 else {}


class LlamaCpp(OpenAICompatible):
    kind = "llamacpp"
    owned_by = "llamacpp"

    def unreachable_hint(self) -> str:
        return f"Start it with `llama-server -m MODEL.gguf --port {_port(self.base_url, 8080)}`, or check the base URL."

    def missing_hint(self, model: str) -> str:
        served = ", ".join(repr(m) for m in self._served) or "nothing"
        return (f"llama-server serves one model ({served}) and ignores the `model` of requests: restart it with "
                f"`llama-server -m {model}.gguf --alias {model}`, or pass -m with the served name.")


    def model_state(self, model: str) -> ModelState:
        # One model, loaded for as long as the server runs; /props has the per-slot window.
        # The training context (meta.n_ctx_train) is a ceiling: b11434 caps a larger -c to it
        # ("slot context (8192) exceeds the training context of the model (2048) - capping").
        return self._state(model, self._props_context())

    def _state(self, model: str, context: int | None) -> ModelState:
        meta = self._entry(model).get("meta") or {}
        meta = meta if isinstance(meta, dict) else {}
        return ModelState(True, context or positive_int(meta.get("n_ctx")), positive_int(meta.get("n_ctx_train")))

    def _props_context(self) -> int | None:
        """The per-slot window from /props (the server's, not one model's)."""
        try:
            response = self.http.request("GET", f"{strip_v1(self.base_url)}/props",
                                         read_timeout=CONTEXT_READ_TIMEOUT, doing="reading the context length")
            settings = response.json().get("default_generation_settings") if response.status_code == 200 else None
            return positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return None

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        # /props once for the whole listing: a server listing thousands of models gets one
        # request, not thousands.
        context = self._props_context()
        return {model: self._state(model, context).context for model in listing}

    def context_fix_hint(self, needed: int) -> str:
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
    kind = "vllm"
    owned_by = "vllm"

    def unreachable_hint(self) -> str:
        return ("Start it with `vllm serve MODEL` (its HTTP server comes up only once the model is loaded), "
                "or check the base URL.")

    def missing_hint(self, model: str) -> str:
        served = ", ".join(repr(m) for m in self._served) or "nothing"
        return f"vLLM serves {served}: restart it with `vllm serve {model}`, or pass -m with a served name."

    def model_state(self, model: str) -> ModelState:
        # The HTTP server comes up only once its model is loaded.
        return ModelState(True, positive_int(self._entry(model).get("max_model_len")))

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


def _port(base_url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(base_url).port or default


__all__ = ["LlamaCpp", "OpenAICompatible", "VLLM"]

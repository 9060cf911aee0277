"""OpenAI-compatible servers that cannot download: llama.cpp's llama-server, vLLM, and any other."""

from __future__ import annotations

import time

from ..errors import LmprepError, ProtocolError
from ..events import WaitEnded, WaitStarted
from ..http import json_error_message
from .base import IDENTIFY_READ_TIMEOUT, WARM_UP_READ_TIMEOUT, Provider

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
        except (LmprepError, ValueError, AttributeError):
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
        return self._openai_model_ids_from(response, doing)

    def has_model(self, model: str, listing: list[str]) -> bool:
        # llama-server names its model by --alias, else by the file's path: accept the file name too.
        wanted = model.casefold()
        return any(item.casefold() == wanted or item.replace("\\", "/").rsplit("/", 1)[-1].casefold() == wanted
                   for item in listing)

    def only_model(self, listing: list[str]) -> str | None:
        return listing[0] if len(listing) == 1 else None

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT) -> None:
        self._openai_warm_up(model, read_timeout)


class LlamaCpp(OpenAICompatible):
    kind = "llamacpp"
    owned_by = "llamacpp"

    def unreachable_hint(self) -> str:
        return f"Start it with `llama-server -m MODEL.gguf --port {_port(self.base_url, 8080)}`, or check the base URL."

    def missing_hint(self, model: str) -> str:
        served = ", ".join(repr(m) for m in self._served) or "nothing"
        return (f"llama-server serves one model ({served}) and ignores the `model` of requests: restart it with "
                f"`llama-server -m {model}.gguf --alias {model}`, or pass -m with the served name.")


class VLLM(OpenAICompatible):
    kind = "vllm"
    owned_by = "vllm"

    def unreachable_hint(self) -> str:
        return ("Start it with `vllm serve MODEL` (its HTTP server comes up only once the model is loaded), "
                "or check the base URL.")

    def missing_hint(self, model: str) -> str:
        served = ", ".join(repr(m) for m in self._served) or "nothing"
        return f"vLLM serves {served}: restart it with `vllm serve {model}`, or pass -m with a served name."


def _is_loading(response) -> bool:
    try:
        message = json_error_message(response.json()) or ""
    except ValueError:
        message = response.text
    return "loading model" in message.lower()


def _port(base_url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(base_url).port or default


__all__ = ["LlamaCpp", "OpenAICompatible", "VLLM"]

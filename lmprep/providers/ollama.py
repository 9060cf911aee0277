"""Ollama: native API at the server root (/api/...), OpenAI-compatible API under /v1."""

from __future__ import annotations

import json
import time
from typing import Any

from ..errors import DownloadFailedError, LmprepError, ProtocolError, WarmupFailedError
from ..events import Step, Transfer
from ..hosts import strip_v1
from ..http import error_text, json_error_message, parse_json
from ..termtext import one_line
from .base import (
    CONTEXT_READ_TIMEOUT,
    IDENTIFY_READ_TIMEOUT,
    WARM_UP_READ_TIMEOUT,
    ContextInfo,
    Provider,
    positive_int,
)

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


class Ollama(Provider):
    kind = "ollama"

    @property
    def root(self) -> str:
        return strip_v1(self.base_url)

    def unreachable_hint(self) -> str:
        return "Start it with `ollama serve` (or open the Ollama app), or install it from https://ollama.com/download."

    def missing_hint(self, model: str) -> str:
        return f"Download it with `ollama pull {model}`, or run lmprep without --offline."

    def identify(self) -> bool:
        try:
            response = self.http.request(
                "GET", f"{self.root}/", read_timeout=IDENTIFY_READ_TIMEOUT, doing="looking for Ollama"
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
        names = []
        for item in models:
            if isinstance(item, dict):
                name = item.get("name") or item.get("model")
                if isinstance(name, str):
                    names.append(name)
        return names

    def has_model(self, model: str, listing: list[str]) -> bool:
        wanted = normalize_model_name(model)
        return any(normalize_model_name(name) == wanted for name in listing)

    def download(self, model: str) -> None:
        self.report(Step(f"Pulling {model} from the Ollama library"))
        with self.http.stream(
            "POST",
            f"{self.root}/api/pull",
            json_body={"model": model, "stream": True},
            read_timeout=self.stall_timeout,
            doing=f"pulling {model}",
            timeout_error=DownloadFailedError,
        ) as response:
            if response.status_code != 200:
                response.read()
                raise DownloadFailedError(
                    f"Ollama refused to pull {model!r} (HTTP {response.status_code}: {error_text(response)}).",
                    self._pull_hint(model),
                )
            PullTracker(model, self).follow(response.iter_lines())

    can_set_context = True

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        """From /api/ps: every loaded model by name, with its context length."""
        try:
            response = self.http.request("GET", f"{self.root}/api/ps", read_timeout=CONTEXT_READ_TIMEOUT,
                                         doing="reading the loaded models")
            running = response.json().get("models") if response.status_code == 200 else None
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return None
        if not isinstance(running, list):
            return None
        loaded: dict[str, int | None] = {}
        for entry in running:
            name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
            if isinstance(name, str):
                loaded[name] = positive_int(entry.get("context_length"))
        return loaded

    def context(self, model: str) -> ContextInfo:
        """Loaded context from /api/ps, maximum from /api/show's model_info."""
        wanted = normalize_model_name(model)
        loaded = next((length for name, length in (self.loaded_models([]) or {}).items()
                       if normalize_model_name(name) == wanted), None)
        maximum = None
        try:
            response = self.http.request("POST", f"{self.root}/api/show", json_body={"model": model},
                                         read_timeout=CONTEXT_READ_TIMEOUT, doing="reading the model's maximum context")
            info = response.json().get("model_info") if response.status_code == 200 else None
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            info = None
        if isinstance(info, dict):
            maximum = next((positive_int(v) for k, v in info.items()
                            if isinstance(k, str) and k.endswith(".context_length") and positive_int(v)), None)
        return ContextInfo(loaded, maximum)

    def context_fix_hint(self, needed: int) -> str:
        return f"Set the context for the model in a Modelfile (`PARAMETER num_ctx {needed}`) or OLLAMA_CONTEXT_LENGTH."

    def _pull_hint(self, model: str) -> str:
        return f"Check the name at https://ollama.com/library, or run `ollama pull {model}` to see Ollama's own output."

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None) -> None:
        payload: dict[str, Any] = {"model": model}
        if context_length is not None:
            payload["options"] = {"num_ctx": context_length}
        response = self.http.request(
            "POST",
            f"{self.root}/api/generate",
            json_body=payload,
            read_timeout=read_timeout,
            doing="loading the model (POST /api/generate)",
            timeout_error=WarmupFailedError,
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


class PullTracker:
    """Follows an /api/pull NDJSON stream line by line, summing bytes over layers."""

    def __init__(self, model: str, ollama: Ollama) -> None:
        self.model = model
        self.ollama = ollama
        self.layers: dict[str, tuple[int, int | None]] = {}
        self.last_status: str | None = None
        self._progress_mark: tuple = ()
        self._progress_at = time.monotonic()

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
                return
            self._track(item)
            status = one_line(status) if isinstance(status, str) else None  # server text: one clean line
            if status and status != self.last_status and not status.startswith("pulling "):
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
        mark = (self.last_status, sum(c for c, _ in self.layers.values()))
        now = time.monotonic()
        if mark != self._progress_mark:
            self._progress_mark, self._progress_at = mark, now
        elif now - self._progress_at > self.ollama.stall_timeout:
            raise DownloadFailedError(
                f"Ollama's pull of {self.model!r} made no progress for {self.ollama.stall_timeout:g} s.",
                "Run lmprep again: Ollama resumes interrupted pulls. On a slow link, raise `stall_timeout` "
                "in the config file.",
            )

    def _track(self, item: dict) -> None:
        digest = item.get("digest")
        completed = item.get("completed")
        total = item.get("total")
        if not isinstance(digest, str):
            return
        completed = completed if _is_count(completed) else 0
        total = total if _is_count(total) else None
        if total is not None:
            completed = min(completed, total)  # progress never shows more than the whole
        self.layers[digest] = (completed, total)
        totals = [t for _, t in self.layers.values()]
        done = sum(c for c, _ in self.layers.values())
        known_total = sum(t for t in totals if t) if all(totals) else None
        self.ollama.report(Transfer(f"Pulling {self.model}", done, known_total))


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0

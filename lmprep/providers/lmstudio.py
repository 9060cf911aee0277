"""LM Studio: OpenAI-compatible API, downloads through `lms get`."""

from __future__ import annotations

from typing import Any

from ..errors import LmprepError
from ..hosts import origin_of
from ..http import json_error_message
from .base import (
    CONTEXT_READ_TIMEOUT,
    IDENTIFY_READ_TIMEOUT,
    WARM_UP_READ_TIMEOUT,
    ContextInfo,
    Provider,
    unknown_route,
    error_code,
    positive_int,
)


class LMStudio(Provider):
    kind = "lmstudio"

    def unreachable_hint(self) -> str:
        return "Start it with `lms server start`, or install it from https://lmstudio.ai/download."

    def missing_hint(self, model: str) -> str:
        return (
            "With JIT loading off, LM Studio lists only loaded models: turn JIT loading on in its developer "
            f"settings, or load the model with `lms load {model}`."
        )

    def identify(self) -> bool:
        try:
            response = self.http.request(
                "GET", f"{origin_of(self.base_url)}/lmstudio-greeting",
                read_timeout=IDENTIFY_READ_TIMEOUT, doing="looking for LM Studio",
            )
            return response.status_code == 200 and response.json().get("lmstudio") is True
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return False

    def list_models(self) -> list[str]:
        return self._openai_model_ids()

    def download(self, model: str) -> None:
        from ..lms import find_lms, lms_get  # only a download needs subprocess machinery

        lms = find_lms(self.settings.lms_path)
        lms_get(lms, model, report=self.report, deadline=self.deadline)

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None) -> None:
        if context_length is None:
            self._openai_warm_up(model, read_timeout)
        else:
            self._load_with_context(model, context_length, read_timeout)

    # -- context window ----------------------------------------------------------------------

    can_set_context = True

    def context(self, model: str) -> ContextInfo:
        """From the native v1 API (0.4+), else v0 (0.3.6+), else `lms ps --json`."""
        return self._context_v1(model) or self._context_v0(model) or self._context_lms(model) or ContextInfo(None, None)

    def _native(self, path: str) -> Any:
        try:
            response = self.http.request("GET", f"{origin_of(self.base_url)}{path}",
                                         read_timeout=CONTEXT_READ_TIMEOUT, doing="reading the context length")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):  # RecursionError: JSON nested too deeply
            return None
        return None if json_error_message(body) else body

    def _context_v1(self, model: str) -> ContextInfo | None:
        body = self._native("/api/v1/models")
        entries = body.get("models") if isinstance(body, dict) else None
        for entry in entries if isinstance(entries, list) else ():
            if isinstance(entry, dict) and str(entry.get("key", "")).casefold() == model.casefold():
                instances = entry.get("loaded_instances")
                lengths = [positive_int((item.get("config") or {}).get("context_length"))
                           for item in instances or () if isinstance(item, dict) and isinstance(item.get("config"), dict)]
                lengths = [length for length in lengths if length]
                return ContextInfo(max(lengths) if lengths else None, positive_int(entry.get("max_context_length")))
        return None

    def _v0_entries(self) -> list[dict] | None:
        """The entries (with a string `id`) of /api/v0/models; None where there is no such list."""
        body = self._native("/api/v0/models")
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return None
        return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]

    def _context_v0(self, model: str) -> ContextInfo | None:
        for entry in self._v0_entries() or ():
            if entry["id"].casefold() == model.casefold():
                loaded = positive_int(entry.get("loaded_context_length")) if entry.get("state") == "loaded" else None
                return ContextInfo(loaded, positive_int(entry.get("max_context_length")))
        return None

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        entries = self._v0_entries()
        if entries is None:
            return None
        return {entry["id"]: positive_int(entry.get("loaded_context_length"))
                for entry in entries if entry.get("state") == "loaded"}

    def _context_lms(self, model: str) -> ContextInfo | None:
        from ..lms import lms_loaded_contexts

        contexts = lms_loaded_contexts(self.settings.lms_path)
        loaded = contexts.get(model.casefold())
        return ContextInfo(loaded, None) if loaded else None

    def _load_with_context(self, model: str, context_length: int, read_timeout: float) -> None:
        """POST /api/v1/models/load with the context length, or `lms load` before LM Studio 0.4."""
        status, body, text = self._post_warm_up_to(
            f"{origin_of(self.base_url)}/api/v1/models/load", "/api/v1/models/load",
            {"model": model, "context_length": context_length}, read_timeout,
        )
        if not unknown_route(status, body, text):
            self._check_warm_up(model, "/api/v1/models/load", status, body, text)
            return
        from ..lms import lms_load

        lms_load(model, context_length, self.settings.lms_path, read_timeout)

    def context_fix_hint(self, needed: int) -> str:
        return f"Load it with a larger window: `lms load <model> -c {needed}`."

    def warm_up_hint(self, model: str, body: Any) -> str:
        if error_code(body) == "model_not_found":
            return f"LM Studio does not know {model!r}: download it with `lms get {model}`, or check `lms ls`."
        return "Look at LM Studio's server log (`lms log stream`) for why the model did not load."

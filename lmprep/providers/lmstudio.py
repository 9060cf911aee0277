"""LM Studio: OpenAI-compatible API, downloads through `lms get`."""

from __future__ import annotations

from typing import Any

from ..errors import LmprepError
from ..hosts import origin_of
from .base import IDENTIFY_READ_TIMEOUT, WARM_UP_READ_TIMEOUT, Provider, error_code


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
        except (LmprepError, ValueError, AttributeError):
            return False

    def list_models(self) -> list[str]:
        return self._openai_model_ids()

    def download(self, model: str) -> None:
        from ..lms import find_lms, lms_get  # only a download needs subprocess machinery

        lms = find_lms(self.settings.lms_path)
        lms_get(lms, model, report=self.report, deadline=self.deadline)

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT) -> None:
        self._openai_warm_up(model, read_timeout)

    def warm_up_hint(self, model: str, body: Any) -> str:
        if error_code(body) == "model_not_found":
            return f"LM Studio does not know {model!r}: download it with `lms get {model}`, or check `lms ls`."
        return "Look at LM Studio's server log (`lms log stream`) for why the model did not load."

"""Emulators of local LLM servers for the tests, running as real HTTP servers on 127.0.0.1.

* :mod:`.http_emulator` -- the shared server thread, request log, auth and load simulation.
* :mod:`.lmstudio`      -- :class:`LMStudioEmulator`.
* :mod:`.ollama`        -- :class:`OllamaEmulator` and Ollama's name rules.
* :mod:`.fake_lms`      -- :func:`install_fake_lms`, a fake ``lms`` executable driven by the LM Studio emulator.
* :mod:`.fixtures`      -- pytest fixtures ``lmstudio_emulator``, ``ollama_emulator``, ``fake_lms``.
"""

from __future__ import annotations

from .fake_lms import install_fake_lms, read_invocations
from .http_emulator import HTTPEmulator, RecordedRequest
from .lmstudio import LMStudioEmulator
from .ollama import OllamaEmulator, normalise_name

__all__ = [
    "HTTPEmulator",
    "LMStudioEmulator",
    "OllamaEmulator",
    "RecordedRequest",
    "install_fake_lms",
    "normalise_name",
    "read_invocations",
]

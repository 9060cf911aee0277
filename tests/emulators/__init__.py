"""Emulators of local LLM servers for the tests, running as real HTTP servers on 127.0.0.1.

* :mod:`.http_emulator` -- the shared server thread, request log, auth and load simulation.
* :mod:`.lmstudio`      -- :class:`LMStudioEmulator`.
* :mod:`.ollama`        -- :class:`OllamaEmulator` and Ollama's name rules.
* :mod:`.llamacpp`      -- :class:`LlamaServerEmulator` (llama.cpp's llama-server).
* :mod:`.wire`          -- the three wire protocols agents speak, as the emulators answer them.
* :mod:`.fake_lms`      -- :func:`install_fake_lms`, a fake ``lms`` executable driven by the LM Studio emulator.
* :mod:`.fake_programs` -- :class:`FakePrograms`: fake ``lms``/``ollama``/``lemonade-server``/``lemond`` on PATH
  that start the emulators, as lmprep's start plans run them.
* :mod:`.fixtures`      -- pytest fixtures ``lmstudio_emulator``, ``ollama_emulator``, ``llamacpp_emulator``,
  ``fake_lms``, ``fake_programs``.
"""

from __future__ import annotations

from .fake_lms import install_fake_lms, read_invocations
from .http_emulator import HTTPEmulator, RecordedRequest
from .llamacpp import LlamaServerEmulator
from .lmstudio import LMStudioEmulator
from .ollama import OllamaEmulator, normalise_name

__all__ = [
    "HTTPEmulator",
    "LMStudioEmulator",
    "LlamaServerEmulator",
    "OllamaEmulator",
    "RecordedRequest",
    "install_fake_lms",
    "normalise_name",
    "read_invocations",
]

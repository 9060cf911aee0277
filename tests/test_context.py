"""The loaded context window: read, raised where the provider allows it, refused where not."""

from __future__ import annotations

import json

import pytest

from lmprep import ensure_oss_ready
from lmprep.errors import ContextTooSmallError

MODEL = "openai/gpt-oss-20b"


def lmstudio_ready(emulator, **options):
    return ensure_oss_ready("lmstudio", MODEL, base_url=emulator.base_url, **options)


def test_lm_studio_context_is_read_after_a_waited_warm_up(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="wait")
    assert readiness.context_length == 4096  # the emulator's default load


def test_lm_studio_reloads_a_small_window(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="wait", min_context=32768)
    assert readiness.context_length == 32768
    [load] = lmstudio_emulator.requests_to("POST", "/api/v1/models/load")
    assert load.json == {"model": MODEL, "context_length": 32768}


def test_lm_studio_large_enough_window_is_left_alone(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 65536}
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="off", min_context=32768)
    assert readiness.context_length == 65536
    assert readiness.warm_up.status == "loaded"
    assert not lmstudio_emulator.requests_to("POST", "/api/v1/models/load")


def test_lm_studio_model_whose_maximum_is_too_small_is_exit_11(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.max_context = {MODEL: 8192}
    with pytest.raises(ContextTooSmallError) as caught:
        lmstudio_ready(lmstudio_emulator, min_context=65536)
    assert caught.value.exit_code == 11
    assert caught.value.message == (f"'{MODEL}' supports at most 8192 tokens of context, fewer than the 65536 "
                                    "required (from --min-context).")


def test_lm_studio_background_warm_up_loads_with_the_context(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    readiness = lmstudio_ready(lmstudio_emulator, min_context=16384)
    assert readiness.warm_up.status == "started"
    load = lmstudio_emulator.wait_for_request("POST", "/api/v1/models/load", timeout=10)
    assert load.json["context_length"] == 16384


def test_lm_studio_before_0_4_falls_back_to_v0_for_reading(lmstudio_emulator, monkeypatch):
    from lmprep.providers.lmstudio import LMStudio

    monkeypatch.setattr(LMStudio, "_state_v1", lambda self, model: None)
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 12000}
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="off", min_context=8000)
    assert readiness.context_length == 12000


def test_ollama_is_loaded_as_agents_find_it_and_the_window_read_back(ollama_emulator):
    """Agents' requests carry no num_ctx, and Ollama reloads a model loaded with another window
    (sched.go needsReload): lmprep loads without one, and reads what the server gave."""
    ollama_emulator.models = {"llama3:latest": 1}
    ollama_emulator.default_num_ctx = 65536  # OLLAMA_CONTEXT_LENGTH=65536 on the server
    readiness = ensure_oss_ready("ollama", "llama3", base_url=ollama_emulator.base_url, warm_up="wait",
                                 min_context=65536)
    assert readiness.context_length == 65536 and readiness.warm_up.status == "ok"
    assert ollama_emulator.requests_to("POST", "/api/generate")[-1].json == {"model": "llama3"}
    # The agent's first request finds the model as it is: no reload.
    loads_before = ollama_emulator.load_count
    import httpx

    httpx.post(f"{ollama_emulator.base_url}/chat/completions", json={
        "model": "llama3", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
    assert ollama_emulator.load_count == loads_before and ollama_emulator.loaded == {"llama3:latest": 65536}


def test_ollama_default_window_too_small_is_exit_11_with_the_servers_setting(ollama_emulator):
    ollama_emulator.models = {"llama3:latest": 1}
    with pytest.raises(ContextTooSmallError) as caught:
        ensure_oss_ready("ollama", "llama3", base_url=ollama_emulator.base_url, warm_up="wait", min_context=65536)
    assert caught.value.message == ("Ollama has 'llama3' loaded with a 4096-token context window; 65536 are required "
                                    "(from --min-context).")
    assert "OLLAMA_CONTEXT_LENGTH=65536 ollama serve" in caught.value.hint
    assert "PARAMETER num_ctx 65536" in caught.value.hint


def test_ollama_loaded_with_too_small_a_window_is_exit_11_without_a_reload(ollama_emulator):
    ollama_emulator.models = {"llama3:latest": 1}
    ollama_emulator.loaded = {"llama3:latest": 4096}
    with pytest.raises(ContextTooSmallError):
        ensure_oss_ready("ollama", "llama3", base_url=ollama_emulator.base_url, min_context=65536)
    assert not ollama_emulator.requests_to("POST", "/api/generate")


def test_ollama_context_is_read_after_wait(ollama_emulator):
    ollama_emulator.models = {"llama3:latest": 1}
    readiness = ensure_oss_ready("ollama", "llama3", base_url=ollama_emulator.base_url, warm_up="wait")
    assert readiness.context_length == 4096


def test_context_is_not_read_on_the_plain_ready_path(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="off")
    assert readiness.context_length is None
    assert [r.path for r in lmstudio_emulator.requests] == ["/v1/models"]


def test_lm_studio_without_native_apis_reads_lms_ps_and_loads_with_lms(lmstudio_emulator, fake_lms, monkeypatch,
                                                                       tmp_path):
    from lmprep.providers.lmstudio import LMStudio

    monkeypatch.setattr(LMStudio, "_state_v1", lambda self, model: None)
    monkeypatch.setattr(LMStudio, "_state_v0", lambda self, model: None)
    old_route = (200, {"error": "Unexpected endpoint or method. (POST /api/v1/models/load)"}, "")
    monkeypatch.setattr(LMStudio, "_post_warm_up_to", lambda self, *args: old_route)
    log = tmp_path / "lms.log"
    monkeypatch.setenv("FAKE_LMS_LOG", str(log))
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    readiness = lmstudio_ready(lmstudio_emulator, warm_up="wait", min_context=20000)
    assert readiness.context_length == 20000
    from emulators import read_invocations

    assert ["load", MODEL, "-c", "20000", "-y"] in read_invocations(log)
    assert ["ps", "--json"] in read_invocations(log)


def test_vllm_window_comes_from_max_model_len_and_cannot_be_raised(httpx_mock):
    from click.testing import CliRunner

    from lmprep.cli import cli

    httpx_mock.add_response(url="http://localhost:8000/v1/models", json={"object": "list", "data": [
        {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 4096}]})
    # Without VLLM_SERVER_DEV_MODE, vLLM has no sleep routes: FastAPI's 404.
    httpx_mock.add_response(url="http://localhost:8000/is_sleeping", status_code=404, json={"detail": "Not Found"})
    result = CliRunner().invoke(cli, ["-p", "vllm", "--min-context", "8192"])
    assert result.exit_code == 11
    assert result.stderr == (
        "Checking vLLM at http://localhost:8000/v1\n"
        "Error: vLLM has 'Qwen/Qwen3-8B' loaded with a 4096-token context window; 8192 are required "
        "(from --min-context).\n"
        "vLLM fixes its context window at start: restart it with `--max-model-len 8192` (or more).\n"
    )


def test_vllm_large_enough_window_is_reported_in_json(httpx_mock):
    from click.testing import CliRunner

    from lmprep.cli import cli

    httpx_mock.add_response(url="http://localhost:8000/v1/models", json={"object": "list", "data": [
        {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 32768}]})
    httpx_mock.add_response(url="http://localhost:8000/is_sleeping", json={"is_sleeping": False})
    result = CliRunner().invoke(cli, ["-p", "vllm", "--min-context", "8192", "--warm-up", "off", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["context_length"] == 32768

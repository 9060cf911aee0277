"""vLLM's sleep mode, against an emulator built from vLLM's sources and docs (see emulators/vllm.py):
a sleeping vLLM is woken (POST /wake_up) before lmprep says it is ready, where the routes exist."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.vllm import VLLMEmulator

pytestmark = pytest.mark.e2e


@pytest.fixture
def vllm():
    with VLLMEmulator() as emulator:
        yield emulator


def test_a_sleeping_vllm_is_woken_before_it_is_called_ready(vllm):
    vllm.sleeping = True
    vllm.wake_seconds = 0.6  # /wake_up answers before the engine is awake
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert "Waking vLLM (POST /wake_up): it was put to sleep" in result.stderr
    assert "Ready: Qwen/Qwen3-8B on vLLM" in result.stderr
    assert vllm.wake_count == 1 and not vllm.sleeping
    assert len(vllm.requests_to("POST", "/v1/responses")) == 1


def test_an_awake_vllm_needs_nothing(vllm):
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "loaded"
    assert result.json["context_length"] == 32768
    assert vllm.wake_count == 0


def test_without_the_sleep_routes_vllm_is_taken_as_loaded(vllm):
    vllm.sleep_routes = False
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "loaded"
    assert vllm.requests_to("POST", "/wake_up") == []


def test_status_shows_a_sleeping_model_as_not_loaded(vllm):
    vllm.sleeping = True
    result = run_lmprep("status", "-p", "vllm", "--base-url", vllm.base_url, "--json")
    row = next(p for p in result.json["providers"] if p["name"] == "vllm")
    assert row["model_loaded"] is False
    assert vllm.sleeping  # status wakes nothing


def test_a_background_load_wakes_it(vllm):
    from e2e import wait_for

    vllm.sleeping = True
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "started"
    wait_for(lambda: not vllm.sleeping and vllm.requests_to("POST", "/v1/responses"))

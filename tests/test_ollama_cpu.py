"""Ollama with the model partly on the CPU: /api/ps shows `size_vram` below `size` (what the real
Ollama 0.33 reports when a model does not fit the GPU). lmprep says so, with the fix, and puts the
share in --json and `lmprep status`."""

from __future__ import annotations

import pytest

from e2e import run_lmprep

pytestmark = pytest.mark.e2e
MODEL = "qwen3-coder:30b"


@pytest.fixture
def ollama(ollama_emulator):
    ollama_emulator.models = {MODEL: 18_000_000_000}
    ollama_emulator.gpu_share = {MODEL: 0.6}
    return ollama_emulator


def test_a_model_loaded_partly_on_the_cpu_gets_a_notice_and_its_share_in_json(ollama):
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert (f"warning: Ollama runs 40% of {MODEL} on the CPU: it did not fit in GPU memory, and the agent will be "
            "slow. Use a smaller model, or a smaller context window (OLLAMA_CONTEXT_LENGTH") in result.stderr
    assert result.stderr.rstrip().endswith("; 40% on the CPU")

    again = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--json")
    assert again.returncode == 0
    assert (again.json["warm_up"]["status"], again.json["cpu_percent"]) == ("loaded", 40)


def test_status_shows_the_share(ollama):
    ollama.loaded = {MODEL: 4096}
    result = run_lmprep("status", "-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--json")
    row = next(p for p in result.json["providers"] if p["name"] == "ollama")
    assert row["models"] == [{"id": MODEL, "loaded": True, "context_length": 4096, "cpu_percent": 40}]
    text = run_lmprep("status", "-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL)
    assert f"ollama models: {MODEL} (loaded, context 4096, 40% on the CPU)" in text.stdout


def test_a_model_wholly_on_the_gpu_gets_no_notice(ollama):
    ollama.gpu_share = {}
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["cpu_percent"] == 0
    assert "CPU" not in result.stderr

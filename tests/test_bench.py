"""`lmprep bench --for AGENT`: the agent's first turn at its real size and a next turn that
shares its prefix, measured on the emulators (the client-side and Ollama paths) and on a real
llama-server (its own timings and tokenizer); the result is kept and shown by status and the
ready line; every failure is one of lmprep's exit codes."""

from __future__ import annotations

import json

import pytest

from e2e import run_lmprep
from emulators.lmstudio import LMStudioEmulator
from emulators.vllm import VLLMEmulator
from lmprep.agents import AGENTS, agent_module

pytestmark = pytest.mark.e2e


def bench_dir(home):
    return home / ".local" / "state" / "lmprep" / "bench"


def test_every_agent_has_its_first_request_measured():
    for agent in AGENTS:
        first = agent_module(agent).FIRST_REQUEST
        if agent == "goose":  # in no package registry: never run where lmprep is tested
            assert first is None
            continue
        assert first.tokens > 0 and first.chars > first.tokens, agent
        assert first.version and first.measured.startswith("2026-"), agent
        assert any(route.startswith("POST ") for route in first.routes), agent


@pytest.fixture
def vllm():
    with VLLMEmulator(max_model_len=131072) as emulator:
        yield emulator


def test_bench_on_vllm_reports_its_cached_tokens_and_keeps_the_result(vllm, isolated_home):
    result = run_lmprep("bench", "--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url, "--json")
    assert result.returncode == 0, result.stderr
    bench = result.json["bench"]
    expected = agent_module("opencode").FIRST_REQUEST.tokens
    # Sized by one calibrating request's usage.prompt_tokens: within a few percent of the agent's size.
    assert abs(bench["first"]["prompt_tokens"] - expected) / expected < 0.05
    assert bench["first"]["source"] == "client"  # vLLM reports counts, not speeds
    # The next turn repeats the first request: the emulated prefix cache holds nearly all of it.
    assert bench["reused_share"] > 0.9 and bench["cache_works"] is True
    assert bench["first_turn_s"] is not None and bench["next_turn_s"] is not None
    kept = list(bench_dir(isolated_home).glob("*.json"))
    assert len(kept) == 1 and json.loads(kept[0].read_text())["agent"] == "opencode"

    status = run_lmprep("status", "-p", "vllm", "--base-url", vllm.base_url)
    assert "Qwen/Qwen3-8B measured by `lmprep bench`" in status.stdout
    assert "opencode first turn ≈" in status.stdout
    status_json = run_lmprep("status", "-p", "vllm", "--base-url", vllm.base_url, "--json").json
    row = next(p for p in status_json["providers"] if p["name"] == "vllm")
    assert row["last_bench"]["agent"] == "opencode" and row["last_bench"]["prefill_tps"] > 0
    ready = run_lmprep("--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url)
    assert "prefill " in ready.stderr and "opencode first turn ≈" in ready.stderr


def test_bench_says_when_the_prefix_cache_reused_nothing(vllm):
    vllm.prompt_cache = None  # usage without cached_tokens: unknown, not broken
    unknown = run_lmprep("bench", "--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url, "--json")
    assert unknown.returncode == 0, unknown.stderr
    assert unknown.json["bench"]["reused_share"] is None and unknown.json["bench"]["cache_works"] is None

    from emulators.wire import PromptCache

    class Forgetful(PromptCache):
        def usage(self, body):
            self.previous = ""
            return super().usage(body)

    vllm.prompt_cache = Forgetful()
    result = run_lmprep("bench", "--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url)
    assert result.returncode == 0, result.stderr
    assert "its prefix cache is not working" in result.stderr
    assert "--enable-prefix-caching" in result.stderr
    assert "0 prompt tokens reused (0%)" in result.stdout


def test_bench_on_ollama_uses_its_own_counters(ollama_emulator):
    ollama_emulator.models["qwen3:8b"] = 5_000_000
    result = run_lmprep("bench", "--for", "openai", "-p", "ollama", "-m", "qwen3:8b",
                        "--base-url", ollama_emulator.base_url, "--json")
    assert result.returncode == 0, result.stderr
    bench = result.json["bench"]
    assert bench["first"]["source"] == "server"
    assert bench["prefill_tps"] == pytest.approx(2000, rel=0.01)  # the emulator's prompt_eval_duration
    assert bench["second"]["cached_tokens"] > 0
    assert ollama_emulator.requests_to("POST", "/api/chat")
    for request in ollama_emulator.requests_to("POST", "/api/chat"):
        assert "num_ctx" not in request.body_object().get("options", {})  # never a reload at another window


def test_bench_on_lm_studio_uses_its_rest_stats(isolated_home):
    model = "qwen/qwen3-8b"
    with LMStudioEmulator(downloaded=[model], loaded={model: 131072}) as lmstudio_emulator:
        lmstudio_emulator.v0_stats.update(tokens_per_second=37.5, time_to_first_token=0.25)
        result = run_lmprep("bench", "--for", "openai", "-p", "lmstudio", "-m", model,
                            "--base-url", lmstudio_emulator.base_url, "--json")
        requests = lmstudio_emulator.requests_to("POST", "/api/v0/chat/completions")
    assert result.returncode == 0, result.stderr
    bench = result.json["bench"]
    assert bench["first"]["source"] == "server"
    assert bench["decode_tps"] == pytest.approx(37.5)  # stats.tokens_per_second
    assert bench["first"]["first_token_s"] == pytest.approx(0.25)  # stats.time_to_first_token
    assert bench["prefill_tps"] == pytest.approx(bench["first"]["prompt_tokens"] / 0.25, rel=0.01)
    assert requests and all(request.body_object()["stream"] is False for request in requests)


def test_bench_needs_an_agent():
    result = run_lmprep("bench")
    assert result.returncode == 2
    assert "--for" in result.stderr


def test_bench_against_a_server_that_is_down(unused_port):
    result = run_lmprep("bench", "--for", "codex", "-p", "llamacpp", "--base-url",
                        f"http://127.0.0.1:{unused_port}/v1", "--json")
    assert result.returncode == 4
    assert result.json["state"] == "unreachable" and result.json["bench"] is None


def test_bench_never_measures_a_model_too_small_for_the_agent(vllm):
    vllm.max_model_len = 8192
    result = run_lmprep("bench", "--for", "claude", "-p", "vllm", "--base-url", vllm.base_url)
    assert result.returncode == 11, result.stderr
    assert vllm.requests_to("POST", "/v1/chat/completions") == []


def test_a_refused_measured_request_is_a_warm_up_failure(vllm):
    result = run_lmprep("bench", "--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url,
                        "-m", "Qwen/Qwen3-8B")
    assert result.returncode == 0, result.stderr
    vllm.model = "other/model"  # the model goes away between the check and the measure: a 404
    gone = run_lmprep("bench", "--for", "opencode", "-p", "vllm", "--base-url", vllm.base_url,
                      "-m", "Qwen/Qwen3-8B")
    assert gone.returncode == 6, gone.stderr


@pytest.mark.real_server
def test_bench_on_the_real_llama_server_uses_its_tokenizer_and_timings(llama_server_binary, tmp_path, isolated_home):
    from realserver.server import LlamaServer
    from realserver.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny32k.gguf", context_length=32768)
    with LlamaServer(llama_server_binary, model, context=32768, alias="tiny", extra_args=["-n", "16"]) as server:
        result = run_lmprep("bench", "--for", "aider", "-p", "llamacpp", "--base-url", server.base_url, "--json",
                            timeout=300)
        assert result.returncode == 0, result.stderr
        bench = result.json["bench"]
        expected = agent_module("aider").FIRST_REQUEST.tokens
        assert abs(bench["first"]["prompt_tokens"] - expected) / expected < 0.05  # /tokenize sized it
        assert bench["first"]["source"] == "server" and bench["prefill_tps"] > 0 and bench["decode_tps"] > 0
        # llama-server keeps the slot's prompt: the next turn reuses the whole first prompt (its cache_n).
        assert bench["second"]["cached_tokens"] >= bench["first"]["prompt_tokens"] - 2
        assert bench["cache_works"] is True
        assert bench["next_turn_s"] < bench["first_turn_s"]
        shown = run_lmprep("bench", "--for", "aider", "-p", "llamacpp", "--base-url", server.base_url, timeout=300)
        assert "prefill" in shown.stdout and "(the server)" in shown.stdout
        assert "aider on tiny: its first request is about" in shown.stdout


def test_an_agent_never_measured_gets_a_typical_size_and_is_told_so(vllm):
    result = run_lmprep("bench", "--for", "goose", "-p", "vllm", "--base-url", vllm.base_url, "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["bench"]["agent_tokens"] == 16_000
    plain = run_lmprep("bench", "--for", "goose", "-p", "vllm", "--base-url", vllm.base_url)
    assert "goose's first request was never measured: bench sends 16,000 tokens" in plain.stderr

"""Ollama's HTTP exchanges, against pytest-httpx."""

from __future__ import annotations

import json

import httpx
import pytest

from helpers import provider_settings, refuse
from lmprep.errors import DownloadFailedError, ProtocolError, UnreachableError, WarmupFailedError
from lmprep.events import Step, Transfer
from lmprep.providers.ollama import Ollama, normalize_model_name

ROOT = "http://localhost:11434"


def ollama(events=None, env=None, **flags):
    report = events.append if events is not None else (lambda event: None)
    return Ollama(provider_settings("ollama", env, **flags), report=report)


@pytest.mark.parametrize("name, normal", [
    ("llama3", "registry.ollama.ai/library/llama3:latest"),
    ("llama3:latest", "registry.ollama.ai/library/llama3:latest"),
    ("library/llama3:latest", "registry.ollama.ai/library/llama3:latest"),
    ("registry.ollama.ai/library/llama3", "registry.ollama.ai/library/llama3:latest"),
    ("Llama3:Latest", "registry.ollama.ai/library/llama3:latest"),
    ("gpt-oss:20b", "registry.ollama.ai/library/gpt-oss:20b"),
    ("user/model:7b", "registry.ollama.ai/user/model:7b"),
    ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:q4_k_m"),
])
def test_normalize_model_name(name, normal):
    assert normalize_model_name(name) == normal


def test_lists_tags_at_the_root_and_matches_by_ollama_rules(httpx_mock):
    httpx_mock.add_response(url=f"{ROOT}/api/tags", json={"models": [
        {"name": "llama3:latest", "model": "llama3:latest", "size": 1}, {"name": "gpt-oss:20b"}]})
    with ollama() as provider:
        listing = provider.list_models()
    assert listing == ["llama3:latest", "gpt-oss:20b"]
    assert provider.has_model("llama3", listing)
    assert provider.has_model("library/llama3:latest", listing)
    assert not provider.has_model("llama3:8b", listing)


def test_ollama_host_moves_the_native_api(httpx_mock):
    httpx_mock.add_response(url="http://127.0.0.1:9999/api/tags", json={"models": []})
    with ollama(env={"OLLAMA_HOST": "0.0.0.0:9999"}) as provider:
        assert provider.list_models() == []


@pytest.mark.parametrize("response, fragment", [
    ({"status_code": 404, "text": "404 page not found"}, "HTTP 404"),
    ({"json": {"data": []}}, "without a `models` list"),
    ({"text": "<html>"}, "not JSON"),
])
def test_non_ollama_answers_are_protocol_errors(httpx_mock, response, fragment):
    httpx_mock.add_response(url=f"{ROOT}/api/tags", **response)
    with ollama() as provider, pytest.raises(ProtocolError) as caught:
        provider.list_models()
    assert fragment in caught.value.message


def test_refused_is_unreachable_with_the_ollama_hint(httpx_mock):
    refuse(httpx_mock, f"{ROOT}/api/tags")
    with ollama() as provider, pytest.raises(UnreachableError) as caught:
        provider.list_models()
    assert caught.value.message == "Ollama is not responding at http://localhost:11434/v1 (connection refused)."
    assert "ollama serve" in caught.value.hint


def ndjson(*items) -> bytes:
    return b"".join(json.dumps(item).encode() + b"\n" for item in items)


def test_pull_streams_progress_summed_over_layers(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", content=ndjson(
        {"status": "pulling manifest"},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:a"},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:a", "total": 100, "completed": 40},
        {"status": "pulling bbbbbbbbbbbb", "digest": "sha256:b", "total": 50, "completed": 50},
        {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:a", "total": 100, "completed": 100},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ), headers={"Content-Type": "application/x-ndjson"})
    events = []
    with ollama(events) as provider:
        provider.download("llama3")
    [request] = httpx_mock.get_requests()
    assert json.loads(request.content) == {"model": "llama3", "stream": True}
    transfers = [(e.completed, e.total, e.finished) for e in events if isinstance(e, Transfer)]
    # Over only once Ollama is past its layers ("verifying"): a layer done is not the pull done.
    assert transfers == [(0, None, False), (40, 100, False), (90, 150, False), (150, 150, False), (150, 150, True)]
    steps = [e.message for e in events if isinstance(e, Step)]
    assert "Ollama: verifying sha256 digest" in steps and "Ollama: writing manifest" in steps


def test_in_band_error_inside_a_200_stream_is_download_failed(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", content=ndjson(
        {"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}))
    with ollama() as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("nope")
    assert caught.value.message == "Ollama could not pull 'nope': pull model manifest: file does not exist."
    assert caught.value.exit_code == 7


def test_stream_ending_without_success_is_download_failed(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", content=ndjson(
        {"status": "pulling manifest"}, {"status": "verifying sha256 digest"}))
    with ollama() as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("llama3")
    assert "ended before it said `success` (last status: verifying sha256 digest)" in caught.value.message
    assert "resumes" in caught.value.hint


def test_error_status_before_the_stream_is_download_failed(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", status_code=500, json={"error": "disk full"})
    with ollama() as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("llama3")
    assert "HTTP 500: disk full" in caught.value.message


def test_garbage_line_in_the_stream_is_download_failed(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", content=b'{"status": "pulling manifest"}\n<html>\n')
    with ollama() as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("llama3")
    assert "not JSON" in caught.value.message


def test_stalled_pull_is_download_failed(httpx_mock):
    httpx_mock.add_exception(httpx.ReadTimeout("stalled"), method="POST", url=f"{ROOT}/api/pull")
    with ollama() as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("llama3")
    assert "did not answer in time while pulling llama3" in caught.value.message


def test_warm_up_uses_the_native_load_request(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/generate",
                            json={"model": "llama3", "response": "", "done": True, "done_reason": "load"})
    with ollama() as provider:
        provider.warm_up("llama3")
    [request] = httpx_mock.get_requests()
    assert json.loads(request.content) == {"model": "llama3"}


def test_warm_up_of_unknown_model_is_warmup_failed(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/generate", status_code=404,
                            json={"error": "model 'nope' not found"})
    with ollama() as provider, pytest.raises(WarmupFailedError) as caught:
        provider.warm_up("nope")
    assert caught.value.message == "Ollama could not load 'nope' (HTTP 404: model 'nope' not found)."


def test_identify_by_root_text(httpx_mock):
    httpx_mock.add_response(url=f"{ROOT}/", text="Ollama is running")
    with ollama() as provider:
        assert provider.identify()


def test_pull_that_repeats_itself_without_progress_is_a_stall(httpx_mock):
    layer = {"status": "pulling aaaaaaaaaaaa", "digest": "sha256:a", "total": 100, "completed": 10}
    httpx_mock.add_response(method="POST", url=f"{ROOT}/api/pull", content=ndjson(
        {"status": "pulling manifest"}, layer, layer, layer, {"status": "success"}))
    provider = Ollama(provider_settings("ollama"), stall_timeout=1e-9)
    with provider, pytest.raises(DownloadFailedError) as caught:
        provider.download("llama3")
    assert caught.value.message == "Ollama's pull of 'llama3' made no progress for 1e-09 s."
    assert "stall_timeout" in caught.value.hint

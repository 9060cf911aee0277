"""The 503 "Loading model" phase: the real one (when catchable) and the proxy that imitates it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .loading_proxy import LOADING_BODY, LoadingProxy
from .server import HttpResult, LlamaServer, http_request, llama_server_with_loading_phase

pytestmark = pytest.mark.real_server

CHAT = {"model": "ignored", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1, "temperature": 0}


def _assert_loading_reply(result: HttpResult) -> None:
    assert result.status == 503, result
    assert result.body == LOADING_BODY
    assert result.json() == {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}
    assert result.headers["content-type"] == "application/json; charset=utf-8"
    assert result.headers["server"] == "llama.cpp"


def test_real_loading_reply_is_what_the_proxy_sends(llama_server_binary: Path, tiny_gguf: Path) -> None:
    """Poll the real server from spawn to ready; every 503 it gives must equal LOADING_BODY.

    The tiny model loads within ~10 ms of the port opening, so catching the phase
    is a race (it is caught nearly every time here); the test skips if it is missed.
    """
    server = LlamaServer(llama_server_binary, tiny_gguf).start()
    replies: list[HttpResult] = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert server.running, server.log_tail()
            try:
                result = http_request("GET", server.origin + "/health", timeout=2)
            except OSError:  # not listening yet
                time.sleep(0.001)
                continue
            if result.status == 200:
                break
            replies.append(result)
        else:
            pytest.fail(f"server not ready within 30 s\n{server.log_tail()}")
    finally:
        server.stop()
    if not replies:
        pytest.skip("the model loaded before a 503 could be observed")
    for result in replies:
        _assert_loading_reply(result)


def test_proxy_answers_loading_on_every_route_until_finished(llama_server_binary: Path, tiny_gguf: Path) -> None:
    with llama_server_with_loading_phase(llama_server_binary, tiny_gguf, loading_seconds=600) as proxy:
        assert isinstance(proxy, LoadingProxy)
        proxy.upstream.wait_ready()  # the real server is ready; the proxy still says "loading"
        for method, path, payload in (
            ("GET", "/health", None),
            ("GET", "/v1/models", None),
            ("GET", "/props", None),
            ("POST", "/v1/chat/completions", CHAT),
            ("POST", "/v1/responses", {"input": "Hi", "max_output_tokens": 1}),
        ):
            _assert_loading_reply(http_request(method, proxy.origin + path, payload))
        assert proxy.loading_responses == 5
        assert proxy.forwarded_responses == 0

        proxy.finish_loading()
        health = http_request("GET", proxy.origin + "/health")
        assert (health.status, health.json()) == (200, {"status": "ok"})
        models = http_request("GET", proxy.base_url + "/models").json()
        assert [m["id"] for m in models["data"]] == ["tiny"]
        stream = http_request("POST", proxy.base_url + "/chat/completions", {**CHAT, "stream": True})
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.text.rstrip().endswith("data: [DONE]")
        assert proxy.forwarded_responses == 3
        assert proxy.loading_responses == 5
    assert not proxy.upstream.running


def test_proxy_loading_phase_ends_after_its_duration(llama_server_binary: Path, tiny_gguf: Path) -> None:
    loading_seconds = 0.3
    with llama_server_with_loading_phase(llama_server_binary, tiny_gguf, loading_seconds=loading_seconds) as proxy:
        start = time.monotonic()
        first = http_request("GET", proxy.origin + "/health")
        _assert_loading_reply(first)
        while True:
            result = http_request("GET", proxy.origin + "/health")
            if result.status == 200:
                break
            _assert_loading_reply(result)
            assert time.monotonic() - start < 30, "proxy never left the loading phase"
            time.sleep(0.02)
        assert proxy.loading_ended_at is not None
        # Measured from the proxy's start, not from this test's first request: on a busy machine
        # a good part of the phase can pass before that request.
        assert proxy.loading_ended_at - proxy.started_at >= loading_seconds
        chat = http_request("POST", proxy.base_url + "/chat/completions", CHAT)
        assert chat.status == 200, chat

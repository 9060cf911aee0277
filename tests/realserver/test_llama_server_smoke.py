"""Smoke test: the tiny GGUF loads in the real llama-server and every endpoint answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from .server import LlamaServer, http_request
from .tiny_gguf import write_tiny_gguf

pytestmark = pytest.mark.real_server


def test_tiny_model_serves_all_endpoints(llama_server_binary: Path, tmp_path: Path) -> None:
    model = write_tiny_gguf(tmp_path / "tiny.gguf")
    assert 100_000 < model.stat().st_size < 2_000_000

    with LlamaServer(llama_server_binary, model, context=2048, alias="tiny") as server:
        assert server.ready_after is not None

        health = http_request("GET", server.origin + "/health")
        assert health.status == 200, health
        assert health.json() == {"status": "ok"}

        models = http_request("GET", server.base_url + "/models")
        assert models.status == 200, models
        data = models.json()["data"]
        assert len(data) == 1
        assert data[0]["id"] == "tiny"
        assert data[0]["owned_by"] == "llamacpp"
        assert data[0]["meta"]["n_ctx"] == 2048

        props = http_request("GET", server.origin + "/props")
        assert props.status == 200, props
        assert props.json()["default_generation_settings"]["n_ctx"] == 2048

        chat = http_request(
            "POST",
            server.base_url + "/chat/completions",
            {
                # llama-server ignores the model field; any name is answered.
                "model": "whatever",
                "messages": [{"role": "user", "content": "Hello"}],
                "max_tokens": 1,
                "temperature": 0,
            },
        )
        assert chat.status == 200, chat
        body = chat.json()
        assert body["object"] == "chat.completion"
        assert body["choices"][0]["message"]["role"] == "assistant"
        assert isinstance(body["choices"][0]["message"]["content"], str)
        assert body["usage"]["completion_tokens"] == 1

    assert not server.running
    assert server.process is not None and server.process.returncode is not None


def test_fixture_server_answers_responses_and_messages(llama_server: LlamaServer) -> None:
    """b11434 also serves the OpenAI Responses and Anthropic Messages APIs.

    Greedy decoding (temperature 0): with default sampling the random model now and
    then picks a token that renders as no text, and the Responses API then returns
    an empty ``output`` list.
    """
    responses = http_request(
        "POST",
        llama_server.base_url + "/responses",
        {"model": "x", "input": "Hello", "max_output_tokens": 1, "temperature": 0},
    )
    assert responses.status == 200, responses
    body = responses.json()
    assert body["object"] == "response"
    assert body["status"] == "completed"
    assert body["model"] == "tiny"
    assert body["output"][0]["type"] == "message"
    assert body["usage"]["output_tokens"] == 1

    messages = http_request(
        "POST",
        llama_server.base_url + "/messages",
        {"model": "x", "max_tokens": 1, "temperature": 0, "messages": [{"role": "user", "content": "Hello"}]},
    )
    assert messages.status == 200, messages
    assert messages.json()["type"] == "message"
    assert messages.json()["stop_reason"] == "max_tokens"

"""Small builders shared by the unit tests."""

from __future__ import annotations

from lmprep.config import Flags, resolve_settings


def provider_settings(name: str = "lmstudio", env: dict | None = None, **flags):
    """The resolved settings of one provider, as the pipeline would see them."""
    return resolve_settings(Flags(**flags), env or {}).providers[name]


def settings(env: dict | None = None, **flags):
    return resolve_settings(Flags(**flags), env or {})


def refuse(httpx_mock, url: str, message: str = "[Errno 111] Connection refused", exception=None) -> None:
    """Nothing listens at ``url``: for a localhost URL, lmprep also tries 127.0.0.1."""
    import httpx

    exception = exception or httpx.ConnectError(message)
    httpx_mock.add_exception(exception, url=url)
    if "//localhost" in url:
        httpx_mock.add_exception(exception, url=url.replace("//localhost", "//127.0.0.1", 1))


def lmstudio_native(httpx_mock, model: str = "openai/gpt-oss-20b", context_length: int | None = None,
                    origin: str = "http://localhost:1234", maximum: int = 131072) -> None:
    """LM Studio's native listing (/api/v1/models) with ``model`` loaded with ``context_length``
    tokens, or not loaded (None)."""
    instances = [] if context_length is None else [{"id": model, "config": {"context_length": context_length}}]
    httpx_mock.add_response(url=f"{origin}/api/v1/models", json={"models": [{
        "type": "llm", "key": model, "max_context_length": maximum, "loaded_instances": instances,
    }]})


#: Streamed answers of one token, as llama-server b11434 sends them (shortened).
SSE = {
    "responses": (
        b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","status":"in_progress"}}\n\n'
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"O"}\n\n'
        b'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","status":"completed"}}\n\n'
    ),
    "chat": (
        b'data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"O"}}],"object":"chat.completion.chunk"}\n\n'
        b'data: {"choices":[{"finish_reason":"length","index":0,"delta":{}}],"object":"chat.completion.chunk"}\n\n'
        b"data: [DONE]\n\n"
    ),
    "messages": (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","role":"assistant","content":[]}}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"O"}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    ),
}
ROUTES = {"responses": "/v1/responses", "chat": "/v1/chat/completions", "messages": "/v1/messages"}


def answers_agent(httpx_mock, origin: str, protocol: str = "responses", *, stream: bool = True) -> None:
    """The server has ``protocol``'s route (it refuses an empty body, as real servers do) and,
    with ``stream``, answers the agent's first request with a complete stream."""
    url = origin + ROUTES[protocol] + ("?beta=true" if protocol == "messages" else "")
    httpx_mock.add_response(method="POST", url=url, match_json={}, status_code=400,
                            json={"error": {"message": "'input' is required", "type": "invalid_request_error"}})
    if stream:
        httpx_mock.add_response(method="POST", url=url, content=SSE[protocol],
                                headers={"content-type": "text/event-stream"})

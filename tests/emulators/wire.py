"""The three wire protocols agents speak, as the emulated servers answer them.

Chat Completions (``data:`` chunks ending ``data: [DONE]``), the Responses API and the Anthropic
Messages API (``event:`` + ``data:`` pairs ending ``response.completed`` / ``message_stop``),
streamed or not, in the shapes llama-server b11434 sends (captured from the real server).
A body without its required field is refused the way the real servers word it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from .http_emulator import Reply, json_reply, openai_chat_completion, openai_response

__all__ = ["PROTOCOLS", "PromptCache", "anthropic_message", "answer", "missing_field", "sse_reply", "wants_tools"]

#: Route → protocol, for the emulators' routing tables.
PROTOCOLS = {"/v1/chat/completions": "chat", "/v1/responses": "responses", "/v1/messages": "messages"}
_REQUIRED = {"chat": "messages", "responses": "input", "messages": "messages"}


def missing_field(protocol: str, body: dict[str, Any]) -> str | None:
    """The refusal of a body without the protocol's required field (llama-server's words)."""
    field = _REQUIRED[protocol]
    return None if field in body else f"'{field}' is required"


def wants_tools(body: dict[str, Any]) -> bool:
    return bool(body.get("tools"))


def anthropic_message(model: str) -> dict[str, Any]:
    return {
        "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": "OK"}], "stop_reason": "max_tokens", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


class PromptCache:
    """A server's prefix cache, as far as its usage counters show it: a prompt's tokens (four
    characters a token) and how many of them start the previous prompt too."""

    def __init__(self) -> None:
        self.previous = ""

    def usage(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = json.dumps(body.get("messages"))
        shared = 0
        for mine, theirs in zip(prompt, self.previous):
            if mine != theirs:
                break
            shared += 1
        self.previous = prompt
        return {"prompt_tokens": len(prompt) // 4, "completion_tokens": 1, "total_tokens": len(prompt) // 4 + 1,
                "prompt_tokens_details": {"cached_tokens": shared // 4}}


def answer(protocol: str, body: dict[str, Any], model: str, cache: PromptCache | None = None) -> Reply:
    """One token of answer, streamed when the body asks for it; a streamed chat answer ends with
    its usage where the request asks for it (``stream_options.include_usage``), with the cached
    share where the server has a ``cache``."""
    if not body.get("stream"):
        build = {"chat": openai_chat_completion, "responses": openai_response, "messages": anthropic_message}
        return json_reply(build[protocol](model))
    if protocol == "chat":
        options = body.get("stream_options")
        wants_usage = isinstance(options, dict) and options.get("include_usage")
        usage = (cache or PromptCache()).usage(body) if wants_usage else None
        if usage is not None and cache is None:
            usage.pop("prompt_tokens_details")
        return sse_reply(_chat_events(model, usage))
    return sse_reply({"responses": _responses_events, "messages": _messages_events}[protocol](model))


def sse_reply(events: Iterator[tuple[str | None, Any]]) -> Reply:
    """Server-sent events, each written as it is produced."""

    def chunks() -> Iterator[bytes]:
        for name, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            yield (f"event: {name}\n" if name else "").encode() + f"data: {text}\n\n".encode()

    return Reply(200, content_type="text/event-stream", chunks=chunks())


def _chat_events(model: str, usage: dict[str, Any] | None = None) -> Iterator[tuple[str | None, Any]]:
    chunk = {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion.chunk", "created": int(time.time()),
             "model": model}
    yield None, {**chunk, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "OK"},
                                       "finish_reason": None}]}
    yield None, {**chunk, "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    if usage is not None:
        yield None, {**chunk, "choices": [], "usage": usage}
    yield None, "[DONE]"


def _responses_events(model: str) -> Iterator[tuple[str | None, Any]]:
    response = {"id": f"resp_{uuid.uuid4().hex[:12]}", "object": "response", "status": "in_progress", "model": model}
    item = {"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "status": "in_progress",
            "content": []}
    yield "response.created", {"type": "response.created", "response": response}
    yield "response.output_item.added", {"type": "response.output_item.added", "item": item}
    yield "response.output_text.delta", {"type": "response.output_text.delta", "item_id": item["id"], "delta": "OK"}
    done = {**item, "status": "completed", "content": [{"type": "output_text", "text": "OK", "annotations": []}]}
    yield "response.output_item.done", {"type": "response.output_item.done", "item": done}
    yield "response.completed", {"type": "response.completed",
                                 "response": {**response, "status": "completed", "output": [done]}}


def _messages_events(model: str) -> Iterator[tuple[str | None, Any]]:
    message = {**anthropic_message(model), "content": [], "stop_reason": None}
    yield "message_start", {"type": "message_start", "message": message}
    yield "content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    yield "content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "OK"}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 1}}
    yield "message_stop", {"type": "message_stop"}

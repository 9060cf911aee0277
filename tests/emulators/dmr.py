"""A Docker Model Runner emulator, from docker/model-runner's sources (see lmprep/providers/dmr.py
for the facts): /engines/v1/models with ``owned_by: "docker"`` and ``dmr.context_window``,
``POST /models/create {"from"}`` streaming JSON lines (``type`` progress/success/error, ``total``,
``layer``), ``GET /engines/ps``; a model loads on its first inference request."""

from __future__ import annotations

import json

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply
from .wire import PROTOCOLS, answer


def reference(model: str) -> str:
    """A name as the server looks it up (pkg/distribution/distribution/client.go
    normalizeModelName): `hf.co/` → `huggingface.co/`, `ai/` for a name without an owner,
    `:latest` for no tag, the name (not the tag) lower-cased."""
    model = model.strip()
    if model.startswith("hf.co/"):
        model = "huggingface.co/" + model[6:]
    name, tag = model, "latest"
    if model.rfind(":") > model.rfind("/"):
        name, tag = model[:model.rfind(":")], model[model.rfind(":") + 1:] or "latest"
    if "/" not in name:
        name = "ai/" + name
    return f"{name.lower()}:{tag}"


class DockerModelRunnerEmulator(HTTPEmulator):
    """``models``: tag → context_window (None: not set); ``catalog``: tag → size that can be pulled."""

    def __init__(self, *, models=None, catalog=None) -> None:
        super().__init__()
        self.models = dict(models or {})
        self.catalog = dict(catalog or {})
        self.version = "v1.1.2"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/engines/v1"

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/engines/v1/models"): self._models, ("GET", "/engines/ps"): self._ps,
            ("POST", "/models/create"): self._create,
            # pkg/server/server.go at 642c7211: the build's main.Version (`git describe --tags`)
            ("GET", "/version"): lambda request: json_reply({"version": self.version}),
        }
        for path in ("/v1/chat/completions", "/v1/messages"):
            routes[("POST", "/engines" + path)] = self._answer
        return routes

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        return Reply(404, b"404 page not found\n", "text/plain; charset=utf-8")  # Go's ServeMux

    def _models(self, request: RecordedRequest) -> Reply:
        data = []
        for tag, window in self.models.items():
            entry = {"id": tag, "object": "model", "created": 1742816981, "owned_by": "docker",
                     "dmr": {"architecture": "llama", "parameters": "361.82 M", "quantization": "IQ2_XXS/Q4_K_M"}}
            if window is not None:
                entry["dmr"]["context_window"] = window
            data.append(entry)
        return json_reply({"object": "list", "data": data})

    def _ps(self, request: RecordedRequest) -> Reply:
        with self.lock:
            return json_reply([{"backend_name": "llama.cpp", "model_name": tag, "mode": "completion",
                                "last_used": "2026-01-01T00:00:00Z"} for tag in self.loaded])

    def _create(self, request: RecordedRequest) -> Reply:
        tag = reference(request.body_object().get("from", ""))
        size = self.catalog.get(tag)
        if size is None:
            return Reply(404, b"Model not found\n", "text/plain; charset=utf-8")

        def lines():
            for current in (size // 2, size):
                yield json.dumps({"type": "progress", "message": "", "total": size,
                                  "layer": {"id": "sha256:0123", "size": size, "current": current},
                                  "mode": "pull"}).encode() + b"\n"
            with self.lock:
                self.models[tag] = None
            yield json.dumps({"type": "success", "message": "Model pulled successfully", "mode": "pull"}).encode() + b"\n"

        return Reply(200, content_type="application/json", chunks=lines())

    def _answer(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        model = body.get("model", "")
        tag = reference(model)
        if tag not in self.models:
            return json_reply({"error": {"message": f"model {model} not found", "type": "invalid_request_error"}}, 404)
        if self.loaded_context(tag) is None:
            self.simulate_load(tag, self.models[tag] or 4096)
        return answer(PROTOCOLS[request.path[len("/engines"):]], body, tag)

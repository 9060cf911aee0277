"""A llama-swap emulator, checked against the real llama-swap v235 (c59816ba, built from source)
in front of llama-server b11434, and from llama-swap's source at v235 and v250-5-g0bdb3720
(mostlygeek/llama-swap: internal/server/server.go for the routes, internal/server/api.go for
/v1/models, /running and /upstream, internal/server/log.go for /logs/stream,
internal/process/process_command.go for the start and its health check, internal/shared/http.go
for v235's error body).

``version="v235"`` (the default) answers as the real v235 did: a listing of bare entries (no
`status`, no `meta`, no aliases unless ``include_aliases_in_list``), no `/models` route, errors
`{"error": "...", "src": "llama-swap"}`, a failed start HTTP 500 "unspecific error: upstream
command exited prematurely". ``version="v250"`` lists `status` and `meta.llamaswap.aliases` (v236
and v241 added them) and has `/models`; its error bodies are those of v250-5's httperror.go
(`{"src", "error": {"message", ...}}`), read from the source only. Either way, starting one
model stops the one that ran (no `groups`: one upstream at a time, as v235 did).

Each configured model has an upstream: a real :class:`LlamaServerEmulator` on its own port,
started on demand (``start_seconds`` after the first request that needs it, while that request
and every other one for the model waits), and really proxied to. ``fail_start`` names models
whose upstream command "exits prematurely". ``arrivals`` records, for every inference request
(and /upstream request), the model's process state when it arrived: a test reads from it
whether a request paid the cold start.
"""

from __future__ import annotations

import http.client
import threading
import time
from typing import Any
from urllib.parse import unquote

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply, text_reply
from .llamacpp import LlamaServerEmulator
from .wire import PROTOCOLS

__all__ = ["LlamaSwapEmulator"]

_LOG_POLL = 0.02


def _nested_error(status: int, message: str) -> Reply:
    kinds = {400: "invalid_request_error", 401: "authentication_error", 404: "invalid_request_error"}
    return json_reply({"src": "llama-swap", "error": {"message": message, "type": kinds.get(status, "server_error"),
                                                      "param": None, "code": str(status)}}, status)


def _flat_error(status: int, message: str) -> Reply:
    # v235 internal/shared/http.go SendResponse, for a client that accepts JSON
    return json_reply({"error": message, "src": "llama-swap"}, status)


class LlamaSwapEmulator(HTTPEmulator):
    server_header = "llama-swap"
    public_paths = frozenset({"/health"})

    def __init__(self, models: dict[str, int] | None = None, *, aliases: dict[str, list[str]] | None = None,
                 start_seconds: float = 0.3, fail_start: set[str] | None = None, token: str | None = None,
                 version: str = "v235", include_aliases_in_list: bool = False) -> None:
        """``models``: model id → the window (-c) its llama-server upstream is started with."""
        assert version in ("v235", "v250")
        self.version = version
        self.include_aliases_in_list = include_aliases_in_list
        self._error = _flat_error if version == "v235" else _nested_error
        self.windows = dict(models or {"tiny": 4096})
        self.aliases = dict(aliases or {})
        self.start_seconds = start_seconds
        self.fail_start = set(fail_start or ())
        self.states: dict[str, str] = {}  # model id → starting | ready (absent: stopped)
        self.upstreams: dict[str, LlamaServerEmulator] = {}
        self.logs: dict[str, list[str]] = {model: [] for model in self.windows}
        self.starts: list[str] = []  # model ids, in the order their starts began
        self.arrivals: list[tuple[str, str, str]] = []  # (path, model id, state on arrival)
        self._changed = threading.Condition()
        super().__init__(token=token)

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/health"): lambda request: text_reply("OK"),
            ("GET", "/v1/models"): self._models,
            ("GET", "/running"): self._running,
            ("GET", "/unload"): self._unload_all,
            # internal/server/apigroup.go handleAPIVersion: the release tag, commit and date (behind apiKeys)
            ("GET", "/api/version"): lambda request: json_reply(
                {"build_date": "2026-07-03T16:19:44Z", "commit": "c59816ba", "version": self.version}),
        }
        if self.version != "v235":
            routes[("GET", "/models")] = self._models  # v250 only: v235 answers 404
        for path in PROTOCOLS:
            routes[("POST", path)] = self._inference
        return routes

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        # llama-swap's own prefix routes (Go 1.22 patterns with {path...}).
        if request.path.startswith("/upstream/"):
            return self._upstream(request)
        if request.method == "GET" and request.path.startswith("/logs/stream/"):
            return self._log_stream(request)
        if request.method == "POST" and request.path.startswith("/api/models/unload/"):
            model = self._resolve(unquote(request.path[len("/api/models/unload/"):]))
            if model is None:
                return self._error(404, "model not found")
            self.stop_upstream(model)
            return text_reply("OK")
        return text_reply("404 page not found\n", 404)

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        return self._error(401, "unauthorized: invalid or missing API key")

    # -- models and processes -------------------------------------------------------------------

    def _resolve(self, name: str) -> str | None:
        if name in self.windows:
            return name
        for model, names in self.aliases.items():
            if name in names:
                return model
        return None

    def _models(self, request: RecordedRequest) -> Reply:
        data = []
        for model in sorted(self.windows):
            names = [model, *(self.aliases.get(model, ()) if self.include_aliases_in_list else ())]
            for name in names:  # includeAliasesInList: each alias an entry like its model's
                entry: dict[str, Any] = {"id": name, "object": "model", "created": int(time.time()),
                                         "owned_by": "llama-swap"}
                if self.version != "v235":
                    entry["status"] = {"value": "loaded" if model in self.states else "unloaded"}
                    meta: dict[str, Any] = {"type": "model"}
                    if self.aliases.get(model):
                        meta["aliases"] = list(self.aliases[model])
                    entry["meta"] = {"llamaswap": meta}
                data.append(entry)
        data.sort(key=lambda entry: entry["id"])
        return json_reply({"object": "list", "data": data})

    def _running(self, request: RecordedRequest) -> Reply:
        with self._changed:
            running = [{"model": model, "state": state, "cmd": f"llama-server -m {model}.gguf -c "
                        f"{self.windows[model]}", "proxy": self.upstreams[model].origin if model in self.upstreams
                        else "", "ttl": 0, "name": "", "description": ""}
                       for model, state in sorted(self.states.items())]
        return json_reply({"running": running})

    def _unload_all(self, request: RecordedRequest) -> Reply:
        for model in list(self.states):
            self.stop_upstream(model)
        return text_reply("OK")

    def _log(self, model: str, line: str) -> None:
        with self._changed:
            self.logs[model].append(line)
            self._changed.notify_all()

    def _ensure_started(self, model: str) -> Reply | None:
        """Start ``model``'s upstream unless it runs, and wait until it is ready (None), or the
        error reply of a start that failed."""
        with self._changed:
            state = self.states.get(model)
            if state is None:
                self.states[model] = "starting"
                self.starts.append(model)
                starter = True
                others = [other for other in self.states if other != model]
            else:
                starter = False
                while self.states.get(model) == "starting":
                    self._changed.wait(_LOG_POLL)
                    if self.stopping:
                        return self._error(503, "llama-swap is shutting down")
                return None if self.states.get(model) == "ready" else self._start_failed()
        assert starter
        for other in others:  # no groups: the model that ran is swapped out
            self.stop_upstream(other)
        self._log(model, f"srv    load_model: loading model '{model}.gguf'")
        if not self.pause(self.start_seconds):
            return self._error(503, "llama-swap is shutting down")
        if model in self.fail_start:
            self._log(model, "llama_model_load: error loading model: failed to allocate buffer")
            with self._changed:
                self.states.pop(model, None)
                self._changed.notify_all()
            return self._start_failed()
        upstream = LlamaServerEmulator(alias=model, context=self.windows[model], n_ctx_train=self.windows[model])
        upstream.start()
        self._log(model, "main: server is listening on http://127.0.0.1 - starting the main loop")
        with self._changed:
            self.upstreams[model] = upstream
            self.states[model] = "ready"
            self._changed.notify_all()
        return None

    def _start_failed(self) -> Reply:
        if self.version == "v235":  # as the real v235 answered a `cmd` with a bad flag
            return self._error(500, "unspecific error: upstream command exited prematurely")
        return self._error(502, "unable to start process: upstream command exited prematurely")

    def stop_upstream(self, model: str) -> None:
        with self._changed:
            upstream = self.upstreams.pop(model, None)
            self.states.pop(model, None)
            self._changed.notify_all()
        if upstream is not None:
            upstream.stop()

    def stop(self) -> None:
        super().stop()
        for model in list(self.upstreams):
            self.stop_upstream(model)

    # -- proxying ----------------------------------------------------------------------------

    def _proxy(self, model: str, request: RecordedRequest, path: str) -> Reply:
        with self._changed:
            self.arrivals.append((request.path, model, self.states.get(model, "stopped")))
        failed = self._ensure_started(model)
        if failed is not None:
            return failed
        upstream = self.upstreams[model]
        connection = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=30)
        try:
            headers = {"Content-Type": request.header("content-type") or "application/json"}
            connection.request(request.method, path + (f"?{request.query}" if request.query else ""),
                               body=request.raw_body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            return Reply(response.status, body, response.getheader("Content-Type") or "application/json")
        finally:
            connection.close()

    def _inference(self, request: RecordedRequest) -> Reply:
        name = request.body_object().get("model")
        model = self._resolve(name) if isinstance(name, str) else None
        if model is None:
            if self.version == "v235":
                return self._error(404, "no router for requested model")
            return self._error(400, f"could not find suitable handler for {name}")
        return self._proxy(model, request, request.path)

    def _upstream(self, request: RecordedRequest) -> Reply:
        parts = unquote(request.path[len("/upstream/"):]).split("/")
        for cut in range(len(parts), 0, -1):  # the longest prefix naming a model, as FindModelInPath
            model = self._resolve("/".join(parts[:cut]))
            if model is not None:
                rest = "/" + "/".join(parts[cut:])
                if rest == "/":
                    return Reply(301, b"", "text/html")
                return self._proxy(model, request, rest)
        return self._error(404, "model not found")

    def _log_stream(self, request: RecordedRequest) -> Reply:
        model = self._resolve(unquote(request.path[len("/logs/stream/"):]))
        if model is None:
            return self._error(400, "invalid logger. Use 'proxy', 'upstream' or a model's ID")
        with self._changed:
            shown = 0 if "no-history" not in request.query else len(self.logs[model])

        def lines():
            nonlocal shown
            while not self.stopping:
                with self._changed:
                    new = self.logs[model][shown:]
                    shown += len(new)
                    if not new:
                        self._changed.wait(_LOG_POLL)
                for line in new:
                    yield (line + "\n").encode()
                if not new:
                    yield b""  # nothing to send: the handler skips empty chunks

        return Reply(200, content_type="text/plain", chunks=lines())

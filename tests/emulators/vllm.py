"""A vLLM emulator, with sleep mode.

From vLLM's sources and docs: ``/v1/models`` entries are ``owned_by: "vllm"`` with
``max_model_len``; ``GET /health`` is 200 with an empty body. Sleep mode (a server started with
``--enable-sleep-mode``; the routes exist only with ``VLLM_SERVER_DEV_MODE=1``,
vllm/entrypoints/serve/sleep/api_router.py): ``GET /is_sleeping`` → ``{"is_sleeping": bool}``,
``POST /sleep?level=1|2`` and ``POST /wake_up`` → 200 with an empty body (the engine may still be
waking when it answers: the source's FIXME), and while asleep the inference routes answer 503
(docs/source/features/sleep_mode.md: "Model is currently in sleep mode. Please wake it up first
with a POST request to /wake_up", type ``ModelSleepingError``).
"""

from __future__ import annotations

import time

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply
from .wire import PROTOCOLS, PromptCache, answer, missing_field

__all__ = ["SLEEPING_MESSAGE", "VLLMEmulator"]

SLEEPING_MESSAGE = "Model is currently in sleep mode. Please wake it up first with a POST request to /wake_up"


class VLLMEmulator(HTTPEmulator):
    """vLLM serving ``model`` with ``max_model_len``.

    * ``sleep_routes``: the dev-mode sleep routes exist (False: 404 as without VLLM_SERVER_DEV_MODE);
    * ``sleeping``: the engine is asleep; ``wake_seconds``: how long /is_sleeping still says true
      after /wake_up answered.
    """

    server_header = "uvicorn"

    def __init__(self, *, model: str = "Qwen/Qwen3-8B", max_model_len: int = 32768) -> None:
        super().__init__()
        self.model = model
        self.max_model_len = max_model_len
        self.sleep_routes = True
        self.sleeping = False
        # vLLM's automatic prefix caching (on by default in its V1 engine); usage reports it as
        # prompt_tokens_details.cached_tokens. None: a server started without it.
        self.prompt_cache: PromptCache | None = PromptCache()
        self.wake_seconds = 0.0
        self.version = "0.11.0"  # GET /version (vllm/entrypoints/openai/api_server.py show_version)
        self.wake_count = 0
        self._awake_at: float | None = None

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/health"): lambda request: Reply(200, b""),
            ("GET", "/version"): lambda request: json_reply({"version": self.version}),
            ("GET", "/v1/models"): self._models,
            ("GET", "/is_sleeping"): self._is_sleeping,
            ("POST", "/wake_up"): self._wake_up,
            ("POST", "/sleep"): self._sleep,
        }
        for path in PROTOCOLS:
            routes[("POST", path)] = self._answer
        return routes

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        return json_reply({"detail": "Not Found"}, 404)  # FastAPI's own 404

    def _asleep(self) -> bool:
        with self.lock:
            if self._awake_at is not None and time.monotonic() >= self._awake_at:
                self.sleeping, self._awake_at = False, None
            return self.sleeping

    def _models(self, request: RecordedRequest) -> Reply:
        return json_reply({"object": "list", "data": [{
            "id": self.model, "object": "model", "created": int(time.time()), "owned_by": "vllm", "root": self.model,
            "parent": None, "max_model_len": self.max_model_len,
        }]})

    def _is_sleeping(self, request: RecordedRequest) -> Reply:
        if not self.sleep_routes:
            return self.unknown_route_reply(request)
        return json_reply({"is_sleeping": self._asleep()})

    def _wake_up(self, request: RecordedRequest) -> Reply:
        if not self.sleep_routes:
            return self.unknown_route_reply(request)
        with self.lock:
            self.wake_count += 1
            if self.sleeping:
                self._awake_at = time.monotonic() + self.wake_seconds
        return Reply(200, b"")

    def _sleep(self, request: RecordedRequest) -> Reply:
        if not self.sleep_routes:
            return self.unknown_route_reply(request)
        with self.lock:
            self.sleeping, self._awake_at = True, None
        return Reply(200, b"")

    def _answer(self, request: RecordedRequest) -> Reply:
        if self._asleep():
            return json_reply({"error": {"message": SLEEPING_MESSAGE, "type": "ModelSleepingError", "code": 503}}, 503)
        protocol = PROTOCOLS[request.path]
        body = request.body_object()
        missing = missing_field(protocol, body)
        if missing is not None:
            return json_reply({"error": {"message": missing, "type": "BadRequestError", "code": 400}}, 400)
        if body.get("model") != self.model:
            return json_reply({"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                         "type": "NotFoundError", "code": 404}}, 404)
        return answer(protocol, body, self.model, self.prompt_cache)

"""A LiteLLM proxy emulator, from litellm 1.106.12 as the real proxy answered in front of a real
llama-server (see lmprep/providers/litellm.py for the facts; tests/test_litellm_real.py runs the
real one): no database, a master key; `/v1/models` entries `owned_by: "openai"`, `/model/info`
deployments, `/health/readiness`, `/health?model=`, and the agents' routes, each answered by
the model's upstream unless that upstream is down."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from .http_emulator import HTTPEmulator, RecordedRequest, Reply, Route, json_reply, text_reply
from .wire import PROTOCOLS, answer

# What litellm 1.106.12 said of a deployment whose api_base refused the connection (its
# traceback cut here).
CONNECTION_ERROR = ("litellm.InternalServerError: InternalServerError: OpenAIException - Connection error.\n"
                    "stack trace: Traceback (most recent call last):\n  File \"aiohttp/connector.py\"")


@dataclass
class Deployment:
    api_base: str
    max_input_tokens: int | None = None
    supports_function_calling: bool | None = None
    up: bool = True


class LiteLLMEmulator(HTTPEmulator):
    """``deployments``: model_name → Deployment. ``admin``: whether the key sees `api_base` in /health."""

    public_paths = frozenset({"/health/readiness", "/health/liveliness"})

    def __init__(self, *, master_key: str, deployments: dict[str, Deployment], admin: bool = True) -> None:
        super().__init__()
        self.master_key = master_key
        self.deployments = dict(deployments)
        self.admin = admin
        self.version = "1.106.12"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def routes(self) -> dict[tuple[str, str], Route]:
        routes: dict[tuple[str, str], Route] = {
            ("GET", "/health/readiness"): lambda request: json_reply({"status": "healthy", "db": "Not connected"}),
            # The key's details (litellm 1.106.12 answers these and more: cache, callbacks, log level).
            ("GET", "/health/readiness/details"): self._keyed(lambda request: json_reply(
                {"status": "healthy", "db": "Not connected", "cache": None, "litellm_version": self.version})),
            ("GET", "/v1/models"): self._keyed(self._models), ("GET", "/v1/model/info"): self._keyed(self._info),
            ("GET", "/model/info"): self._keyed(self._info), ("GET", "/health"): self._keyed(self._health),
        }
        for path in PROTOCOLS:
            routes[("POST", path)] = self._keyed(self._answer)
        return routes

    def _keyed(self, route: Route) -> Route:
        def checked(request: RecordedRequest) -> Reply:
            given = (request.header("authorization") or "").removeprefix("Bearer ").strip()
            if not given:  # its handler fails importing prisma: a plain 500
                return text_reply("Internal Server Error", 500)
            if given != self.master_key:
                return json_reply({"error": {"message": "No connected db.", "type": "no_db_connection",
                                             "param": None, "code": "400"}}, 400)
            return route(request)
        return checked

    def _models(self, request: RecordedRequest) -> Reply:
        return json_reply({"object": "list", "data": [
            {"id": name, "object": "model", "created": 1677610602, "owned_by": "openai"} for name in self.deployments]})

    def _info(self, request: RecordedRequest) -> Reply:
        return json_reply({"data": [
            {"model_name": name, "litellm_params": {"api_base": d.api_base, "model": "openai/tiny"},
             "model_info": {"id": f"id-{name}", "db_model": False, "max_input_tokens": d.max_input_tokens,
                            "supports_function_calling": d.supports_function_calling}}
            for name, d in self.deployments.items()]})

    def _health(self, request: RecordedRequest) -> Reply:
        name = parse_qs(request.query).get("model", [""])[0]
        deployment = self.deployments.get(name)
        if deployment is None:
            return json_reply({"healthy_endpoints": [], "unhealthy_endpoints": [], "healthy_count": 0,
                               "unhealthy_count": 0}, 503)
        endpoint = {"model": "openai/tiny", "model_id": f"id-{name}"}
        if self.admin:
            endpoint["api_base"] = deployment.api_base
        if deployment.up:
            return json_reply({"healthy_endpoints": [endpoint], "unhealthy_endpoints": [], "healthy_count": 1,
                               "unhealthy_count": 0})
        return json_reply({"healthy_endpoints": [], "unhealthy_endpoints": [{**endpoint, "error": CONNECTION_ERROR}],
                           "healthy_count": 0, "unhealthy_count": 1}, 503)

    def _answer(self, request: RecordedRequest) -> Reply:
        body = request.body_object()
        name = body.get("model")
        deployment = self.deployments.get(name) if isinstance(name, str) else None
        if deployment is None:
            return json_reply({"error": {"message": f"Invalid model name passed in model={name}", "code": "400"}}, 400)
        if not deployment.up:
            return json_reply({"error": {"message": "litellm.InternalServerError: InternalServerError: "
                                         "OpenAIException - Connection error.", "code": "500"}}, 500)
        protocol = PROTOCOLS[request.path]
        reply = answer(protocol, body, name)
        if protocol == "responses" and not body.get("stream"):
            import json

            reply = json_reply({**json.loads(reply.body), "error": None})  # as LiteLLM's answer has it
        return reply

"""LiteLLM's proxy (PyPI `litellm[proxy]`, `litellm --config config.yaml`): a gateway that routes
each `model_name` of its config to one or more upstream deployments (vLLM, llama-server, Ollama,
clouds). lmprep is its client: it downloads and loads nothing, and what "loaded" means is up to
the upstream, so a model is ready when a request through the gateway is answered.

Facts from litellm 1.106.12 (litellm/proxy/proxy_server.py, proxy/health_endpoints/
_health_endpoints.py), checked against the real proxy in front of a real llama-server
(tests/test_litellm_real.py):
- OpenAI routes with and without /v1 (`/v1/models`, `/v1/chat/completions`, `/v1/responses`) and
  Anthropic's `/v1/messages`; every entry of `/v1/models` is `owned_by: "openai"`, whatever the
  upstream, so nothing there says "LiteLLM".
- `GET /health/readiness` (no key) answers `{"status": "healthy", "db": "Not connected"}` (503
  while shutting down or with its database down); `GET /health/liveliness` `"I'm alive!"`.
- `GET /model/info` (also under /v1) lists each deployment: `model_name`, `litellm_params`
  (`model`, `api_base`) and `model_info` (`max_input_tokens`, `supports_function_calling`, null
  where neither LiteLLM's price map nor the config's `model_info` says).
- `GET /health?model=NAME` sends each deployment of NAME a small chat request ("What's 1 + 1?")
  and answers `healthy_endpoints` / `unhealthy_endpoints` (each with `api_base` for an admin key,
  the `error` LiteLLM got, its traceback appended), 503 when none is healthy.
- Without a database it knows only its master key: no key is HTTP 500 (plain "Internal Server
  Error"; its handler fails importing prisma), any other key HTTP 400 "No connected db.",
  `type: "no_db_connection"`; never 401. With a database, a bad key is 401.
- A non-streamed `/v1/responses` answer carries `"error": null` (http.json_error_message).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from ..errors import AuthFailedError, LmprepError, UnreachableError, WarmupFailedError
from ..hosts import strip_v1
from ..http import error_text, json_error_message
from ..termtext import one_line
from .base import IDENTIFY_READ_TIMEOUT, UNKNOWN, WARM_UP_READ_TIMEOUT, ModelState, positive_int
from .openai_compat import OpenAICompatible

# What LiteLLM's OpenAI client (openai SDK, aiohttp) says when the upstream does not answer.
_CONNECTION_WORDS = re.compile(
    r"connection error|cannot connect to host|connect call failed|connection refused|"
    r"name or service not known|nodename nor servname|timed out|timeout", re.IGNORECASE)


class LiteLLM(OpenAICompatible):
    kind = "litellm"
    # The router finds a request's model by a `model_name` of its config, exactly
    # (router.py `get_model_list`; wildcards such as `openai/*` it lists as written).
    name_rule = "routes a model only by a model_name it lists, exactly"
    # Its /v1/models says `owned_by: "openai"` for every model: its readiness route says who it is.
    identity_route = True

    @property
    def root(self) -> str:
        return strip_v1(self.base_url)

    def unreachable_hint(self) -> str:
        return ("Start it with `litellm --config config.yaml --port 4000` (`pip install 'litellm[proxy]'`), or "
                "check the base URL.")

    def missing_hint(self, model: str) -> str:
        return (f"Choose one it routes with -m, or add {model!r} to the `model_list` of LiteLLM's config.yaml "
                "(a `model_name` with the `litellm_params` of its upstream) and restart it.")

    def context_fix_hint(self, needed: int) -> str:
        return (f"Give the upstream a window of at least {needed} tokens (llama-server -c, vLLM --max-model-len), "
                f"and say so in LiteLLM's config.yaml: `model_info: {{max_input_tokens: {needed}}}` for this model.")

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        if problem == "route":
            return (f"This LiteLLM proxy does not serve {protocol.label}: upgrade it (1.106.12 serves "
                    "/v1/responses, /v1/chat/completions and /v1/messages).")
        if problem == "tools":
            return ("The model behind LiteLLM refused function tools: give it an upstream that takes them (llama-server "
                    "with --jinja, vLLM with --enable-auto-tool-choice).")
        return super().unsupported_hint(protocol, problem, said)

    # -- identity and keys -------------------------------------------------------------------

    def identify(self) -> bool:
        """Its public readiness probe: `{"status", "db"}` (503 too: a proxy that is not ready is one)."""
        try:
            response = self.http.request("GET", f"{self.root}/health/readiness", read_timeout=IDENTIFY_READ_TIMEOUT,
                                         retry=False, doing=f"looking for {self.label}")
            body = response.json() if response.status_code in (200, 503) else None
        except (LmprepError, ValueError, RecursionError):
            return False
        return isinstance(body, dict) and isinstance(body.get("status"), str) and "db" in body

    def identity_evidence(self) -> str:
        return "GET /health/readiness did not answer as LiteLLM's does (`status` and `db`)"

    def server_version(self) -> str | None:
        """`litellm_version` of GET /health/readiness/details, which wants a key (the master key
        without a database: 1.106.12 answers 500 without one, 400 "No connected db." for another).
        The public /health/readiness has it only with `allow_public_health_readiness_details:
        true` in general_settings: by default it is `{"status", "db"}` alone (1.106.12,
        proxy/health_endpoints/_health_endpoints.py, seen against the real proxy). The details
        route first, so that a proxy that has turned them public is asked once more at most."""
        return (self._version_field(f"{self.root}/health/readiness/details", "litellm_version")
                or self._version_field(f"{self.root}/health/readiness", "litellm_version"))

    def _openai_model_items_from(self, response, doing: str) -> list[dict]:
        self._check_key(response)
        return super()._openai_model_items_from(response, doing)

    def _check_key(self, response) -> None:
        """LiteLLM without a database refuses keys with 500 and 400, not 401 (see the module doc)."""
        variable = self.settings.api_key_env.value if self.settings.api_key_env else None
        if response.status_code == 500 and not self.settings.token:
            named = f"${variable} is not set" if variable else "no key was given"
            raise AuthFailedError(
                f"{self.label} at {self.base_url} answered HTTP 500 ({error_text(response)}) to a request without a "
                f"key ({named}): LiteLLM answers so when it wants a key and has no database.",
                self.auth_hint(),
            )
        if response.status_code == 400 and "no connected db" in error_text(response).lower():
            raise AuthFailedError(
                f"{self.label} at {self.base_url} refused the key in ${variable} (HTTP 400: No connected db.): without "
                "a database it knows its master key only, and this key is not it.",
                "Use the proxy's master key (`general_settings.master_key`), or connect its database "
                "(`DATABASE_URL`) so that its virtual keys are known.",
            )

    # -- the routed model ---------------------------------------------------------------------

    def _deployments(self, model: str) -> list[dict] | None:
        """The /model/info entries routed as ``model``; None where the proxy does not say."""
        try:
            response = self.http.request("GET", f"{self.base_url}/model/info", doing=f"reading {model}'s model info")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):
            return None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            return None
        return [entry for entry in data if isinstance(entry, dict) and entry.get("model_name") == model]

    def model_state(self, model: str) -> ModelState:
        # Loaded or not is the upstream's business: LiteLLM does not know, so neither does lmprep
        # before a request has gone through. The window is the smallest the router may pick.
        deployments = self._deployments(model)
        if not deployments:
            return UNKNOWN
        windows = [positive_int(_info(entry).get("max_input_tokens")) for entry in deployments]
        return ModelState(None, None if None in windows else min(windows))  # type: ignore[type-var]

    def tool_support(self, model: str) -> bool | None:
        said = [_info(entry).get("supports_function_calling") for entry in self._deployments(model) or ()]
        return False if False in said else (True if said and all(value is True for value in said) else None)

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        try:
            self._openai_warm_up(model, read_timeout)
        except WarmupFailedError as exc:
            # The gateway answered; its upstream may not have: LiteLLM's health check says which one.
            raise self._upstream_failure(model, read_timeout) or exc

    def _upstream_failure(self, model: str, read_timeout: float | None) -> LmprepError | None:
        """Why ``model``'s upstream failed, from GET /health?model= (None where it does not say)."""
        try:
            response = self.http.request("GET", f"{self.root}/health?model={quote(model, safe='')}",
                                         read_timeout=read_timeout, doing=f"asking LiteLLM for {model}'s health")
            body = response.json()
        except (LmprepError, ValueError, RecursionError):
            return None
        unhealthy = body.get("unhealthy_endpoints") if isinstance(body, dict) else None
        if not isinstance(unhealthy, list) or not unhealthy or body.get("healthy_count"):
            return None
        endpoint = unhealthy[0] if isinstance(unhealthy[0], dict) else {}
        upstream = _text(endpoint.get("api_base")) or self._api_base(model)
        where = f"{upstream}" if upstream else "its upstream (LiteLLM shows its api_base to admin keys only)"
        said = _first_line(endpoint.get("error")) or "no reason given"
        if _CONNECTION_WORDS.search(said):
            return UnreachableError(
                f"{self.label} at {self.base_url} routes {model!r} to {where}, which is not answering ({said}).",
                f"Start the server at {upstream or 'its api_base'} (LiteLLM connects to it from the gateway's "
                f"machine), or fix `api_base` for {model!r} in LiteLLM's config.yaml.",
            )
        return WarmupFailedError(
            f"{self.label} at {self.base_url} routes {model!r} to {where}, which failed LiteLLM's health check "
            f"({said}).",
            "Look at the log of that server and of the LiteLLM proxy for why.",
        )

    def _api_base(self, model: str) -> str | None:
        for entry in self._deployments(model) or ():
            params = entry.get("litellm_params")
            if isinstance(params, dict) and _text(params.get("api_base")):
                return _text(params.get("api_base"))
        return None


def _info(entry: dict) -> dict:
    info = entry.get("model_info")
    return info if isinstance(info, dict) else {}


def _text(value: Any) -> str | None:
    """An address from the proxy, for a message: one clean line, any password in it masked."""
    from ..redact import redact

    return one_line(redact(value), 200) if isinstance(value, str) and value.strip() else None


def _first_line(error: Any) -> str | None:
    """LiteLLM's error for an endpoint, without the traceback it appends."""
    if not isinstance(error, str):
        return None
    return json_error_message({"error": error.split("\nstack trace:", 1)[0].split("\n", 1)[0]})


__all__ = ["LiteLLM"]

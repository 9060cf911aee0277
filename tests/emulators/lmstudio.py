"""An LM Studio server emulator (see the LM Studio section of providers.md).

Quirks reproduced: unknown routes answer **200** with an ``error`` key; ``/v1/models`` lists
downloaded models with JIT loading on and only loaded ones with JIT off; warm-up requests load
the model (slowly, or failing) and take an idle ``ttl``; bearer-token auth; LM Studio < 0.3.29
without ``/v1/responses``, < 0.4.1 without ``/v1/messages``; a load of a loaded model adds a
second instance (what LM Studio does, lmstudio.ai docs and users' reports). Not documented,
so assumed: a body without its required field is refused with HTTP 400, as llama-server does.
The routes under ``/__emulator/lms/`` serve the fake ``lms`` CLI (see :mod:`.fake_lms`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .http_emulator import (
    HTTPEmulator,
    RecordedRequest,
    Reply,
    Route,
    json_reply,
    openai_chat_completion,
)
from .wire import PROTOCOLS, answer, missing_field

__all__ = ["DEFAULT_CONTEXT_LENGTH", "DEFAULT_SIZE_BYTES", "LMStudioEmulator", "NO_MODELS_LOADED"]

#: Context length a model gets when loaded without an explicit one (JIT or ``lms load`` without ``-c``).
DEFAULT_CONTEXT_LENGTH = 4096
#: Size reported for models whose catalog entry has no ``size_bytes``.
DEFAULT_SIZE_BYTES = 2_400_000_000
NO_MODELS_LOADED = "No models loaded. Please load a model in the developer page or use the 'lms load' command."

_CATALOG_DEFAULTS: dict[str, Any] = {"steps": 5, "step_seconds": 0.0, "error": None, "size_bytes": DEFAULT_SIZE_BYTES}


def _openai_error(status: int, message: str, *, code: str | None, param: str | None = "model") -> Reply:
    return json_reply(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, status
    )


def _load_failed(message: str) -> Reply:
    return json_reply({"error": {"message": message, "type": "server_error", "param": None, "code": None}}, 500)


def _invalid_model(model: str) -> Reply:
    return _openai_error(
        404, f'Invalid model identifier "{model}". Please specify a valid downloaded model.', code="model_not_found"
    )


class LMStudioEmulator(HTTPEmulator):
    """LM Studio on ``127.0.0.1:<free port>``.

    Config attributes besides those of :class:`HTTPEmulator` (``loaded``, ``load_seconds``,
    ``fail_load``, ``max_context``, ``token``, ``hang``):

    * ``downloaded``: model keys on disk;
    * ``jit``: just-in-time loading (default True);
    * ``catalog``: model → ``{"steps", "step_seconds", "error", "size_bytes"}`` (all optional) that
      ``lms get`` can download;
    * ``responses_supported``: False emulates LM Studio < 0.3.29 (no ``/v1/responses``);
    * ``messages_supported``: False emulates LM Studio < 0.4.1 (no Anthropic ``/v1/messages``);
    * ``models_body_override``: bytes served by ``GET /v1/models`` instead of the listing
      (with ``models_body_content_type``), to emulate a foreign server or proxy page;
    * ``rest_download``: False emulates LM Studio < 0.4, without ``POST /api/v1/models/download``.

    The REST download (lmstudio.ai/docs/developer/rest/download and .../download-status): ``POST
    /api/v1/models/download {"model"}`` answers ``{"status": "already_downloaded"}`` for a model on
    disk, else a job ``{"job_id", "status": "downloading", "total_size_bytes", "started_at"}``; each
    ``GET /api/v1/models/download/status/{job_id}`` moves the job one catalog step on
    (``downloaded_bytes``, ``bytes_per_second``: the entry's, else 50 MB/s, ``estimated_completion``) until ``completed`` (or
    ``failed`` halfway for a catalog entry with an ``error``). Not documented, so assumed: a model
    the catalog lacks is refused with 404 and LM Studio's ``model_not_found`` error body.

    State: ``download_count[model]`` counts completed ``lms get`` downloads; ``ttl[model]`` is the
    idle TTL of a just-in-time load that gave one; ``instances[model]`` counts loaded instances.
    """

    server_header = "lmstudio-emulator"
    public_paths = frozenset({"/lmstudio-greeting"})

    def __init__(
        self,
        *,
        downloaded: Iterable[str] = (),
        loaded: Mapping[str, int] | None = None,
        jit: bool = True,
        token: str | None = None,
        load_seconds: float = 0.0,
        fail_load: Mapping[str, str] | None = None,
        catalog: Mapping[str, Mapping[str, Any]] | None = None,
        responses_supported: bool = True,
        max_context: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(
            loaded=loaded, load_seconds=load_seconds, fail_load=fail_load, max_context=max_context, token=token
        )
        self.downloaded: list[str] = list(downloaded)
        self.jit = jit
        self.catalog: dict[str, dict[str, Any]] = {model: dict(entry) for model, entry in (catalog or {}).items()}
        self.responses_supported = responses_supported
        self.messages_supported = True
        self.ttl: dict[str, int] = {}
        self.instances: Counter[str] = Counter()
        self.models_body_override: bytes | None = None
        self.models_body_content_type = "text/html; charset=utf-8"
        self.download_count: Counter[str] = Counter()
        self.rest_download = True
        self.jobs: dict[str, dict[str, Any]] = {}
        #: What `POST /api/v0/chat/completions` reports as `stats` (seconds, tokens per second).
        self.v0_stats: dict[str, Any] = {"tokens_per_second": 40.0, "time_to_first_token": 0.5,
                                         "generation_time": 0.1, "stop_reason": "maxPredictedTokensReached"}

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", "/lmstudio-greeting"): lambda request: json_reply({"lmstudio": True}),
            ("GET", "/v1/models"): self._openai_models,
            ("GET", "/api/v0/models"): self._v0_models,
            ("GET", "/api/v1/models"): self._v1_models,
            ("POST", "/api/v1/models/load"): self._load,
            ("POST", "/api/v1/models/unload"): self._unload,
            ("POST", "/api/v1/models/download"): self._download,
            ("POST", "/v1/responses"): self._answer,
            ("POST", "/v1/chat/completions"): self._answer,
            ("POST", "/v1/messages"): self._answer,
            ("POST", "/api/v0/chat/completions"): self._v0_chat,
        }

    def admin_routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", "/__emulator/lms/get"): self._lms_get_plan,
            ("POST", "/__emulator/lms/downloaded"): self._lms_downloaded,
            ("GET", "/__emulator/lms/state"): self._lms_state,
            # The real lms talks to LM Studio over its own channel: no token needed.
            ("POST", "/__emulator/lms/load"): self._load,
        }

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        prefix = "/api/v1/models/download/status/"
        if self.rest_download and request.method == "GET" and request.path.startswith(prefix):
            return self._download_status(request.path[len(prefix):])
        # The quirk clients must handle: status 200, failure only visible in the body.
        return json_reply({"error": f"Unexpected endpoint or method. ({request.method} {request.path})"})

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        provided = request.header("authorization")
        message = (
            "An LM Studio API token is required to make requests to this server."
            if provided is None
            else "The provided LM Studio API token is invalid."
        )
        return json_reply({"error": {"type": "invalid_request", "code": "invalid_api_key", "message": message}}, 401)

    # ------------------------------------------------------------------ model state

    def _all_models(self) -> list[str]:
        with self.lock:
            return self.downloaded + [model for model in self.loaded if model not in self.downloaded]

    def _listed_models(self) -> list[str]:
        """What the OpenAI and v0 listings show: everything usable with JIT on, only loaded models with JIT off."""
        models = self._all_models()
        with self.lock:
            return models if self.jit else [model for model in models if model in self.loaded]

    def _is_known(self, model: str) -> bool:
        with self.lock:
            return model in self.downloaded or model in self.loaded

    def _default_context(self, model: str) -> int:
        return min(DEFAULT_CONTEXT_LENGTH, self.max_context_for(model))

    def _size_bytes(self, model: str) -> int:
        with self.lock:
            return int(self.catalog.get(model, {}).get("size_bytes", DEFAULT_SIZE_BYTES))

    # ------------------------------------------------------------------ listings

    def _openai_models(self, request: RecordedRequest) -> Reply:
        if self.models_body_override is not None:
            return Reply(200, self.models_body_override, self.models_body_content_type)
        data = [{"id": model, "object": "model", "owned_by": "organization_owner"} for model in self._listed_models()]
        return json_reply({"data": data, "object": "list"})

    def _v0_models(self, request: RecordedRequest) -> Reply:
        data = []
        for model in self._listed_models():
            entry: dict[str, Any] = {
                "id": model,
                "object": "model",
                "type": "llm",
                "publisher": model.split("/", 1)[0] if "/" in model else "",
                "arch": "llama",
                "compatibility_type": "gguf",
                "quantization": "Q4_K_M",
                "state": "not-loaded",
                "max_context_length": self.max_context_for(model),
            }
            context_length = self.loaded_context(model)
            if context_length is not None:
                entry.update(state="loaded", loaded_context_length=context_length)
            data.append(entry)
        return json_reply({"data": data, "object": "list"})

    def _v1_models(self, request: RecordedRequest) -> Reply:
        models = []
        for model in self._all_models():  # the native v1 API lists everything downloaded, JIT or not
            context_length = self.loaded_context(model)
            with self.lock:
                count = 0 if context_length is None else max(1, self.instances[model])
            instances = [{"id": model if n == 1 else f"{model}:{n}", "config": {"context_length": context_length}}
                         for n in range(1, count + 1)]
            models.append(
                {
                    "type": "llm",
                    "publisher": model.split("/", 1)[0] if "/" in model else "",
                    "key": model,
                    "display_name": model.rsplit("/", 1)[-1],
                    "architecture": "llama",
                    "format": "gguf",
                    "quantization": {"name": "Q4_K_M", "bits_per_weight": 4},
                    "size_bytes": self._size_bytes(model),
                    "loaded_instances": instances,
                    "max_context_length": self.max_context_for(model),
                    "variants": [model],
                    "selected_variant": model,
                    "capabilities": {"vision": False, "trained_for_tool_use": True},
                }
            )
        return json_reply({"models": models})

    # ------------------------------------------------------------------ load / unload

    def _load(self, request: RecordedRequest) -> Reply:
        """``POST /api/v1/models/load {"model", "context_length"?}``: always (re)loads."""
        body = request.body_object()
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return _openai_error(400, "'model' is required", code="missing_required_parameter")
        if not self._is_known(model):
            return _invalid_model(model)
        maximum = self.max_context_for(model)
        context_length = body.get("context_length", self._default_context(model))
        if not isinstance(context_length, int) or isinstance(context_length, bool) or context_length <= 0:
            return _openai_error(400, "'context_length' must be a positive integer", code=None, param="context_length")
        if context_length > maximum:
            message = f"Requested context length {context_length} exceeds the maximum of {maximum} for {model}"
            return _openai_error(400, message, code=None, param="context_length")
        error = self.simulate_load(model, context_length)
        if error is not None:
            return _load_failed(error)
        with self.lock:
            self.instances[model] += 1
            instance_id = model if self.instances[model] == 1 else f"{model}:{self.instances[model]}"
        return json_reply(
            {
                "type": "llm",
                "instance_id": instance_id,
                "load_time_seconds": self.load_seconds,
                "status": "loaded",
                "load_config": {"context_length": context_length},
            }
        )

    def _unload(self, request: RecordedRequest) -> Reply:
        instance_id = request.body_object().get("instance_id")
        model = re.sub(r":\d+$", "", instance_id) if isinstance(instance_id, str) else None
        if model is None or self.loaded_context(model) is None:
            return _openai_error(404, f'No loaded model instance "{instance_id}"', code=None, param="instance_id")
        with self.lock:
            self.instances[model] = max(0, self.instances[model] - 1)
            if not self.instances[model]:
                self.unload(model)
        return json_reply({"instance_id": instance_id})

    # ------------------------------------------------------------------ REST download (0.4+)

    def _download(self, request: RecordedRequest) -> Reply:
        if not self.rest_download:
            return self.unknown_route_reply(request)
        model = request.body_object().get("model")
        if not isinstance(model, str) or not model:
            return _openai_error(400, "'model' is required", code="missing_required_parameter")
        with self.lock:
            if model in self.downloaded:
                return json_reply({"status": "already_downloaded"})
            entry = self.catalog.get(model)
            if entry is None:
                return _invalid_model(model)
            job = {"job_id": f"job_{len(self.jobs) + 1:010x}", "status": "downloading", "model": model,
                   "total_size_bytes": int(entry.get("size_bytes", DEFAULT_SIZE_BYTES)), "step": 0,
                   "steps": int(entry.get("steps", 5)), "error": entry.get("error"),
                   "bytes_per_second": entry.get("bytes_per_second", 50_000_000),
                   "started_at": "2026-01-01T00:00:00.000Z"}
            self.jobs[job["job_id"]] = job
        return json_reply({key: job[key] for key in ("job_id", "status", "total_size_bytes", "started_at")})

    def _download_status(self, job_id: str) -> Reply:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _openai_error(404, f'No download job "{job_id}"', code=None, param="job_id")
            if job["status"] == "downloading":
                job["step"] += 1
                if job["error"] is not None and job["step"] * 2 >= job["steps"]:
                    job["status"] = "failed"
                elif job["step"] >= job["steps"]:
                    job["status"] = "completed"
                    if job["model"] not in self.downloaded:
                        self.downloaded.append(job["model"])
                    self.download_count[job["model"]] += 1
            total = job["total_size_bytes"]
            done = total if job["status"] == "completed" else total * job["step"] // max(1, job["steps"])
            reply = {"job_id": job_id, "status": job["status"], "total_size_bytes": total, "downloaded_bytes": done,
                     "started_at": job["started_at"]}
            if job["status"] == "downloading":
                reply.update(bytes_per_second=job["bytes_per_second"], estimated_completion="2026-01-01T00:01:00.000Z")
            if job["status"] == "completed":
                reply["completed_at"] = "2026-01-01T00:01:00.000Z"
        return json_reply(reply)

    # ------------------------------------------------------------------ inference (warm-up)

    def _answer(self, request: RecordedRequest) -> Reply:
        """Loads the requested model first if needed (JIT, with the request's ``ttl``), then
        answers with one token, streamed when asked."""
        protocol = PROTOCOLS[request.path]
        if (protocol == "responses" and not self.responses_supported) or (
                protocol == "messages" and not self.messages_supported):
            return self.unknown_route_reply(request)
        body = request.body_object()
        missing = missing_field(protocol, body)
        if missing is not None:
            return _openai_error(400, missing, code=None, param=None)
        model = self._serving(body)
        return model if isinstance(model, Reply) else answer(protocol, body, model)

    def _v0_chat(self, request: RecordedRequest) -> Reply:
        """LM Studio's native chat route (0.3.6+; lmstudio-ai/docs 1_developer/2_rest/endpoints.mdx,
        "REST API v0", whose example answer has these fields): the OpenAI answer, not streamed, plus `stats` with `tokens_per_second`, `time_to_first_token`,
        `generation_time` (seconds) and `stop_reason`, and `model_info`/`runtime`."""
        body = request.body_object()
        missing = missing_field("chat", body)
        if missing is not None:
            return _openai_error(400, missing, code=None, param=None)
        model = self._serving(body)
        if isinstance(model, Reply):
            return model
        chars = sum(len(str(message.get("content", ""))) for message in body["messages"] if isinstance(message, dict))
        reply = openai_chat_completion(model)
        reply["usage"] = {"prompt_tokens": max(chars // 4, 1), "completion_tokens": 1,
                          "total_tokens": max(chars // 4, 1) + 1}
        reply["stats"] = dict(self.v0_stats)
        reply["model_info"] = {"arch": "qwen3", "quant": "Q4_K_M", "format": "gguf",
                               "context_length": self.loaded_context(model)}
        reply["runtime"] = {"name": "llama.cpp-linux-x86_64-avx2", "version": "1.50.0", "supported_formats": ["gguf"]}
        return json_reply(reply)

    def _serving(self, body: dict[str, Any]) -> str | Reply:
        """The model that answers ``body`` (loaded first if needed), or the error LM Studio gives."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            with self.lock:
                loaded = list(self.loaded)
            if not loaded:
                return _openai_error(400, NO_MODELS_LOADED, code=None)
            model = loaded[0]  # like LM Studio: no model named → whatever is loaded answers
        if not self._is_known(model):
            return _invalid_model(model)
        if self.loaded_context(model) is None:
            if not self.jit:
                return _openai_error(400, NO_MODELS_LOADED, code=None)
            error = self.simulate_load(model, self._default_context(model))
            if error is not None:
                return _load_failed(error)
            with self.lock:
                self.instances[model] += 1
                if isinstance(body.get("ttl"), int):
                    self.ttl[model] = body["ttl"]
        return model

    # ------------------------------------------------------------------ admin routes for the fake lms

    def _lms_get_plan(self, request: RecordedRequest) -> Reply:
        """What ``lms get <model>`` would do: ``already`` / ``unknown`` / ``download`` (with its steps)."""
        model = str(request.body_object().get("model", ""))
        with self.lock:
            if model in self.downloaded:
                return json_reply({"status": "already", "model": model, "steps": 0, "step_seconds": 0.0, "error": None})
            entry = self.catalog.get(model)
        if entry is None:
            return json_reply({"status": "unknown", "model": model, "steps": 0, "step_seconds": 0.0, "error": None})
        unknown_keys = set(entry) - set(_CATALOG_DEFAULTS)
        if unknown_keys:
            raise ValueError(f"catalog entry for {model!r} has unknown keys {sorted(unknown_keys)}")
        return json_reply({"status": "download", "model": model, **_CATALOG_DEFAULTS, **entry})

    def _lms_downloaded(self, request: RecordedRequest) -> Reply:
        model = str(request.body_object().get("model", ""))
        with self.lock:
            if model not in self.downloaded:
                self.downloaded.append(model)
            self.download_count[model] += 1
        return json_reply({"ok": True})

    def _lms_state(self, request: RecordedRequest) -> Reply:
        models = [
            {
                "key": model,
                "size_bytes": self._size_bytes(model),
                "max_context_length": self.max_context_for(model),
                "loaded_context_length": self.loaded_context(model),
            }
            for model in self._all_models()
        ]
        return json_reply({"port": self.port, "models": models})

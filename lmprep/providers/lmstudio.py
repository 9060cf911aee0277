"""LM Studio: OpenAI-compatible API; downloads through `lms get` on this machine, else its REST API."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..config import FOREVER
from ..errors import DownloadFailedError, LmprepError, WarmupFailedError
from ..events import Notice, Step, Transfer
from ..hosts import is_loopback_name, is_loopback_url, origin_of
from ..http import error_text, json_error_message
from ..termtext import one_word
from .base import (
    IDENTIFY_READ_TIMEOUT,
    UNKNOWN,
    WARM_UP_READ_TIMEOUT,
    ModelState,
    Provider,
    count,
    error_code,
    json_object,
    positive_int,
    rate,
    unknown_route,
)

if TYPE_CHECKING:
    from ..starting import StartPlan, StartRequest

#: How often a REST download's status is read.
DOWNLOAD_POLL_INTERVAL = 0.5


class LMStudio(Provider):
    kind = "lmstudio"
    # No server_version: LM Studio does not say its own. Its REST API documents no version route
    # (lmstudio-ai/docs 1_developer/2_rest at c6854fb: only a model's `runtime.version`, the
    # engine's), /lmstudio-greeting says `{"lmstudio": true}`, and `lms version` prints the CLI's
    # commit hash, not the app's version (lmstudio-ai/lms src/subcommands/version.ts at 07b7252).

    def unreachable_hint(self) -> str:
        return "Start it with `lms server start`, or install it from https://lmstudio.ai/download."

    @classmethod
    def start_plan(cls, request: StartRequest) -> StartPlan | None:
        """`lms server start --port P` with the `lms` lmprep finds (LMPREP_LMS, `lms_path`, PATH,
        LM Studio's home folders: lmprep/lms.py's rules); None without one.

        What `lms` does (lmstudio-ai/lms, src/subcommands/server.ts and src/createClient.ts at
        07b7252, 2026-08): `server start` first connects to LM Studio's service through
        createClient, which starts it when it is not running: `findOrStartLlmster` (the headless
        llmster daemon) since "Unify daemon discovery" (#378, 2025-11-27), before that
        `wakeUpService`, which spawned the app with `--run-as-service`, detached, and polled up to
        60 s. So no version needs `lms daemon up` first (it only runs that same createClient, and
        exists only since #385, 2025-11-29: an older `lms` would refuse it). It then asks the
        service to open the HTTP server on `--port` (`-p`, since the first server.ts, 2024-04;
        without it, the port of the last start) and `--bind ADDR` (#361, 2025-10-30; else
        $LMS_SERVER_HOST, else 127.0.0.1), checks GET http://{bind}:{port}/lmstudio-greeting up to
        5 times a second apart, and exits: 0 once it answers ("Success! Server is now running on
        port P"), 1 if not. The service keeps running and serving after `lms` has exited (so the
        runner takes exit status 0 with the server answering as a start).
        """
        from ..config import Sourced
        from ..lms import find_lms
        from ..starting import StartPlan

        if not request.base_url.startswith("http://"):
            return None  # LM Studio's server speaks plain http
        configured = None
        if request.environ.get("LMPREP_LMS"):
            configured = Sourced(request.environ["LMPREP_LMS"], "LMPREP_LMS")
        elif isinstance(request.options.get("lms_path"), str) and request.options["lms_path"]:
            configured = Sourced(request.options["lms_path"], "`lms_path` in the config file")
        home = request.environ.get("HOME")
        try:
            lms = find_lms(configured, request.environ, Path(home) if home else None, which=request.which)
        except DownloadFailedError as exc:
            # A path the user gave that is not `lms` is theirs to fix; no `lms` at all: nothing to start.
            return StartPlan((), hint=f"{exc.message} {exc.hint}") if configured is not None else None
        host = request.host.strip("[]")
        if ":" in host:
            # lms checks its server at `http://{bind}:{port}/` with the address unbracketed, which
            # is no URL for an IPv6 address: `lms server start --bind ::1` always ends "Failed to
            # verify the server is running" (exit 1).
            return StartPlan((), hint=(
                f"`lms server start` serves IPv4 addresses only: use http://127.0.0.1:{request.port}/v1 (or "
                f"localhost) as the base URL, or start it yourself with `lms server start --port {request.port}`."))
        argv = [str(lms), "server", "start", "--port", str(request.port)]
        if host != "127.0.0.1" and not is_loopback_name(host):
            # localhost is 127.0.0.1, lms's own default: no --bind, which lms before 2025-10-30 lacks.
            argv += ["--bind", host]
        # `lms server stop` stops the HTTP server of the last start (server.ts): what undoes a
        # start cut short. The service stays, as every `lms` command leaves it (`lms ls` too).
        return StartPlan(tuple(argv), stop=(str(lms), "server", "stop"))

    def missing_hint(self, model: str) -> str:
        return (
            "With JIT loading off, LM Studio lists only loaded models: turn JIT loading on in its developer "
            f"settings, or load the model with `lms load {model}`."
        )

    identity_route = True  # its listing may be empty (JIT loading off): the greeting says who it is
    stop_hint = "`lms server stop`"  # the lms CLI's own

    def identity_evidence(self) -> str:
        return f"GET /lmstudio-greeting did not answer as LM Studio's does, and {self.owners_evidence()}"

    def identify(self) -> bool:
        try:
            response = self.http.request(
                "GET", f"{origin_of(self.base_url)}/lmstudio-greeting",
                read_timeout=IDENTIFY_READ_TIMEOUT, retry=False, doing="looking for LM Studio",
            )
            return response.status_code == 200 and response.json().get("lmstudio") is True
        except (LmprepError, ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested too deeply
            return False

    def list_models(self) -> list[str]:
        return self._openai_model_ids()

    def download(self, model: str) -> None:
        """`lms get --yes` for a server on this machine when `lms` is found (what users and Codex
        expect); otherwise LM Studio's REST download (0.4+). The local `lms` never acts for a
        server on another machine: it would download to this one."""
        from ..lms import find_lms, lms_get  # only a download needs subprocess machinery

        missing_lms = None
        if is_loopback_url(self.base_url):
            try:
                lms = find_lms(self.settings.lms_path)
            except DownloadFailedError as exc:
                if self.settings.lms_path is not None:
                    raise  # a path the user gave that is not `lms`: say so rather than guess
                missing_lms = exc
            else:
                lms_get(lms, model, report=self.report, deadline=self.deadline)
                return
        self._rest_download(model, missing_lms)

    def _rest_download(self, model: str, missing_lms: DownloadFailedError | None) -> None:
        """POST /api/v1/models/download, then GET /api/v1/models/download/status/{job_id} until
        it is completed (lmstudio.ai/docs/developer/rest/download and .../download-status)."""
        origin = origin_of(self.base_url)
        self.report(Step(f"Downloading {model} through LM Studio's REST API (POST /api/v1/models/download)"))
        response = self.http.request("POST", f"{origin}/api/v1/models/download", json_body={"model": model},
                                     doing=f"starting the download of {model}", timeout_error=DownloadFailedError)
        body = json_object(response.content)
        if unknown_route(response.status_code, body, error_text(response)):
            where = ("`lms` was not found on this machine" if missing_lms is not None
                     else "the `lms` on this machine cannot download to another machine")
            raise DownloadFailedError(
                f"LM Studio at {self.base_url} has no download route (POST /api/v1/models/download, LM Studio 0.4 "
                f"and later), and {where}.",
                (missing_lms.hint + " Or update LM Studio to 0.4 or later.") if missing_lms is not None else
                f"Update LM Studio on that machine to 0.4 or later, or run `lms get {model}` there.",
            )
        job = self._check_job(model, response, body)
        while job.get("status") not in ("completed", "already_downloaded"):
            job_id = job.get("job_id")
            if not isinstance(job_id, str) or not job_id:
                raise DownloadFailedError(f"LM Studio started downloading {model!r} but gave no job id to follow.",
                                          "Watch the download in LM Studio, then run lmprep again.")
            job = self._follow(model, job_id)
        if job.get("status") == "already_downloaded":
            self.report(Step(f"LM Studio has {model} already"))

    def _check_job(self, model: str, response, body: dict) -> dict:
        message = json_error_message(body)
        status = body.get("status")
        if response.status_code != 200 or message is not None or status == "failed" or not isinstance(status, str):
            said = message or (f"status {one_word(status)}" if status is not None else error_text(response))
            raise DownloadFailedError(
                f"LM Studio could not download {model!r} (HTTP {response.status_code}: {said}).",
                "Check the model id (owner/name, e.g. openai/gpt-oss-20b, or a Hugging Face link) and the "
                "network of the machine LM Studio runs on, then run lmprep again.",
            )
        return body

    def _follow(self, model: str, job_id: str) -> dict:
        """Poll the job until it is no longer downloading; progress as Transfer events."""
        url = f"{origin_of(self.base_url)}/api/v1/models/download/status/{quote(job_id, safe='')}"
        doing = f"downloading {model}"
        progress_at, last_bytes = time.monotonic(), -1
        while True:
            response = self.http.request("GET", url, doing=doing, timeout_error=DownloadFailedError)
            job = self._check_job(model, response, json_object(response.content))
            done, total = count(job.get("downloaded_bytes")), count(job.get("total_size_bytes"))
            if job["status"] == "completed":
                if total:
                    self.report(Transfer(f"Downloading {model}", total, total))
                return job
            if done is not None:
                self.report(Transfer(f"Downloading {model}", min(done, total) if total else done, total,
                                     rate(job.get("bytes_per_second"))))
            now = time.monotonic()
            if (done or 0) != last_bytes:
                progress_at, last_bytes = now, done or 0
            elif now - progress_at > self.stall_timeout:
                paused = " (LM Studio says it is paused)" if job["status"] == "paused" else ""
                raise DownloadFailedError(
                    f"LM Studio's download of {model!r} made no progress for {self.stall_timeout:g} s{paused}.",
                    "Resume it in LM Studio (or check its network), then run lmprep again; on a slow link, raise "
                    "`stall_timeout` in the config file.",
                )
            time.sleep(self.deadline.cap(DOWNLOAD_POLL_INTERVAL, doing))

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        if context_length is None and keep_alive != FOREVER:
            # A just-in-time load by one request, which takes the model's idle TTL in seconds.
            self._openai_warm_up(model, read_timeout, {"ttl": round(keep_alive)} if keep_alive else None)
            return
        # An explicit load: it sets the window, and LM Studio keeps such a model until it is
        # unloaded (no TTL), like `lms load` (lmstudio.ai/docs: "Idle TTL and Auto-Evict").
        if keep_alive not in (None, FOREVER):
            self.report(Notice(f"LM Studio keeps a model loaded with a set window until it is unloaded; "
                               f"--keep-alive {keep_alive:g} s does not shorten that."))
        self._load(model, context_length, read_timeout)

    # -- what is loaded ----------------------------------------------------------------------

    can_set_context = True
    honours_keep_alive = True

    def model_state(self, model: str) -> ModelState:
        """From the native v1 API (0.4+), else v0 (0.3.6+), else `lms ps --json` for a server
        on this machine (the local `lms` knows nothing of another machine's server)."""
        state = self._state_v1(model) or self._state_v0(model)
        if state is None and is_loopback_url(self.base_url):
            state = self._state_lms(model)
        return state or UNKNOWN

    def _native(self, path: str) -> Any:
        body = self._get_json(f"{origin_of(self.base_url)}{path}", "reading the loaded models")
        return None if json_error_message(body) else body

    def _v1_entry(self, model: str) -> dict | None:
        """The /api/v1/models entry of ``model`` ({} when the listing lacks it); None: no such listing."""
        body = self._native("/api/v1/models")
        entries = body.get("models") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return None
        return next((entry for entry in entries if isinstance(entry, dict)
                     and str(entry.get("key", "")).casefold() == model.casefold()), {})

    def _state_v1(self, model: str) -> ModelState | None:
        entry = self._v1_entry(model)
        if entry is None:
            return None
        instances = [item for item in _list(entry.get("loaded_instances")) if isinstance(item, dict)]
        lengths = [positive_int(item["config"].get("context_length")) for item in instances
                   if isinstance(item.get("config"), dict)]
        lengths = [length for length in lengths if length]
        return ModelState(bool(instances), max(lengths) if lengths else None,
                          positive_int(entry.get("max_context_length")))

    def _v0_entries(self) -> list[dict] | None:
        """The entries (with a string `id`) of /api/v0/models; None where there is no such list."""
        body = self._native("/api/v0/models")
        entries = body.get("data") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return None
        return [entry for entry in entries if isinstance(entry, dict) and isinstance(entry.get("id"), str)]

    def _state_v0(self, model: str) -> ModelState | None:
        entries = self._v0_entries()
        if entries is None:
            return None
        for entry in entries:
            if entry["id"].casefold() == model.casefold():
                loaded = entry.get("state") == "loaded"
                return ModelState(loaded, positive_int(entry.get("loaded_context_length")) if loaded else None,
                                  positive_int(entry.get("max_context_length")))
        return ModelState(False)

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        entries = self._v0_entries()
        if entries is None:
            return None
        return {entry["id"]: positive_int(entry.get("loaded_context_length"))
                for entry in entries if entry.get("state") == "loaded"}

    def _state_lms(self, model: str) -> ModelState | None:
        from ..lms import lms_loaded_contexts

        contexts = lms_loaded_contexts(self.settings.lms_path, deadline=self.deadline)
        loaded = contexts.get(model.casefold())
        return ModelState(True, loaded) if loaded else None

    def fit_facts(self, model: str):
        """From the model's GGUF file, which `lms ls --json` names (a server on this machine only).
        LM Studio's REST API gives no layer counts, and its load settings' KV cache type are not
        visible: f16, its default."""
        if not is_loopback_url(self.base_url):
            return None
        from ..fit import gguf_facts
        from ..lms import lms_model_file

        path = lms_model_file(model, self.settings.lms_path, deadline=self.deadline)
        return None if path is None else gguf_facts(path)

    def server_estimate(self, model: str, window: int) -> tuple[float, str] | None:
        """`lms load --estimate-only` (LM Studio 0.3.27+): its own total, which counts what the
        GGUF header does not say (compute buffers, a vision projector, its load settings)."""
        if not is_loopback_url(self.base_url):
            return None
        from ..lms import lms_estimate

        total = lms_estimate(model, window, self.settings.lms_path, deadline=self.deadline)
        return None if total is None else (total, "`lms load --estimate-only`")

    def _load(self, model: str, context_length: int | None, read_timeout: float) -> None:
        """POST /api/v1/models/load, or `lms load` before LM Studio 0.4. A model already loaded
        is unloaded first: LM Studio answers a load of a loaded model with a second instance."""
        self._unload_instances(model)
        payload: dict[str, Any] = {"model": model}
        if context_length is not None:
            payload["context_length"] = context_length
        status, body, text = self._post_warm_up_to(
            f"{origin_of(self.base_url)}/api/v1/models/load", "/api/v1/models/load", payload, read_timeout,
        )
        if not unknown_route(status, body, text):
            self._check_warm_up(model, "/api/v1/models/load", status, body, text)
            return
        if not is_loopback_url(self.base_url):
            raise WarmupFailedError(
                f"LM Studio at {self.base_url} has no REST load route (/api/v1/models/load, LM Studio 0.4 and "
                "later), and the `lms` on this machine cannot load models on another machine.",
                "Update LM Studio on that machine, or load the model there with `lms load`.",
            )
        from ..lms import lms_load

        lms_load(model, context_length, self.settings.lms_path, read_timeout, self.deadline)

    def _unload_instances(self, model: str, why: str = " to load it again") -> None:
        entry = self._v1_entry(model) or {}
        for instance in _list(entry.get("loaded_instances")):
            instance_id = instance.get("id") if isinstance(instance, dict) else None
            if isinstance(instance_id, str):
                self.report(Step(f"Unloading {model} from LM Studio{why}"))
                self.http.request("POST", f"{origin_of(self.base_url)}/api/v1/models/unload",
                                  json_body={"instance_id": instance_id}, doing=f"unloading {model}")

    def unload(self, model: str) -> bool:
        self._unload_instances(model, why="")
        return True

    def context_fix_hint(self, needed: int) -> str:
        return f"Load it with a larger window: `lms load <model> -c {needed}`."

    def unsupported_hint(self, protocol, problem: str, said: str | None = None) -> str:
        if problem == "route" and protocol.name == "responses":
            return "LM Studio serves /v1/responses from 0.3.29 on: update LM Studio (or llmster)."
        if problem == "route" and protocol.name == "messages":
            return "LM Studio serves the Anthropic API (/v1/messages) from 0.4.1 on: update LM Studio (or llmster)."
        if problem == "tools":
            return "Choose a model trained for tool use (LM Studio marks them in its model list), or update LM Studio."
        return super().unsupported_hint(protocol, problem, said)

    def warm_up_hint(self, model: str, body: Any) -> str:
        if error_code(body) == "model_not_found":
            return f"LM Studio does not know {model!r}: download it with `lms get {model}`, or check `lms ls`."
        return "Look at LM Studio's server log (`lms log stream`) for why the model did not load."


def _list(value: Any) -> list:
    """``value`` where the server sent a list, else nothing (`"loaded_instances": 5` is no list)."""
    return value if isinstance(value, list) else []

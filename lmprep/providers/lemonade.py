"""Lemonade Server (AMD's local server), OpenAI-compatible, pulling and loading models by API.

Facts from lemonade-sdk/lemonade (docs/server/server_spec.md; src/cpp/server/server.cpp and
src/cpp/resources/defaults.json at e385039e): default port 13305 (8000 before); every route is
served under /api/v1, /api/v0, /v1 and /v0. `GET /models` lists downloaded models, `owned_by:
"lemonade"`. `POST /pull {"model_name", "stream": true}` streams server-sent events `progress`
(`bytes_downloaded`, `bytes_total`, `file_index`, `total_files`), then `complete`, or `error`
(`{"error": ...}`). `POST /load {"model_name", "ctx_size"?}` loads (downloads first if needed;
reloads when the options differ) and answers `{"status": "success", ...}`, or an error body.
`GET /health` lists `all_models_loaded[]` with `model_name` and `recipe_options.ctx_size` (-1:
chosen automatically, so unknown here).

Names (src/cpp/server/model_manager.cpp `get_model_info`, `rebuild_public_model_aliases_locked`):
a request's model is looked up as it is, case and all, among the public names `/models` lists
(and their `user.`/`extra.`/`builtin.` forms); `GET /models` lists the downloaded models only
(`?show_all=true`, which lmprep never asks for, lists the whole catalog).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import DownloadFailedError, LmprepError, WarmupFailedError
from ..events import Step, Transfer
from ..http import error_text, json_error_message
from ..termtext import one_line
from .base import WARM_UP_READ_TIMEOUT, ModelState, StallWatch, count, json_object, positive_int
from .openai_compat import OpenAICompatible

if TYPE_CHECKING:
    from ..starting import StartPlan, StartRequest


class Lemonade(OpenAICompatible):
    kind = "lemonade"
    owned_by = "lemonade"
    stop_hint = "`lemonade-server stop`"
    can_set_context = True
    name_rule = "takes model names exactly as it lists them"

    def unreachable_hint(self) -> str:
        return ("Start it with `lemond` (before Lemonade 10: `lemonade-server serve`) or the Lemonade app, or check "
                "the base URL.")

    @classmethod
    def start_plan(cls, request: StartRequest) -> StartPlan | None:
        """`lemond --port P --host H`, else `lemonade-server serve --port P --host H`, whichever
        is on PATH first in that order (None with neither): both serve in the foreground.

        The server's program by version (lemonade-sdk/lemonade at e385039e, 2026-08):
        `lemond [cache_dir] [config_dir] [--port] [--host] [--[no-]broadcast]`
        (src/cpp/server/cli_parser.cpp; named `lemonade-router` until #1451, 2026-03-25, version 10.0.1; takes
        no `serve`, which it would read as its cache folder). `lemonade-server serve` is the older
        way: the Python server's (`--port`, `--host`, and `--no-tray` on Windows and macOS only,
        src/lemonade_server/cli.py before #487, 2025-10-30), then the C++ tray app's
        (src/cpp/tray/tray_app.cpp: `--host` parsed from #551, 2025-11-11; `--no-tray`
        everywhere), then a shim that passed `--port`/`--host` on to `lemond` and ignored
        `--no-tray` (src/cpp/legacy-cli/main.cpp), removed in #1918 (2026-05-18, after 10.5.1).
        `--no-tray` keeps the Windows and macOS builds from opening a tray icon for a server
        lmprep runs in the background. `lemonade` is the client CLI, not a server."""
        import sys

        from ..starting import StartPlan

        if not request.base_url.startswith("http://"):
            return None
        where = ["--port", str(request.port), "--host", request.host.strip("[]")]
        lemond = request.which("lemond")
        if lemond is not None:
            return StartPlan((lemond, *where))
        legacy = request.which("lemonade-server")
        if legacy is None:
            return None
        tray = ["--no-tray"] if sys.platform in ("win32", "darwin") else []
        return StartPlan((legacy, "serve", *where, *tray))

    def missing_hint(self, model: str) -> str:
        return f"Download it with `lemonade-server pull {model}`, or run lmprep without --offline."

    def only_model(self, listing: list[str]) -> str | None:
        # The listing is what is downloaded: with one model, that one, as vLLM and llama-server's.
        return listing[0] if len(listing) == 1 else None

    def download(self, model: str) -> None:
        doing = f"pulling {model}"
        with self.http.stream("POST", f"{self.base_url}/pull", json_body={"model_name": model, "stream": True},
                              read_timeout=self.stall_timeout, doing=doing,
                              timeout_error=DownloadFailedError) as response:
            if response.status_code != 200:
                response.read()
                raise DownloadFailedError(
                    f"Lemonade refused to pull {model!r} (HTTP {response.status_code}: {error_text(response)}).",
                    "Check the name at https://lemonade-server.ai/models.html, or run `lemonade-server pull "
                    f"{model}` to see Lemonade's own output.",
                )
            event = None
            stall = StallWatch(self.stall_timeout, "Lemonade", model, "Check the network, then run lmprep again.")
            mark = None
            for line in response.iter_lines():
                self.deadline.cap(None, doing)
                stall.check(mark)  # progress events that repeat themselves are no progress
                if line.startswith("event:"):
                    event = line[len("event:"):].strip()
                    continue
                if not line.startswith("data:"):
                    continue
                data = json_object(line[len("data:"):])
                if event == "error" or "error" in data:
                    said = json_error_message(data) or "no reason given"
                    raise DownloadFailedError(f"Lemonade could not pull {model!r}: {said}.",
                                              "Check the name and the network, then run lmprep again.")
                if event == "complete":
                    return
                done, total = count(data.get("bytes_downloaded")), count(data.get("bytes_total"))
                mark = (event, done, count(data.get("file_index")))
                if done is not None:
                    files = count(data.get("total_files"))
                    part = f" (file {count(data.get('file_index'))} of {files})" if files and files > 1 else ""
                    self.report(Transfer(f"Pulling {model}{part}", min(done, total) if total else done, total))
        raise DownloadFailedError(f"Lemonade's pull stream for {model!r} ended before it said `complete`.",
                                  "Run lmprep again.")

    def _health(self) -> list[dict] | None:
        try:
            response = self.http.request("GET", f"{self.base_url}/health", doing="reading the loaded models")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):
            return None
        loaded = body.get("all_models_loaded") if isinstance(body, dict) else None
        if not isinstance(loaded, list):
            return None
        return [entry for entry in loaded if isinstance(entry, dict) and isinstance(entry.get("model_name"), str)]

    def server_version(self) -> str | None:
        """`version` of GET /health: `{"status": "ok", "version": "10.0.1", ...}`, the build's
        LEMON_VERSION_STRING (lemonade-sdk/lemonade src/cpp/server/server.cpp handle_health at
        e385039e; also under /api/v0, /v0 and /v1)."""
        return self._version_field(f"{self.base_url}/health")

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        loaded = self._health()
        if loaded is None:
            return None
        return {entry["model_name"]: _ctx_size(entry) for entry in loaded}

    def model_state(self, model: str) -> ModelState:
        loaded = self.loaded_models([])
        if loaded is None:
            return ModelState(None)
        for name, context in loaded.items():
            if name.casefold() == model.casefold():
                return ModelState(True, context)
        return ModelState(False)

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        payload: dict[str, Any] = {"model_name": model}
        if context_length is not None:
            payload["ctx_size"] = context_length
            self.report(Step(f"Loading {model} with ctx_size {context_length} (POST /load)"))
        response = self.http.request("POST", f"{self.base_url}/load", json_body=payload, read_timeout=read_timeout,
                                     doing=f"loading {model} (POST /load)", timeout_error=WarmupFailedError,
                                     retry=True)
        try:
            value: Any = json.loads(response.content)
        except (ValueError, RecursionError):  # not JSON: not Lemonade's answer
            value = NotImplemented
        body = value if isinstance(value, dict) else {}
        message = json_error_message(body)
        # Lemonade says a failure with `"status": "error"` (docs/server/server_spec.md).
        if response.status_code == 200 and value is not NotImplemented and message is None \
                and body.get("status") != "error":
            return
        said = message or (one_line(str(body.get("message"))) if body.get("message") else error_text(response))
        raise WarmupFailedError(f"Lemonade could not load {model!r} (POST /load: HTTP {response.status_code}: {said}).",
                                "Look at Lemonade's log (`lemonade-server serve --log-level debug`) for why.")

    def context_fix_hint(self, needed: int) -> str:
        return f"Load it with a larger window: `lemonade-server run <model> --ctx-size {needed}`."




def _ctx_size(entry: dict) -> int | None:
    options = entry.get("recipe_options")
    return positive_int(options.get("ctx_size")) if isinstance(options, dict) else None


__all__ = ["Lemonade"]

"""llama-swap (mostlygeek/llama-swap, Go): one OpenAI-compatible front that starts and stops an
upstream server (llama-server, vLLM, ...) per requested model.

Checked against the real llama-swap v235 (c59816ba, 2026-07-03; built from source, see
tests/test_llamaswap_real.py) in front of llama-server b11434, and read in its source at v235 and
at v250-5-g0bdb3720 (2026-08-22): internal/server/server.go (the routes), internal/server/api.go
(/v1/models, /running, /upstream), internal/server/log.go, internal/process/process_command.go,
internal/shared/http.go (v235's error body), internal/config/{config,upstream}.go:

* `GET /v1/models` lists every configured model not `unlisted`, `owned_by: "llama-swap"`
  (v235: `{"id", "object", "created", "owned_by"}` and nothing more unless the config gives
  `capabilities`, whose `context` becomes `context_length`). From v236 an entry has
  `status: {"value": "loaded" | "unloaded"}`, from v241 `meta.llamaswap.aliases` and `meta.n_ctx`.
  Before v241 aliases are not listed at all, unless `includeAliasesInList: true` lists each as
  an entry of its own, which says nothing of what it aliases. `GET /models` is v250's only (v235:
  404). A request's model is found by its id or an alias, exactly (config.go `RealModelName`),
  also for `unlisted` models: so a name the listing lacks is asked of llama-swap itself with
  `GET /upstream/NAME` (no slash), which it answers 301 for a name it takes and 404
  `{"error": "model not found"}` for one it does not, without starting anything (api.go
  handleUpstream resolves the name, then redirects to `/upstream/NAME/`).
* `GET /running` → `{"running": [{"model", "state", "cmd", "proxy", "ttl", "name",
  "description"}]}` for every process not stopped, by configured id; `state` is `starting`,
  `ready`, `stopping`. Without `groups`, starting one model stops the one that ran (a swap):
  v235 had one entry at a time.
* `/upstream/{model}/{path}` is proxied to that model's upstream as `/{path}`. Any path not
  matching `upstream.ignorePaths` (by default only static files: `.js`, `.json`, `.css`, ...)
  starts the model first, like an inference request: so `/upstream/M/health` is the cold start
  (it answers once llama-swap's own check of the upstream's `checkEndpoint`, `/health` by
  default, passed, then the upstream's own `/health`), and `/upstream/M/props` is llama-server's
  `/props` (default_generation_settings.n_ctx) — read only for a model `/running` says is
  `ready` (or that lmprep's own cold start just started), or reading the window would start it.
  v235 with the tiny model: the cold start took 0.26 s; a request that arrived during a 4 s
  start waited for it and then got its answer (HTTP 200); llama-swap checks the upstream's
  health once a second.
* A start waits up to `healthCheckTimeout` (default 120 s, at least 15) and fails. v235 answers
  HTTP 500 `{"error": "unspecific error: upstream command exited prematurely", "src":
  "llama-swap"}` (a bad flag in `cmd`: at once) or `... health check timed out after 15s` (after
  15.4 s); later versions send `{"src", "error": {"message", ...}}`: both are read.
* `GET /logs/stream/{model}` (the id or an alias) tails that upstream's own log, history first
  unless `?no-history` (then the headers only come with the first line); `/logs/stream` is the
  proxy's and upstreams' log together, `/logs/stream/proxy`, `/logs/stream/upstream` each one;
  `GET /logs` the history at once; an unknown id is 400 "invalid logger".
* `ttl` unloads a model after that many idle seconds; `POST /api/models/unload/{model}` (200
  "OK"; 404 `model not found`) and `GET /unload` (all) stop it; `GET /api/version` says
  `{"version", "commit", "build_date"}`. `sendLoadingState` streams loading messages into the
  `reasoning_content` of a streamed `/v1/chat/completions` while a model starts (an agent would
  see them as model output: one more reason lmprep does the cold start before the agent's first
  request).
* With `apiKeys` set, `/v1/*`, `/running`, `/upstream/...` and `/logs/...` want the key
  (Bearer, Basic password or x-api-key); `/health` never does.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from urllib.parse import quote

from ..errors import LmprepError, WarmupFailedError
from ..events import Step
from ..hosts import strip_v1
from ..http import Http, error_text, json_error_message
from ..termtext import one_line
from .base import WARM_UP_READ_TIMEOUT, ModelState, positive_int
from .openai_compat import OpenAICompatible

#: The upstream log lines a failed start quotes, each cut to LOG_LINE_CHARS.
LOG_TAIL_LINES = 6
LOG_LINE_CHARS = 300
#: After a failed start, how long the tail waits for the log to fall quiet (at most 4 times that).
LOG_SETTLE_SECONDS = 0.25


class LlamaSwap(OpenAICompatible):
    kind = "llamaswap"
    owned_by = "llama-swap"
    name_rule = "takes a model only by the id or an alias it lists, exactly"

    def __init__(self, *args, **kwargs) -> None:
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._unlisted: set[str] = set()  # names llama-swap takes but does not list (GET /upstream/NAME)
        self._started: set[str] = set()  # names whose upstream this lmprep's own cold start got ready
        super().__init__(*args, **kwargs)

    def server_version(self) -> str | None:
        """GET /api/version → `{"version", "commit", "build_date"}` (internal/server/apigroup.go
        handleAPIVersion, behind apiKeys like /v1; since #395, 2025-11-17: an older llama-swap
        answers 404 and shows none). `version` is the release tag (`v250`, .goreleaser.yaml), `0`
        for a build without one (llama-swap.go)."""
        return self._version_field(f"{strip_v1(self.base_url)}/api/version")

    def unreachable_hint(self) -> str:
        return "Start it with `llama-swap --config config.yaml`, or check the base URL."

    def missing_hint(self, model: str) -> str:
        return f"Choose one of those with -m, or add {model!r} under `models:` in llama-swap's config file."

    def _index_entries(self) -> None:
        self._aliases = {}
        for entry in self._entries:
            meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
            own = meta.get("llamaswap") if isinstance(meta.get("llamaswap"), dict) else {}
            aliases = own.get("aliases")
            if isinstance(aliases, list):
                self._aliases[entry["id"]] = tuple(alias for alias in aliases if isinstance(alias, str))
        super()._index_entries()

    def model_keys(self, served: str) -> tuple[str, ...]:
        return (served, *self._aliases.get(served, ()))

    def only_model(self, listing: list[str]) -> str | None:
        return listing[0] if len(listing) == 1 else None

    def has_model(self, model: str, listing: list[str]) -> bool:
        if super().has_model(model, listing):
            return True
        # Only against llama-swap's own listing (not a list of loaded ids): llama-swap also takes
        # aliases it does not list (before v241) and `unlisted: true` models.
        if listing is not self._served or any(model.startswith(item + "/") for item in listing):
            return False  # /upstream/tiny/x would be tiny's upstream path /x: it would start tiny
        return self._takes(model)

    def _takes(self, model: str) -> bool:
        """Whether llama-swap resolves ``model`` to one of its models: GET /upstream/NAME (no
        slash) is 301 to /upstream/NAME/ for a name it takes, 404 for one it does not, and starts
        nothing either way (v235 and v250 api.go handleUpstream)."""
        if model in self._unlisted:
            return True
        try:
            response = self.http.request("GET", self._upstream(model, ""), doing=f"asking llama-swap for {model}")
        except LmprepError:
            return False
        if response.status_code in (301, 308):
            self._unlisted.add(model)
            return True
        return False

    # -- what runs ---------------------------------------------------------------------------

    def _running(self) -> dict[str, str] | None:
        """Model id → process state from GET /running; None where it does not answer so."""
        body = self._get_json(f"{strip_v1(self.base_url)}/running", "reading which upstreams run")
        running = body.get("running") if isinstance(body, dict) else None
        if not isinstance(running, list):
            return None
        return {item["model"]: str(item.get("state")) for item in running
                if isinstance(item, dict) and isinstance(item.get("model"), str)}

    def _listed(self, model: str) -> dict:
        """``model``'s entry of the last listing ({} where none was read: never a request)."""
        return self._index.get(self.model_key(model), {})

    def _model_id(self, model: str) -> str:
        """The configured id of ``model`` (which may be an alias): what /running names."""
        return self._listed(model).get("id", model)

    def _upstream(self, model_id: str, path: str) -> str:
        return f"{strip_v1(self.base_url)}/upstream/{quote(model_id, safe='/')}{path}"

    def _upstream_window(self, model_id: str) -> int | None:
        """The window the running upstream has: llama-server's /props, else what its own
        /v1/models says (llama-server's meta.n_ctx, vLLM's max_model_len)."""
        doing = f"reading {model_id}'s context length"
        body = self._get_json(self._upstream(model_id, "/props"), doing)
        settings = body.get("default_generation_settings") if isinstance(body, dict) else None
        context = positive_int(settings.get("n_ctx")) if isinstance(settings, dict) else None
        if context is not None:
            return context
        body = self._get_json(self._upstream(model_id, "/v1/models"), doing)
        data = body.get("data") if isinstance(body, dict) else None
        for item in data if isinstance(data, list) else ():
            if isinstance(item, dict):
                meta = item.get("meta") if isinstance(item.get("meta"), dict) else {}
                context = positive_int(meta.get("n_ctx")) or positive_int(item.get("max_model_len"))
                if context is not None:
                    return context
        return None

    def model_state(self, model: str) -> ModelState:
        model_id = self._model_id(model)
        entry = self._listed(model)
        meta = entry.get("meta")
        # what the config's `capabilities.context` says: `context_length` (v235), also meta.n_ctx (v250)
        configured = positive_int(entry.get("context_length")) or (
            positive_int(meta.get("n_ctx")) if isinstance(meta, dict) else None)
        running = self._running()
        if running is None:
            return ModelState(None, None)
        if running.get(model_id) == "ready":
            return ModelState(True, self._upstream_window(model_id) or configured)
        if model in self._started and "ready" in running.values():
            # An alias /running does not name (it names configured ids): what lmprep itself just
            # started through /upstream/NAME/health runs, so its /props starts nothing.
            return ModelState(True, self._upstream_window(model) or configured)
        if model in self._unlisted and "ready" in running.values():
            return ModelState(None)  # one that runs may be the one this unlisted alias names
        return ModelState(False)

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        running = self._running()
        if running is None:
            return None
        return {model: self._upstream_window(model) for model, state in running.items() if state == "ready"}

    # -- the cold start ----------------------------------------------------------------------

    def warm_up(self, model: str, read_timeout: float = WARM_UP_READ_TIMEOUT,
                context_length: int | None = None, keep_alive: float | None = None) -> None:
        model_id = self._model_id(model)
        if (self._running() or {}).get(model_id) != "ready":
            self._cold_start(model_id, read_timeout)
            self._started.add(model)
        self._openai_warm_up(model, read_timeout)

    def _cold_start(self, model_id: str, read_timeout: float | None) -> None:
        """Have llama-swap start the upstream for ``model_id`` and wait until it answers:
        GET /upstream/{model}/health, while its log is tailed for a failure to quote."""
        self.report(Step(f"Starting {model_id}'s upstream through llama-swap (GET /upstream/{model_id}/health; "
                         "it waits up to its healthCheckTimeout, 120 s by default)"))
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        log = self._tail_log(model_id, tail)
        try:
            response = self.http.request(
                "GET", self._upstream(model_id, "/health"), read_timeout=read_timeout,
                doing=f"starting {model_id}'s upstream (GET /upstream/{model_id}/health)",
                timeout_error=WarmupFailedError, retry=True,
            )
        except BaseException:
            log.stop()
            raise
        # A failed start logs its last words just before llama-swap answers: let them arrive.
        log.stop(settle=0.0 if response.status_code == 200 else LOG_SETTLE_SECONDS)
        if response.status_code == 200:
            return
        try:
            said = json_error_message(response.json()) or error_text(response)
        except (ValueError, RecursionError):
            said = error_text(response)
        logged = f" Its log ended: {' | '.join(tail)}" if tail else ""
        raise WarmupFailedError(
            f"llama-swap could not start {model_id!r}'s upstream (GET /upstream/{model_id}/health: "
            f"HTTP {response.status_code}: {one_line(said)}).{logged}",
            f"Look at llama-swap's log (GET /logs/stream/{model_id}) and the model's `cmd` in its config; "
            "a slow load needs a larger `healthCheckTimeout`.",
        )

    def _tail_log(self, model_id: str, tail: deque[str]) -> _LogTail:
        http = Http(self.base_url, label=self.label, token=self.settings.token,
                    connect_timeout=self.http.connect_timeout, read_timeout=self.http.read_timeout,
                    deadline=self.deadline, ca_cert=self.http.ca_cert)
        return _LogTail(http, f"{strip_v1(self.base_url)}/logs/stream/{quote(model_id, safe='/')}?no-history",
                        tail)

    def context_fix_hint(self, needed: int) -> str:
        return (f"Give the model's `cmd` in llama-swap's config a window of at least {needed} tokens "
                f"(llama-server: `-c {needed}`; vLLM: `--max-model-len {needed}`), then unload it "
                "(POST /api/models/unload/MODEL) so the next start uses it.")

    def warm_up_hint(self, model: str, body) -> str:
        return f"Look at llama-swap's log (GET /logs/stream/{model}) for why the upstream did not answer."


class _LogTail:
    """The lines an upstream logs, tailed in a thread into ``tail`` (a bounded deque) until
    stop(); a log that cannot be read is no failure: it only leaves the tail empty."""

    def __init__(self, http: Http, url: str, tail: deque[str]) -> None:
        self._http = http
        self._stopped = threading.Event()
        self._lines = 0
        self._thread = threading.Thread(target=self._run, args=(url, tail), name="lmprep-llamaswap-log",
                                        daemon=True)
        self._thread.start()

    def _run(self, url: str, tail: deque[str]) -> None:
        try:
            with self._http.stream("GET", url, read_timeout=None, doing="reading the upstream's log",
                                   retry=False) as response:
                if response.status_code != 200:
                    return
                for line in response.iter_lines():
                    if self._stopped.is_set():
                        return
                    text = one_line(line, LOG_LINE_CHARS)
                    if text:
                        tail.append(text)
                        self._lines += 1
        except (LmprepError, OSError):
            return

    def stop(self, settle: float = 0.0) -> None:
        """End the tail; with ``settle``, first wait until no line came for that long."""
        if settle:
            seen, waited = -1, 0.0
            while self._lines != seen and waited < 4 * settle and self._thread.is_alive():
                seen = self._lines
                time.sleep(settle)
                waited += settle
        self._stopped.set()
        for _ in range(20):  # abort() ends an exchange under way; one opened just after needs another
            self._http.abort()
            self._thread.join(timeout=0.1)
            if not self._thread.is_alive():
                break
        self._http.close()


__all__ = ["LlamaSwap"]

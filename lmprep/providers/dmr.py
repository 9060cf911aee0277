"""Docker Model Runner (`docker model`), OpenAI-compatible under /engines/v1.

Facts from docker/model-runner (at 642c7211): port 12434 (README.md, Dockerfile
MODEL_RUNNER_PORT); pkg/inference/api.go: inference routes under /engines, model management under
/models; pkg/inference/models/api.go: `GET /engines/v1/models` entries are `owned_by: "docker"`,
with `dmr.context_window` (the context size the model was packaged with, passed to llama.cpp as
--ctx-size unless `docker model configure` set another, pkg/inference/backends/llamacpp/
llamacpp_config.go); pkg/inference/models/http_handler.go: `POST /models/create {"from": MODEL}`
pulls, streaming one JSON object a line (pkg/distribution/oci/progress.go: `type` progress |
success | warning | error, `message`, `total`, `layer` {`id`, `size`, `current`});
pkg/inference/scheduling: `GET /engines/ps` lists the running backends (`model_name`, `loading`).
Models load on their first request; there is no load route of its own (`/models/load` imports
an archive).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import DownloadFailedError, LmprepError
from ..http import error_text, json_error_message
from ..termtext import one_line
from .base import ModelState, PullLayers, StallWatch, count, json_object, positive_int
from .openai_compat import OpenAICompatible

if TYPE_CHECKING:
    from ..starting import StartPlan, StartRequest

DEFAULT_TAG = "latest"
DEFAULT_ORG = "ai"


def dmr_name(model: str) -> str:
    """A model name as Docker Model Runner looks it up (pkg/distribution/distribution/client.go
    `normalizeModelName`, at 642c7211): `hf.co/` is `huggingface.co/`, a name without an owner
    is under `ai/`, the tag is `latest` unless given; the name is lower-cased, the tag is not.
    So `SmolLM2`, `ai/smollm2` and `ai/smollm2:latest` are one model, `ai/x:Q4` and `ai/x:q4` two."""
    model = model.strip()
    if model.startswith("hf.co/"):
        model = "huggingface.co/" + model[len("hf.co/"):]
    name, _, tag = model.rpartition(":") if model.rfind(":") > model.rfind("/") else (model, "", "")
    if "/" not in name:
        name = f"{DEFAULT_ORG}/{name}"
    return f"{name.casefold()}:{tag or DEFAULT_TAG}"


class DockerModelRunner(OpenAICompatible):
    kind = "dmr"
    owned_by = "docker"
    name_rule = "lower-cases model names, but not their tags"

    @property
    def root(self) -> str:
        base = self.base_url
        return base[: -len("/engines/v1")] if base.endswith("/engines/v1") else base.rsplit("/v1", 1)[0]

    def server_version(self) -> str | None:
        """GET /version at the runner's root: `{"version": V}`, the build's main.Version (`git describe
        --tags`, "dev" for a build without one; docker/model-runner pkg/server/server.go at 642c7211,
        the route since 3af8549d, 2026-02-12: an older runner answers 404 and shows none)."""
        return self._version_field(f"{self.root}/version")

    def unreachable_hint(self) -> str:
        return ("Enable it with `docker desktop enable model-runner --tcp 12434` (Docker Desktop) or install "
                "docker-model-plugin (Docker Engine), or check the base URL.")

    @classmethod
    def start_plan(cls, request: StartRequest) -> StartPlan | None:
        """Nothing lmprep runs: the runner is a container that Docker manages, or a part of
        Docker Desktop that its settings turn on. The hint says how, for the port lmprep looks at.

        Docker Engine: `docker model install-runner [--port P] [--host H]` (port 12434 by default;
        docker/model-runner cmd/cli/docs/reference/model_install-runner.md at 642c7211: "runs
        implicitly when a docker model command is executed"), `docker model start-runner` once its
        images are there. Docker Desktop: `docker desktop enable model-runner --tcp P` turns on
        host-side TCP, port 12434 by default (docs.docker.com/reference/cli/docker/desktop/enable/
        model-runner); install-runner there only says to use that."""
        from ..starting import StartPlan

        port = request.port
        engine = "docker model install-runner" + ("" if port == 12434 else f" --port {port}")
        hint = (f"Docker Engine: `{engine}` (`docker model start-runner` when it is installed but stopped); "
                f"Docker Desktop: `docker desktop enable model-runner --tcp {port}`.")
        if request.which("docker") is None:
            hint = ("Install Docker Desktop, or Docker Engine with its docker-model-plugin, then start the Model "
                    f"Runner. {hint}")
        return StartPlan((), hint=hint)

    def missing_hint(self, model: str) -> str:
        return f"Download it with `docker model pull {model}`, or run lmprep without --offline."

    def model_key(self, model: str) -> str:
        return dmr_name(model)

    def model_keys(self, served: str) -> tuple[str, ...]:
        return (dmr_name(served),)

    def only_model(self, listing: list[str]) -> str | None:
        return listing[0] if len(listing) == 1 else None

    def download(self, model: str) -> None:
        doing = f"pulling {model}"
        hint = f"Run `docker model pull {model}` to see its own output."
        layers = PullLayers("Docker Model Runner", model, hint)  # layer id -> bytes so far
        stall = StallWatch(self.stall_timeout, "Docker Model Runner", model, hint)
        with self.http.stream("POST", f"{self.root}/models/create", json_body={"from": model},
                              read_timeout=self.stall_timeout, doing=doing, timeout_error=DownloadFailedError,
                              headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                response.read()
                raise DownloadFailedError(
                    f"Docker Model Runner refused to pull {model!r} (HTTP {response.status_code}: "
                    f"{error_text(response)}).",
                    f"Check the name on Docker Hub (e.g. ai/smollm2), or run `docker model pull {model}` to see "
                    "its own output.",
                )
            for line in response.iter_lines():
                self.deadline.cap(None, doing)
                stall.check(sum(layers.values()))  # progress lines that repeat themselves are no progress
                item = json_object(line)
                kind = item.get("type")
                if kind == "error" or "error" in item:
                    said = one_line(str(item.get("message") or json_error_message(item) or "no reason given"))
                    raise DownloadFailedError(f"Docker Model Runner could not pull {model!r}: {said}.", hint)
                if kind == "success":
                    return
                layer = item.get("layer") if isinstance(item.get("layer"), dict) else {}
                if kind == "progress" and isinstance(layer.get("id"), str):
                    layers.put(layer["id"], count(layer.get("current")) or 0)
                    total = count(item.get("total"))
                    done = sum(layers.values())
                    from ..events import Transfer

                    self.report(Transfer(f"Pulling {model}", min(done, total) if total else done, total))
        # Older builds end the stream without a `success` line: the listing, read again, decides.

    def _running(self) -> list[dict] | None:
        try:
            response = self.http.request("GET", f"{self.root}/engines/ps", doing="reading the running models")
            body = response.json() if response.status_code == 200 else None
        except (LmprepError, ValueError, RecursionError):
            return None
        if not isinstance(body, list):
            return None
        return [entry for entry in body if isinstance(entry, dict) and isinstance(entry.get("model_name"), str)]

    def _window(self, model: str) -> int | None:
        dmr = self._entry(model).get("dmr")
        return positive_int(dmr.get("context_window")) if isinstance(dmr, dict) else None

    def loaded_models(self, listing: list[str]) -> dict[str, int | None] | None:
        running = self._running()
        if running is None:
            return None
        return {entry["model_name"]: self._window(entry["model_name"]) for entry in running
                if entry.get("loading") is not True}

    def model_state(self, model: str) -> ModelState:
        running = self._running()
        if running is None:
            return ModelState(None)
        loaded = any(dmr_name(entry["model_name"]) == dmr_name(model) and entry.get("loading") is not True
                     for entry in running)
        return ModelState(loaded, self._window(model) if loaded else None)

    def context_fix_hint(self, needed: int) -> str:
        return (f"Set its window with `docker model configure --context-size {needed} <model>`, then unload it "
                "(`docker model unload <model>`) so that the next request loads it with that window.")




__all__ = ["DockerModelRunner", "dmr_name"]

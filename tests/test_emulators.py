"""Tests of the test emulators themselves: they must reproduce the providers' quirks faithfully,
or the end-to-end tests built on them prove nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulators import LMStudioEmulator, OllamaEmulator, install_fake_lms, normalise_name, read_invocations
from emulators.lmstudio import NO_MODELS_LOADED
from emulators.ollama import MISSING_MANIFEST, parse_name

GPT_OSS = "openai/gpt-oss-20b"
QWEN = "qwen/qwen3-8b"


def client(emulator: LMStudioEmulator | OllamaEmulator, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=emulator.origin, timeout=5.0, **kwargs)


# ====================================================================== LM Studio


def test_lmstudio_origin_and_base_url(lmstudio_emulator: LMStudioEmulator) -> None:
    assert lmstudio_emulator.origin.startswith("http://127.0.0.1:")
    assert lmstudio_emulator.base_url == lmstudio_emulator.origin + "/v1"
    with client(lmstudio_emulator) as http:
        assert http.get("/lmstudio-greeting").json() == {"lmstudio": True}


def test_lmstudio_jit_on_lists_downloaded_models(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS, QWEN]
    lmstudio_emulator.loaded = {QWEN: 8192}
    with client(lmstudio_emulator) as http:
        listing = http.get("/v1/models").json()
        v0 = http.get("/api/v0/models").json()["data"]
    assert listing == {
        "data": [
            {"id": GPT_OSS, "object": "model", "owned_by": "organization_owner"},
            {"id": QWEN, "object": "model", "owned_by": "organization_owner"},
        ],
        "object": "list",
    }
    assert [(m["id"], m["state"], m.get("loaded_context_length")) for m in v0] == [
        (GPT_OSS, "not-loaded", None),
        (QWEN, "loaded", 8192),
    ]


def test_lmstudio_jit_off_lists_only_loaded_models(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS, QWEN]
    lmstudio_emulator.loaded = {QWEN: 8192}
    lmstudio_emulator.jit = False
    with client(lmstudio_emulator) as http:
        assert [m["id"] for m in http.get("/v1/models").json()["data"]] == [QWEN]
        assert [m["id"] for m in http.get("/api/v0/models").json()["data"]] == [QWEN]
        # The native v1 API is a management view: it lists everything on disk.
        v1 = http.get("/api/v1/models").json()["models"]
    assert [(m["key"], m["loaded_instances"]) for m in v1] == [
        (GPT_OSS, []),
        (QWEN, [{"id": QWEN, "config": {"context_length": 8192}}]),
    ]


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nothing"), ("DELETE", "/v1/models"), ("POST", "/api/pull")])
def test_lmstudio_unknown_route_is_200_with_error(lmstudio_emulator: LMStudioEmulator, method: str, path: str) -> None:
    with client(lmstudio_emulator) as http:
        response = http.request(method, path)
    assert response.status_code == 200
    assert response.json() == {"error": f"Unexpected endpoint or method. ({method} {path})"}


def test_lmstudio_token_required_except_for_greeting(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.token = "secret"
    with client(lmstudio_emulator) as http:
        missing = http.get("/v1/models")
        wrong = http.get("/v1/models", headers={"Authorization": "Bearer nope"})
        right = http.get("/v1/models", headers={"Authorization": "Bearer secret"})
        greeting = http.get("/lmstudio-greeting")
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["error"]["code"] == wrong.json()["error"]["code"] == "invalid_api_key"
    assert right.status_code == 200 and right.json()["object"] == "list"
    assert greeting.json() == {"lmstudio": True}


@pytest.mark.parametrize(
    ("path", "answer_object"), [("/v1/responses", "response"), ("/v1/chat/completions", "chat.completion")]
)
def test_lmstudio_warm_up_loads_slowly_once(lmstudio_emulator: LMStudioEmulator, path: str, answer_object: str) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]
    lmstudio_emulator.load_seconds = 0.3
    body = ({"model": GPT_OSS, "input": "", "max_output_tokens": 1} if path == "/v1/responses"
            else {"model": GPT_OSS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
    with client(lmstudio_emulator) as http:
        started = time.monotonic()
        first = http.post(path, json=body)
        first_seconds = time.monotonic() - started
        started = time.monotonic()
        second = http.post(path, json=body)
        second_seconds = time.monotonic() - started
    assert first.status_code == second.status_code == 200
    assert first.json()["object"] == answer_object and first.json()["model"] == GPT_OSS
    assert first_seconds >= 0.3 > second_seconds
    assert lmstudio_emulator.loaded == {GPT_OSS: 4096}


def test_lmstudio_warm_up_errors(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS, QWEN]
    lmstudio_emulator.fail_load = {QWEN: "Failed to load model: out of memory"}
    with client(lmstudio_emulator) as http:
        unknown = http.post("/v1/responses", json={"model": "nobody/nothing", "input": ""})
        failed = http.post("/v1/responses", json={"model": QWEN, "input": ""})
        lmstudio_emulator.jit = False
        not_loaded = http.post("/v1/chat/completions", json={"model": GPT_OSS, "messages": []})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "model_not_found"
    assert unknown.json()["error"]["message"].startswith("Invalid model identifier")
    assert failed.status_code == 500 and failed.json()["error"]["message"] == "Failed to load model: out of memory"
    assert not_loaded.status_code >= 400 and not_loaded.json()["error"]["message"] == NO_MODELS_LOADED
    assert lmstudio_emulator.loaded == {}


def test_lmstudio_before_0_3_29_has_no_responses_api(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]
    lmstudio_emulator.responses_supported = False
    with client(lmstudio_emulator) as http:
        response = http.post("/v1/responses", json={"model": GPT_OSS, "input": ""})
    assert response.status_code == 200
    assert response.json() == {"error": "Unexpected endpoint or method. (POST /v1/responses)"}
    assert lmstudio_emulator.loaded == {}


def test_lmstudio_native_load_sets_context_length(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]
    lmstudio_emulator.max_context = {GPT_OSS: 32768}
    with client(lmstudio_emulator) as http:
        loaded = http.post("/api/v1/models/load", json={"model": GPT_OSS, "context_length": 16384})
        too_big = http.post("/api/v1/models/load", json={"model": GPT_OSS, "context_length": 65536})
        unknown = http.post("/api/v1/models/load", json={"model": "nobody/nothing"})
    assert loaded.status_code == 200 and loaded.json()["status"] == "loaded"
    assert too_big.status_code == 400
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert lmstudio_emulator.loaded == {GPT_OSS: 16384}


def test_lmstudio_models_body_override(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.models_body_override = b"<html><body>Proxy login</body></html>"
    with client(lmstudio_emulator) as http:
        response = http.get("/v1/models")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.content == b"<html><body>Proxy login</body></html>"


def test_requests_are_recorded(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]
    before = time.monotonic()
    with client(lmstudio_emulator, headers={"X-Test": "yes"}) as http:
        http.post("/v1/responses?trace=1", json={"model": GPT_OSS, "input": ""})
    (request,) = lmstudio_emulator.requests
    assert (request.method, request.path, request.query) == ("POST", "/v1/responses", "trace=1")
    assert request.header("X-Test") == "yes" and request.headers["x-test"] == "yes"
    assert request.json == {"model": GPT_OSS, "input": ""}
    assert before <= request.time <= time.monotonic()


def test_wait_for_request_blocks_until_it_arrives(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]

    def warm_up_later() -> None:
        time.sleep(0.2)
        with client(lmstudio_emulator) as http:
            http.post("/v1/responses", json={"model": GPT_OSS, "input": ""})

    sender = threading.Thread(target=warm_up_later)
    sender.start()
    try:
        request = lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=5)
    finally:
        sender.join()
    assert request.json["model"] == GPT_OSS
    with pytest.raises(TimeoutError, match="POST /v1/responses"):
        lmstudio_emulator.wait_for_request("GET", "/v1/models", timeout=0.1)


def test_hang_accepts_and_never_answers(lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.hang = True
    with client(lmstudio_emulator) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/v1/models", timeout=0.3)
        lmstudio_emulator.hang = False
        assert http.get("/v1/models").status_code == 200
    assert [r.path for r in lmstudio_emulator.requests] == ["/v1/models", "/v1/models"]


def test_stop_is_prompt_and_clean_with_hung_and_idle_connections() -> None:
    emulator = LMStudioEmulator().start()
    idle = client(emulator)
    idle.get("/lmstudio-greeting")  # leaves a keep-alive connection open
    emulator.hang = True
    outcome: list[BaseException] = []

    def hung_request() -> None:
        try:
            with client(emulator) as http:
                http.get("/v1/models")
        except httpx.HTTPError as error:
            outcome.append(error)

    requester = threading.Thread(target=hung_request)
    requester.start()
    emulator.wait_for_request("GET", "/v1/models")
    started = time.monotonic()
    emulator.stop()
    requester.join(5)
    idle.close()
    assert time.monotonic() - started < 2
    assert len(outcome) == 1  # the hung request failed instead of blocking forever
    assert emulator.errors == []


# ====================================================================== Ollama


def test_ollama_identity_and_unknown_route(ollama_emulator: OllamaEmulator) -> None:
    with client(ollama_emulator) as http:
        root = http.get("/")
        version = http.get("/api/version").json()
        unknown = http.get("/v2/anything")
        wrong_method = http.get("/api/pull")
    assert root.text == "Ollama is running"
    assert version == {"version": "0.13.5"}
    assert (unknown.status_code, unknown.text) == (404, "404 page not found")
    assert unknown.headers["content-type"].startswith("text/plain")
    assert wrong_method.status_code == 404


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("llama3", "llama3:latest"),
        ("llama3:latest", "llama3:latest"),
        ("library/llama3", "llama3:latest"),
        ("registry.ollama.ai/library/llama3:latest", "llama3:latest"),
        ("LLAMA3:8B", "llama3:8b"),
        ("gpt-oss:20b", "gpt-oss:20b"),
        ("myuser/model", "myuser/model:latest"),
        ("hf.co/Bartowski/Qwen-GGUF:Q4_K_M", "hf.co/bartowski/qwen-gguf:q4_k_m"),
        ("localhost:5000/team/model", "localhost:5000/team/model:latest"),
        ("https://registry.ollama.ai/library/llama3", "llama3:latest"),
    ],
)
def test_ollama_name_normalisation(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


@pytest.mark.parametrize("name", ["", "a/b/c/d", "llama3:", "/llama3", "a//b"])
def test_ollama_invalid_names(name: str) -> None:
    assert parse_name(name) is None


def test_ollama_listings(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.models = {"llama3": 4_700_000_000, "myuser/tiny:1b": 1000}
    ollama_emulator.loaded = {"llama3:latest": 8192}
    with client(ollama_emulator) as http:
        tags = http.get("/api/tags").json()["models"]
        ps = http.get("/api/ps").json()["models"]
        openai = http.get("/v1/models").json()
    assert [(m["name"], m["size"]) for m in tags] == [("llama3:latest", 4_700_000_000), ("myuser/tiny:1b", 1000)]
    assert [(m["name"], m["context_length"], m["size_vram"]) for m in ps] == [("llama3:latest", 8192, 4_700_000_000)]
    assert set(ps[0]) >= {"name", "model", "expires_at", "size_vram", "context_length"}
    assert [(m["id"], m["owned_by"]) for m in openai["data"]] == [
        ("llama3:latest", "library"),
        ("myuser/tiny:1b", "myuser"),
    ]


def test_ollama_load_request(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.models = {"gpt-oss:20b": 13_000_000_000}
    with client(ollama_emulator) as http:
        default = http.post("/api/generate", json={"model": "GPT-OSS:20b"})
        default_context = dict(ollama_emulator.loaded)
        bigger = http.post("/api/generate", json={"model": "gpt-oss:20b", "options": {"num_ctx": 32768}})
        bigger_context = dict(ollama_emulator.loaded)
        unloaded = http.post("/api/generate", json={"model": "gpt-oss:20b", "keep_alive": 0})
        unknown = http.post("/api/generate", json={"model": "llama3"})
    assert default.json()["done_reason"] == "load" and default.json()["response"] == ""
    assert default_context == {"gpt-oss:20b": 4096}
    assert bigger.json()["done_reason"] == "load" and bigger_context == {"gpt-oss:20b": 32768}
    assert unloaded.json()["done_reason"] == "unload" and ollama_emulator.loaded == {}
    assert (unknown.status_code, unknown.json()) == (404, {"error": "model 'llama3' not found"})


def test_ollama_load_slow_and_failing(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.models = {"llama3": 1, "broken": 1}
    ollama_emulator.load_seconds = 0.3
    ollama_emulator.fail_load = {"broken:latest": "llama runner process has terminated"}
    with client(ollama_emulator) as http:
        started = time.monotonic()
        http.post("/api/generate", json={"model": "llama3"})
        assert time.monotonic() - started >= 0.3
        failed = http.post("/api/generate", json={"model": "broken"})
    assert failed.status_code == 500 and failed.json() == {"error": "llama runner process has terminated"}


def test_ollama_pull_stream(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.pull_catalog = {"llama3": {"layers": [1000, 10], "chunks": 2, "omit_totals_first": True}}
    request = {"model": "llama3", "stream": True}
    with client(ollama_emulator) as http, http.stream("POST", "/api/pull", json=request) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    statuses = [line["status"] for line in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    layer_lines = lines[1:-3]
    assert len(layer_lines) == 2 * 3
    first_layer = layer_lines[:3]
    assert "total" not in first_layer[0] and "completed" not in first_layer[0]
    assert [(line.get("total"), line.get("completed")) for line in first_layer[1:]] == [(1000, 500), (1000, 1000)]
    assert first_layer[0]["status"] == f"pulling {first_layer[0]['digest'][7:19]}"
    assert ollama_emulator.models == {"llama3:latest": 1010}
    assert ollama_emulator.pull_count["llama3:latest"] == 1


def test_ollama_pull_streams_line_by_line(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.pull_catalog = {"llama3": {"layers": [100], "chunks": 3, "chunk_seconds": 0.2}}
    with client(ollama_emulator) as http, http.stream("POST", "/api/pull", json={"model": "llama3"}) as response:
        lines = response.iter_lines()
        assert json.loads(next(lines)) == {"status": "pulling manifest"}
        assert ollama_emulator.models == {}  # the first line arrived while the pull was still running
        remaining = list(lines)
    assert json.loads(remaining[-1]) == {"status": "success"}
    assert ollama_emulator.models == {"llama3:latest": 100}


def test_ollama_pull_unknown_model_errors_inside_200_stream(ollama_emulator: OllamaEmulator) -> None:
    with client(ollama_emulator) as http:
        response = http.post("/api/pull", json={"name": "no-such-model"})
    assert response.status_code == 200
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines == [{"status": "pulling manifest"}, {"error": MISSING_MANIFEST}]
    assert ollama_emulator.models == {}
    assert ollama_emulator.pull_count["no-such-model:latest"] == 1


def test_ollama_pull_error_mid_stream(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.pull_catalog = {"llama3": {"layers": [100, 200], "chunks": 2, "error_after": 3, "error": "EOF"}}
    with client(ollama_emulator) as http:
        response = http.post("/api/pull", json={"model": "llama3"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert response.status_code == 200
    assert len(lines) == 1 + 3 + 1 and lines[-1] == {"error": "EOF"}
    assert ollama_emulator.models == {}


def test_ollama_pull_ending_without_success(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.pull_catalog = {"llama3": {"end_without_success": True}}
    with client(ollama_emulator) as http:
        response = http.post("/api/pull", json={"model": "llama3"})
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines[-1] == {"status": "writing manifest"}
    assert ollama_emulator.models == {}


def test_ollama_pull_without_streaming(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.pull_catalog = {"llama3": {}}
    with client(ollama_emulator) as http:
        done = http.post("/api/pull", json={"model": "llama3", "stream": False})
        failed = http.post("/api/pull", json={"model": "nothing", "stream": False})
    assert (done.status_code, done.json()) == (200, {"status": "success"})
    assert (failed.status_code, failed.json()) == (500, {"error": MISSING_MANIFEST})


def test_ollama_openai_routes_and_responses_version_gate(ollama_emulator: OllamaEmulator) -> None:
    ollama_emulator.models = {"gpt-oss:20b": 1}
    with client(ollama_emulator) as http:
        chat = http.post("/v1/chat/completions", json={"model": "gpt-oss:20b", "max_tokens": 1,
                                                        "messages": [{"role": "user", "content": "Hi"}]})
        no_messages = http.post("/v1/chat/completions", json={"model": "gpt-oss:20b", "messages": []})
        responses = http.post("/v1/responses", json={"model": "gpt-oss:20b", "input": ""})
        unknown = http.post("/v1/responses", json={"model": "llama3", "input": ""})
        ollama_emulator.version = "0.13.2"
        too_old = http.post("/v1/responses", json={"model": "gpt-oss:20b", "input": ""})
    assert chat.json()["object"] == "chat.completion"
    assert (no_messages.status_code, no_messages.json()["error"]["message"]) == (400, "[] is too short - 'messages'")
    assert responses.json()["object"] == "response"
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    assert (too_old.status_code, too_old.text) == (404, "404 page not found")


def test_stop_during_pull_stream_is_prompt() -> None:
    emulator = OllamaEmulator(pull_catalog={"llama3": {"chunks": 100, "chunk_seconds": 0.1}}).start()
    with client(emulator) as http, http.stream("POST", "/api/pull", json={"model": "llama3"}) as response:
        lines = response.iter_lines()
        next(lines)
        started = time.monotonic()
        emulator.stop()
        with pytest.raises(httpx.RemoteProtocolError):
            list(lines)  # cut short: no terminating chunk
    assert time.monotonic() - started < 2
    assert emulator.errors == []


# ====================================================================== fake lms


def run_lms(
    lms: Path, *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(lms), *args], input=stdin.encode(), capture_output=True, timeout=30, env={**os.environ, **(env or {})}
    )


def test_fake_lms_installed_where_lms_lives(fake_lms: Path, tmp_path: Path) -> None:
    assert fake_lms == tmp_path / "home" / ".lmstudio" / "bin" / "lms"
    assert os.access(fake_lms, os.X_OK)


def test_fake_lms_get_already_downloaded(fake_lms: Path, lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS]
    result = run_lms(fake_lms, "get", GPT_OSS, "--yes")
    assert result.returncode == 0
    assert result.stdout.decode() == f"Model already downloaded. To use, run: lms load {GPT_OSS}\n"
    assert lmstudio_emulator.download_count[GPT_OSS] == 0


def test_fake_lms_get_downloads_with_raw_progress_even_when_piped(
    fake_lms: Path, lmstudio_emulator: LMStudioEmulator
) -> None:
    lmstudio_emulator.catalog = {GPT_OSS: {"steps": 4, "step_seconds": 0.01}}
    result = run_lms(fake_lms, "get", "-y", GPT_OSS)
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0, stderr
    assert "\r" in stdout and "\x1b[2K" in stdout
    assert "100.00%" in stdout and "Downloading [" in stdout
    assert stderr.splitlines() == ["Finalizing download...", "Download completed."]
    assert lmstudio_emulator.downloaded == [GPT_OSS]
    assert lmstudio_emulator.download_count[GPT_OSS] == 1
    assert run_lms(fake_lms, "get", "-y", GPT_OSS).stdout.startswith(b"Model already downloaded")


def test_fake_lms_get_failures(fake_lms: Path, lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.catalog = {QWEN: {"steps": 1, "error": "This download is already in progress."}}
    unknown = run_lms(fake_lms, "get", "--yes", "nobody/nothing")
    failed = run_lms(fake_lms, "get", "--yes", QWEN)
    assert (unknown.returncode, unknown.stderr) == (1, b"Error: Cannot find a model matching nobody/nothing\n")
    assert (failed.returncode, failed.stderr) == (1, b"Error: This download is already in progress.\n")
    assert lmstudio_emulator.downloaded == []


def test_fake_lms_get_without_yes_needs_an_answer(fake_lms: Path, lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.catalog = {GPT_OSS: {"steps": 1}}
    assert run_lms(fake_lms, "get", GPT_OSS).returncode == 1  # stdin at EOF: prompt force-closed
    assert run_lms(fake_lms, "get", GPT_OSS, stdin="y\n").returncode == 0


@pytest.mark.parametrize("option", ["-a", "--always-show-all-results", "-n", "--limit"])
def test_fake_lms_get_rejects_removed_options(fake_lms: Path, option: str) -> None:
    result = run_lms(fake_lms, "get", "--yes", option, GPT_OSS)
    assert result.returncode == 1
    assert result.stderr == f"error: unknown option '{option}'\n".encode()


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_fake_lms_interrupted_exits_1(
    fake_lms: Path, lmstudio_emulator: LMStudioEmulator, tmp_path: Path, signal_number: int
) -> None:
    lmstudio_emulator.catalog = {GPT_OSS: {"steps": 1000, "step_seconds": 0.05}}
    pidfile = tmp_path / "lms.pid"
    env = {**os.environ, "FAKE_LMS_PIDFILE": str(pidfile)}
    with subprocess.Popen(
        [str(fake_lms), "get", "--yes", GPT_OSS], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    ) as process:
        assert process.stdout is not None
        process.stdout.read1(1)  # any output means its signal handlers are installed
        process.send_signal(signal_number)
        started = time.monotonic()
        returncode = process.wait(timeout=5)
        assert time.monotonic() - started < 2
    assert returncode == 1
    assert int(pidfile.read_text()) == process.pid
    assert lmstudio_emulator.downloaded == []


def test_fake_lms_reports_lm_studio_not_running(tmp_path: Path) -> None:
    stopped = LMStudioEmulator().start()
    stopped.stop()
    lms = install_fake_lms(tmp_path / "bin", stopped.origin)
    result = run_lms(lms, "get", "--yes", GPT_OSS)
    assert (result.returncode, result.stderr) == (1, b"Error: LM Studio is not running\n")
    status = run_lms(lms, "server", "status", "--json")
    assert (status.returncode, json.loads(status.stdout)) == (0, {"running": False})


def test_fake_lms_server_env_overrides_embedded_origin(tmp_path: Path, lmstudio_emulator: LMStudioEmulator) -> None:
    lms = install_fake_lms(tmp_path / "bin", "http://127.0.0.1:9")  # nothing listens there
    result = run_lms(lms, "server", "status", "--json", env={"FAKE_LMS_SERVER": lmstudio_emulator.origin})
    assert json.loads(result.stdout) == {"running": True, "port": lmstudio_emulator.port}


def test_fake_lms_load_ps_ls(fake_lms: Path, lmstudio_emulator: LMStudioEmulator) -> None:
    lmstudio_emulator.downloaded = [GPT_OSS, QWEN]
    lmstudio_emulator.token = "secret"  # the real lms does not need the API token
    loaded = run_lms(fake_lms, "load", GPT_OSS, "-c", "16384", "-y")
    assert loaded.returncode == 0, loaded.stderr
    assert lmstudio_emulator.loaded == {GPT_OSS: 16384}
    ps = json.loads(run_lms(fake_lms, "ps", "--json").stdout)
    assert [(i["identifier"], i["modelKey"], i["contextLength"], i["status"]) for i in ps] == [
        (GPT_OSS, GPT_OSS, 16384, "idle")
    ]
    ls = json.loads(run_lms(fake_lms, "ls", "--json").stdout)
    assert [m["modelKey"] for m in ls] == [GPT_OSS, QWEN]
    missing = run_lms(fake_lms, "load", "nobody/nothing")
    assert missing.returncode == 1 and missing.stderr.startswith(b"Error: Invalid model identifier")


def test_fake_lms_logs_invocations(fake_lms: Path, lmstudio_emulator: LMStudioEmulator, tmp_path: Path) -> None:
    log = tmp_path / "lms.log"
    lmstudio_emulator.downloaded = [GPT_OSS]
    run_lms(fake_lms, "get", GPT_OSS, "--yes", env={"FAKE_LMS_LOG": str(log)})
    run_lms(fake_lms, "ps", "--json", env={"FAKE_LMS_LOG": str(log)})
    assert read_invocations(log) == [["get", GPT_OSS, "--yes"], ["ps", "--json"]]

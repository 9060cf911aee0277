"""lmprep against a real llama-server (b11434) in router mode: `--models-dir DIR`, no `-m`.

What these tests rely on was first seen with the real binary: /models gives every model a
`status.value` (`unloaded`, `loading`, `loaded`, `sleeping`; `failed: true` with `exit_code`
when the model's process died), `POST /models/load` loads in the background, `GET
/props?model=ID&autoload=false` reads a running model's window without loading anything, and a
request wakes a model that `--sleep-idle-seconds` put to sleep.
"""

from __future__ import annotations

import pytest

from e2e import run_lmprep, wait_for
from realserver.server import LlamaServer, http_request
from realserver.tiny_gguf import write_tiny_gguf

pytestmark = pytest.mark.real_server


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("router-models")
    write_tiny_gguf(folder / "tiny.gguf")
    write_tiny_gguf(folder / "wide.gguf", context_length=8192)
    (folder / "broken.gguf").write_bytes((folder / "tiny.gguf").read_bytes()[:100_000])  # cut short
    return folder


@pytest.fixture
def router(llama_server_binary, models_dir):
    with LlamaServer(llama_server_binary, None, models_dir=models_dir, context=4096,
                     extra_args=["--no-models-autoload"]) as server:
        yield server


def statuses(server) -> dict[str, str]:
    body = http_request("GET", server.origin + "/models").json()
    return {entry["id"]: entry["status"]["value"] for entry in body["data"]}


def test_status_tells_unloaded_models_from_loaded_ones(router):
    result = run_lmprep("status", "-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny", "--json")
    assert result.returncode == 0, result.stderr
    row = next(p for p in result.json["providers"] if p["name"] == "llamacpp")
    assert (row["model_present"], row["model_loaded"]) == (True, False)
    assert {m["id"]: m["loaded"] for m in row["models"]} == {"broken": False, "tiny": False, "wide": False}
    assert statuses(router)["tiny"] == "unloaded"  # status sends GET requests only, and loads nothing

    http_request("POST", router.origin + "/models/load", {"model": "tiny"})
    wait_for(lambda: statuses(router)["tiny"] == "loaded")
    text = run_lmprep("status", "-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny")
    assert "llamacpp models: broken, tiny (loaded, context 2048), wide" in text.stdout


def test_warm_up_loads_through_the_router_and_waits_until_loaded(router):
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny", "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "ok"
    assert result.json["context_length"] == 2048  # the model's own window, from /props?model=tiny
    assert statuses(router)["tiny"] == "loaded"
    assert "Asking llama-server to load tiny (POST /models/load)" not in result.stderr  # --json: no progress

    again = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny", "--warm-up", "wait", "--json")
    assert again.returncode == 0, again.stderr
    assert again.json["warm_up"]["status"] == "loaded"


def test_the_window_is_read_per_model(router):
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "wide", "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert "Asking llama-server to load wide (POST /models/load)" in result.stderr
    assert result.stderr.rstrip().endswith("context window 4096 tokens: coding agents need more, use --for AGENT")

    too_small = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "wide", "--min-context", "8192")
    assert too_small.returncode == 11
    assert "has 'wide' loaded with a 4096-token context window; 8192 are required" in too_small.stderr
    assert "ctx-size = 8192" in too_small.stderr


def test_router_names_are_exact_and_lmprep_sends_the_listed_one(router):
    # The router looks a request's model up as it is (server-models.cpp get_meta): not "TINY".
    refused = http_request("POST", router.origin + "/v1/chat/completions",
                           {"model": "TINY", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
    assert refused.status != 200
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "TINY", "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert "llama.cpp server (router mode) takes a model only by the id or an alias it lists, exactly: using 'tiny' " \
        "for 'TINY'" in result.stderr
    assert "Ready: tiny on llama.cpp server" in result.stderr


def test_a_model_that_fails_to_load_is_exit_9_with_the_servers_words(router):
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "broken", "--warm-up", "wait")
    assert result.returncode == 9, result.stderr
    assert ("Error: llama-server could not load 'broken': the process it started for the model exited with "
            "status 1 (GET /models: status `unloaded`, failed).") in result.stderr
    assert "Look at llama-server's log" in result.stderr


def test_the_agents_request_works_once_the_router_has_loaded_the_model(router):
    # aider needs 8192 tokens; the tiny model has 2048, so ask for less.
    result = run_lmprep("--for", "aider", "-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny",
                        "--min-context", "1024", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "ok"  # waited for: the agent is told the window
    assert statuses(router)["tiny"] == "loaded"


def test_a_background_load_goes_through_the_router(router):
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "started"
    wait_for(lambda: statuses(router)["tiny"] == "loaded", timeout=30)


def test_a_sleeping_model_is_woken(llama_server_binary, models_dir):
    with LlamaServer(llama_server_binary, None, models_dir=models_dir,
                     extra_args=["--no-models-autoload", "--sleep-idle-seconds", "1"]) as server:
        http_request("POST", server.origin + "/models/load", {"model": "tiny"})
        wait_for(lambda: statuses(server)["tiny"] == "sleeping", timeout=30)
        status = run_lmprep("status", "-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--json")
        row = next(p for p in status.json["providers"] if p["name"] == "llamacpp")
        assert row["model_loaded"] is False

        result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--warm-up", "wait")
        assert result.returncode == 0, result.stderr
        assert "Waking tiny: llama-server put it to sleep (--sleep-idle-seconds)" in result.stderr
        assert "(loaded in " in result.stderr


def test_a_sleeping_single_model_server_is_woken(llama_server_binary, tiny_gguf):
    with LlamaServer(llama_server_binary, tiny_gguf, extra_args=["--sleep-idle-seconds", "1"]) as server:
        wait_for(lambda: http_request("GET", server.origin + "/props").json().get("is_sleeping") is True, timeout=30)
        result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "--warm-up", "wait")
        assert result.returncode == 0, result.stderr
        assert "Waking tiny: llama-server put it to sleep (--sleep-idle-seconds)" in result.stderr
        assert http_request("GET", server.origin + "/props").json()["is_sleeping"] is False


def test_under_for_warm_up_off_still_loads_to_check_the_agents_first_request(router):
    """A router model that is not loaded: only a load shows that it answers llm's first request,
    so under --for even --warm-up off waits for one, and the ready line says why."""
    result = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "tiny", "--for", "llm",
                        "--warm-up", "off")
    assert result.returncode == 0, result.stderr
    assert ("Loading tiny although --warm-up is off: only a load shows that it answers llm's first request"
            in result.stderr)
    assert statuses(router)["tiny"] == "loaded"
    assert ", waited for to check what llm needs); context window 2048 tokens" in result.stderr
    without = run_lmprep("-p", "llamacpp", "--base-url", router.base_url, "-m", "wide", "--warm-up", "off", "--json")
    assert without.returncode == 0 and without.json["warm_up"]["status"] == "off"  # without --for: as asked
    assert statuses(router)["wide"] == "unloaded"

"""Ready means the agent's first request works: its route and request shape, the window it is
told, no silent background failure, no warm-up for a loaded model, --keep-alive on the load.
The installed lmprep against the emulators (real processes, real HTTP)."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from e2e import lmprep_argv, run_lmprep, wait_for, warm_up_states

pytestmark = pytest.mark.e2e
MODEL = "openai/gpt-oss-20b"


def lmstudio(emulator, *args):
    return run_lmprep("-p", "lmstudio", "--base-url", emulator.base_url, *args)


def ollama(emulator, *args):
    return run_lmprep("-p", "ollama", "--base-url", emulator.base_url, "-m", "tiny", *args)


def llamacpp(emulator, *args):
    return run_lmprep("-p", "llamacpp", "--base-url", emulator.base_url, *args)


def posts(emulator) -> list[str]:
    return [request.path for request in emulator.requests if request.method == "POST"]


# -- the agent's route and request shape -------------------------------------------------------

def test_codex_against_lm_studio_without_the_responses_api_is_exit_12(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.responses_supported = False  # LM Studio before 0.3.29
    result = lmstudio(lmstudio_emulator, "--for", "codex", "--json")
    assert result.returncode == 12
    assert result.json["state"] == "agent_unsupported" and result.json["exit_code"] == 12
    assert result.json["agent"] == "codex"
    assert result.json["error"] == {
        "message": f"LM Studio at {lmstudio_emulator.base_url} does not serve the Responses API, the only one Codex "
                   "speaks (POST /v1/responses: HTTP 200: Unexpected endpoint or method. (POST /v1/responses)).",
        "hint": "LM Studio serves /v1/responses from 0.3.29 on: update LM Studio (or llmster).",
    }
    assert lmstudio_emulator.loaded == {}  # told without loading anything


def test_claude_against_lm_studio_before_0_4_1_is_exit_12(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.messages_supported = False
    result = lmstudio(lmstudio_emulator, "--for", "claude", "--warm-up", "off")
    assert result.returncode == 12
    assert "does not serve the Anthropic Messages API, the only one Claude Code speaks" in result.stderr
    assert "LM Studio serves the Anthropic API (/v1/messages) from 0.4.1 on" in result.stderr


@pytest.mark.parametrize("agent, version, since", [
    ("codex", "0.13.0", "0.13.3 (Codex wants 0.13.4)"), ("claude", "0.13.5", "0.14"),
])
def test_ollama_too_old_for_the_agents_api_is_exit_12_naming_the_version(ollama_emulator, agent, version, since):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.version = version
    result = ollama(ollama_emulator, "--for", agent)
    assert result.returncode == 12
    assert "HTTP 404: '404 page not found'" in result.stderr
    assert f"from {since} on (this one is {version}): update it from https://ollama.com/download." in result.stderr
    assert "/api/generate" not in posts(ollama_emulator)


def test_codex_refuses_ollama_0_13_3_although_it_has_the_route(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.version = "0.13.3"
    result = ollama(ollama_emulator, "--for", "codex")
    assert result.returncode == 12
    assert "Error: Codex refuses Ollama older than 0.13.4, and this one is 0.13.3." in result.stderr
    ollama_emulator.default_num_ctx = 65536
    assert ollama(ollama_emulator, "--for", "opencode").returncode == 0


def test_ollama_model_without_tool_support_is_exit_12_before_any_load(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.no_tools = {"tiny"}
    result = ollama(ollama_emulator, "--for", "opencode")
    assert result.returncode == 12
    assert "Error: Ollama says 'tiny' does not support tools, and opencode sends them with every request." \
        in result.stderr
    assert "choose one that lists `tools`" in result.stderr
    assert "/api/generate" not in posts(ollama_emulator)


def test_ollamas_own_words_when_it_refuses_the_tools(ollama_emulator):
    """An Ollama whose /api/show lists no capabilities: the agent's request itself is refused."""
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 65536}
    ollama_emulator.no_tools = {"tiny"}
    ollama_emulator.capabilities_listed = False
    result = ollama(ollama_emulator, "--for", "qwen")
    assert result.returncode == 12
    assert ("refused a request carrying a function tool, as Qwen Code sends with every request "
            "(POST /v1/chat/completions: HTTP 400: registry.ollama.ai/library/tiny:latest does not support tools)"
            in result.stderr)


def test_llama_server_without_jinja_is_exit_12_naming_the_flag(llamacpp_emulator):
    llamacpp_emulator.jinja = False
    result = llamacpp(llamacpp_emulator, "--for", "codex")
    assert result.returncode == 12
    assert "(POST /v1/responses: HTTP 500: tools param requires --jinja flag)" in result.stderr
    assert "Restart llama-server with --jinja" in result.stderr


def test_llama_server_refusing_codexs_tool_types_is_exit_12(llamacpp_emulator):
    llamacpp_emulator.function_tools_only = True  # openai/codex#10635
    codex = llamacpp(llamacpp_emulator, "--for", "codex")
    assert codex.returncode == 12
    assert "'type' of tool must be 'function'" in codex.stderr and "update llama.cpp" in codex.stderr
    # Chat agents send function tools only: the same server serves them.
    assert llamacpp(llamacpp_emulator, "--for", "opencode").returncode == 0


def test_llama_server_without_the_messages_route_is_exit_12_for_claude(llamacpp_emulator):
    llamacpp_emulator.missing_routes = {"/v1/messages"}
    result = llamacpp(llamacpp_emulator, "--for", "claude")
    assert result.returncode == 12
    assert "(POST /v1/messages: HTTP 404: File Not Found)" in result.stderr


def test_a_stream_cut_before_its_end_is_exit_12(llamacpp_emulator):
    llamacpp_emulator.cut_streams = True
    result = llamacpp(llamacpp_emulator, "--for", "codex")
    assert result.returncode == 12
    assert "did not stream its answer as Codex reads it" in result.stderr
    assert "the streamed answer ended before `response.completed`" in result.stderr


def test_ready_for_codex_sends_codexs_first_request_in_miniature(llamacpp_emulator):
    result = llamacpp(llamacpp_emulator, "--for", "codex", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["agent"] == "codex" and result.json["warm_up"]["status"] == "loaded"
    probe, request = llamacpp_emulator.requests_to("POST", "/v1/responses")
    assert probe.json == {}
    body = request.json
    assert body["stream"] is True and body["max_output_tokens"] == 1 and body["tool_choice"] == "auto"
    assert [tool["type"] for tool in body["tools"]] == ["function", "namespace", "web_search"]


def test_ready_for_claude_uses_the_root_and_the_anthropic_headers(llamacpp_emulator):
    result = llamacpp(llamacpp_emulator, "--for", "claude")
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith(
        f"Ready for Claude Code: tiny on llama.cpp server at {llamacpp_emulator.base_url} (already loaded); "
        "context window 131072 tokens")
    request = llamacpp_emulator.requests_to("POST", "/v1/messages")[-1]
    assert request.query == "beta=true" and request.header("anthropic-version") == "2023-06-01"


def test_without_for_nothing_is_checked(llamacpp_emulator):
    llamacpp_emulator.jinja = False
    result = llamacpp(llamacpp_emulator)
    assert result.returncode == 0, result.stderr
    assert posts(llamacpp_emulator) == []


@pytest.mark.parametrize("mode", ["background", "off"])
def test_under_for_the_ready_line_waits_for_the_agents_first_request(ollama_emulator, isolated_home, mode):
    """A generic OpenAI SDK client needs no minimum window, but its first request (with tools)
    can only be checked once the model is loaded: under --for that load is waited for, with
    --warm-up background or off, and a refusal is this run's exit 12, not the next one's."""
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.no_tools = {"tiny"}
    ollama_emulator.capabilities_listed = False
    first = ollama(ollama_emulator, "--for", "openai", "--warm-up", mode)
    assert first.returncode == 12, first.stderr
    assert "does not support tools" in first.stderr
    waited = ("Waiting for the load: only a finished load shows that it answers an OpenAI SDK client's first request"
              if mode == "background" else "Loading tiny although --warm-up is off: only a load shows that it answers "
                                           "an OpenAI SDK client's first request")
    assert waited in first.stderr
    assert "Loaded tiny, but the agent's first request was refused" in first.stderr
    assert "Loading tiny failed" not in first.stderr
    assert [s["status"] for s in warm_up_states(isolated_home)] == ["error"]  # recorded, and nothing left running


# -- the true context window -----------------------------------------------------------------

def test_env_waits_for_a_reload_and_tells_codex_the_new_window(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    lmstudio_emulator.load_seconds = 0.5
    result = run_lmprep("env", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert result.returncode == 0, result.stderr
    assert ("Waiting for the load: only a finished load shows that it holds the 65536 tokens of context Codex needs "
            "and answers its first request\n" in result.stderr)
    assert "-c model_context_window=65536" in result.stderr and "4096" not in result.stderr.split("Ready")[-1]
    assert lmstudio_emulator.loaded == {MODEL: 65536}
    # The 4096-token instance was unloaded first: LM Studio would keep both.
    loads = [path for path in posts(lmstudio_emulator) if path.startswith("/api/")]
    assert loads == ["/api/v1/models/unload", "/api/v1/models/load"]
    assert lmstudio_emulator.instances[MODEL] == 1


@pytest.mark.parametrize("agent, variable", [("claude", "CLAUDE_CODE_AUTO_COMPACT_WINDOW"),
                                             ("goose", "GOOSE_INPUT_LIMIT")])
def test_env_tells_the_window_read_back_from_ollama(ollama_emulator, agent, variable):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.version = "0.33.0"
    ollama_emulator.default_num_ctx = 131072  # OLLAMA_CONTEXT_LENGTH on the server
    result = run_lmprep("env", "--for", agent, "-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "tiny",
                        "--min-context", "65536")
    assert result.returncode == 0, result.stderr
    assert f"export {variable}='131072'" in result.stdout
    assert ollama_emulator.loaded == {"tiny": 131072}


def test_a_background_reload_never_reports_the_old_window(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    lmstudio_emulator.load_seconds = 0.5
    result = lmstudio(lmstudio_emulator, "--min-context", "32768", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"]["status"] == "started"
    assert result.json["context_length"] is None
    load = lmstudio_emulator.wait_for_request("POST", "/api/v1/models/load", timeout=15)
    assert load.json == {"model": MODEL, "context_length": 32768}


def test_two_quick_runs_load_once_and_the_second_tells_the_new_window(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    lmstudio_emulator.load_seconds = 6.0  # the second run must start while it loads, also on a busy machine
    first = lmstudio(lmstudio_emulator, "--min-context", "65536")
    assert first.returncode == 0, first.stderr
    lmstudio_emulator.wait_for_request("POST", "/api/v1/models/load", timeout=15)
    second = run_lmprep("env", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert second.returncode == 0, second.stderr
    assert f"Another lmprep is loading {MODEL}; waiting for it" in second.stderr
    assert "-c model_context_window=65536" in second.stderr
    assert len(lmstudio_emulator.requests_to("POST", "/api/v1/models/load")) == 1


# -- no silent background failure ------------------------------------------------------------

def test_a_failed_background_load_makes_the_next_run_load_in_the_foreground(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.fail_load = {MODEL: "Failed to load model: out of memory"}
    first = lmstudio(lmstudio_emulator)
    assert first.returncode == 0 and "loading in the background" in first.stderr
    wait_for(lambda: [s for s in warm_up_states(isolated_home) if s["status"] == "error"], timeout=15)
    second = lmstudio(lmstudio_emulator)
    assert second.returncode == 9
    assert (f"warning: The last background load of {MODEL} failed: LM Studio could not load '{MODEL}' (POST /responses: "
            "HTTP 500: Failed to load model: out of memory). Loading it in the foreground.") in second.stderr
    assert "Error: LM Studio could not load" in second.stderr

    status = run_lmprep("status", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert f"({MODEL}): LM Studio could not load '{MODEL}' (POST /respon…\n" in status.stdout
    assert (f"lmstudio: The last load of {MODEL!r} on LM Studio failed: LM Studio could not load '{MODEL}' "
            "(POST /responses: HTTP 500: Failed to load model: out of memory).") in status.stdout
    assert status.returncode == 9  # not ready: the model is not loaded, and its last load failed

    lmstudio_emulator.fail_load = {}
    third = lmstudio(lmstudio_emulator)  # loads in the foreground, and records that it worked
    assert third.returncode == 0 and "(loaded in" in third.stderr
    lmstudio_emulator.loaded = {}
    fourth = lmstudio(lmstudio_emulator)
    assert fourth.returncode == 0 and "loading in the background" in fourth.stderr


# -- already loaded is ready -----------------------------------------------------------------

def test_a_loaded_model_gets_no_warm_up_and_no_process(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 8192}
    result = lmstudio(lmstudio_emulator, "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"] == {"mode": "background", "status": "loaded", "seconds": None}
    assert result.json["context_length"] == 8192
    assert posts(lmstudio_emulator) == []
    assert warm_up_states(isolated_home) == []  # no warm-up process ever wrote one
    text = lmstudio(lmstudio_emulator)
    assert text.stderr.rstrip().endswith("(already loaded); context window 8192 tokens: coding agents need more, use --for AGENT")


# -- keep it loaded --------------------------------------------------------------------------

def test_keep_alive_reaches_ollamas_load_and_a_loaded_model(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    loading = ollama(ollama_emulator, "--keep-alive", "30m", "--warm-up", "wait")
    assert loading.returncode == 0, loading.stderr
    assert ollama_emulator.requests_to("POST", "/api/generate")[-1].json == {"model": "tiny", "keep_alive": 1800}
    forever = ollama(ollama_emulator, "--keep-alive", "-1")
    assert forever.returncode == 0 and "(already loaded)" in forever.stderr
    assert ollama_emulator.requests_to("POST", "/api/generate")[-1].json == {"model": "tiny", "keep_alive": -1}
    assert ollama_emulator.load_count == 1  # the second only set how long it stays


def test_keep_alive_is_lm_studios_ttl_or_an_explicit_load_for_ever(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    result = lmstudio(lmstudio_emulator, "--keep-alive", "2h", "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert lmstudio_emulator.requests_to("POST", "/v1/responses")[-1].json["ttl"] == 7200
    assert lmstudio_emulator.ttl == {MODEL: 7200}
    lmstudio_emulator.loaded = {}
    result = lmstudio(lmstudio_emulator, "--keep-alive", "-1", "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert lmstudio_emulator.requests_to("POST", "/api/v1/models/load")[-1].json == {"model": MODEL}


def test_keep_alive_where_the_server_decides_is_a_notice(llamacpp_emulator):
    result = llamacpp(llamacpp_emulator, "--keep-alive", "30m")
    assert result.returncode == 0
    assert "llama.cpp server decides how long tiny stays loaded; --keep-alive does not apply." in result.stderr


def test_keep_alive_that_is_not_a_duration_is_a_usage_error():
    result = run_lmprep("--keep-alive", "soon")
    assert result.returncode == 2
    assert "'soon' is not a duration" in result.stderr


def test_keep_alive_from_the_config_file(ollama_emulator, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('keep_alive = "45m"\n')
    ollama_emulator.models = {"tiny": 1}
    result = ollama(ollama_emulator, "--config", str(config), "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert ollama_emulator.requests_to("POST", "/api/generate")[-1].json["keep_alive"] == 2700


# -- one shell line --------------------------------------------------------------------------

def test_ready_for_an_agent_then_the_agent_in_one_shell_line(llamacpp_emulator):
    """`lmprep --for codex && agent`: the agent runs only when lmprep said ready."""
    line = f"{shlex.join(lmprep_argv())} -q -p llamacpp --base-url {llamacpp_emulator.base_url} --for codex && echo go"
    assert subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=60).stdout == "go\n"
    llamacpp_emulator.jinja = False
    assert subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=60).stdout == ""


def test_json_documents_the_agent_and_loaded_status(llamacpp_emulator):
    payload = json.loads(llamacpp(llamacpp_emulator, "--for", "opencode", "--json").stdout)
    assert (payload["agent"], payload["warm_up"]["status"], payload["context_length"]) == ("opencode", "loaded", 131072)


# -- under --for, ready rests only on what was checked -------------------------------------------

def test_for_with_warm_up_off_loads_to_check_the_window_and_says_what_it_found(ollama_emulator, isolated_home):
    """An Ollama with its default 4096-token window: --warm-up off is no way around the check."""
    ollama_emulator.models = {"tiny": 1}
    result = ollama(ollama_emulator, "--for", "opencode", "--warm-up", "off")
    assert result.returncode == 11, result.stderr
    assert "Error: Ollama has 'tiny' loaded with a 4096-token context window; 65536 are required" in result.stderr
    assert "Loading tiny although --warm-up is off: only a load shows that it holds the 65536 tokens of context " \
           "opencode needs and answers its first request" in result.stderr
    # The load worked; the window is what failed, and the progress line says so.
    assert "Loaded tiny, but with too small a context window" in result.stderr
    assert "Loading tiny failed" not in result.stderr


def test_for_with_warm_up_off_is_ready_only_once_checked_and_the_line_says_why_it_waited(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.default_num_ctx = 65536
    result = ollama(ollama_emulator, "--for", "opencode", "--warm-up", "off")
    assert result.returncode == 0, result.stderr
    assert "/api/generate" in posts(ollama_emulator) or "/api/chat" in posts(ollama_emulator)
    assert "/v1/chat/completions" in posts(ollama_emulator)  # opencode's first request, sent and answered
    assert "(loaded in " in result.stderr and ", waited for to check what opencode needs)" in result.stderr
    assert result.stderr.rstrip().endswith("; context window 65536 tokens")


def test_without_for_warm_up_off_and_background_stay_as_they_were(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    off = ollama(ollama_emulator, "--warm-up", "off")
    assert off.returncode == 0 and posts(ollama_emulator) == []
    background = ollama(ollama_emulator)
    assert background.returncode == 0 and "(loading in the background;" in background.stderr


def test_a_small_window_reported_ready_without_for_says_agents_need_more(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 4096}
    small = ollama(ollama_emulator)
    assert small.returncode == 0
    assert small.stderr.rstrip().endswith(
        "(already loaded); context window 4096 tokens: coding agents need more, use --for AGENT")
    ollama_emulator.loaded = {"tiny": 16384}
    assert ollama(ollama_emulator).stderr.rstrip().endswith("(already loaded); context window 16384 tokens")


# -- each agent's minimum, as that agent uses that server ------------------------------------------

def test_aider_on_ollama_is_ready_with_ollamas_default_window(ollama_emulator, tmp_path):
    """aider sends Ollama `num_ctx` with every request (8192 + its prompt): the loaded window
    (Ollama's default 4096) does not limit it, so it is no exit 11."""
    ollama_emulator.models = {"tiny": 1}
    result = ollama(ollama_emulator, "--for", "aider", "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert "aider sets Ollama's context window itself with each request" in result.stderr
    assert result.stderr.rstrip().endswith(
        "; context window 4096 tokens as loaded (aider asks for the window it needs with each request)")
    # aider is told it has at least the 8192 it asks for, not the 4096 loaded for the warm-up.
    env = run_lmprep("env", "--for", "aider", "-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "tiny",
                     "--format", "json", "-q")
    assert env.returncode == 0, env.stderr
    metadata = json.loads(Path(env.json["AIDER_MODEL_METADATA_FILE"]).read_text())
    assert metadata["ollama_chat/tiny"]["max_input_tokens"] == 8192


def test_aider_on_ollama_still_needs_a_model_that_holds_8192_tokens(ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.max_context = {"tiny": 4096}
    result = ollama(ollama_emulator, "--for", "aider")
    assert result.returncode == 11
    assert "'tiny' supports at most 4096 tokens of context, fewer than the 8192 required" in result.stderr


def test_aider_elsewhere_and_an_explicit_min_context_still_check_the_loaded_window(ollama_emulator,
                                                                                  llamacpp_emulator):
    ollama_emulator.models = {"tiny": 1}
    explicit = ollama(ollama_emulator, "--for", "aider", "--min-context", "8192", "--warm-up", "wait")
    assert explicit.returncode == 11  # asked for by the user: the loaded window it is
    llamacpp_emulator.n_ctx = 4096
    llama = llamacpp(llamacpp_emulator, "--for", "aider")  # 4096 tokens, and aider cannot change them there
    assert llama.returncode == 11


def test_for_an_agent_not_on_path_says_how_to_install_it_before_anything_is_loaded(lmstudio_emulator, tmp_path):
    """Issue 16.8: the agent program on PATH is a check that needs no model: it comes first."""
    lmstudio_emulator.downloaded = [MODEL]
    result = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                        env={"PATH": str(tmp_path)})
    lines = result.stderr.splitlines()
    assert lines[0] == "warning: codex is not on PATH: install Codex with `npm install -g @openai/codex@0.171.0`."
    assert lines[1].startswith("Checking LM Studio at")  # before the server is asked anything
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "codex").write_text("#!/bin/sh\n")
    (bin_dir / "codex").chmod(0o755)
    found = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                       env={"PATH": str(bin_dir)})
    assert "not on PATH" not in found.stderr

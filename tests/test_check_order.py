"""Under --for, every check that needs no model runs before any download or load: the agent's
route, the server's version, and the tool support the server states for a model it has. An
Ollama too old for the agent once pulled 18 GB before saying so. The installed lmprep against
the emulators (real processes, real HTTP)."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.dmr import DockerModelRunnerEmulator

pytestmark = pytest.mark.e2e


def posts(server) -> list[str]:
    return [request.path for request in server.requests if request.method == "POST"]


@pytest.mark.parametrize("agent, version, refusal", [
    ("codex", "0.12.0", "does not serve the Responses API, the only one Codex speaks"),
    # 0.13.3 has the route, and Codex refuses it for its version
    ("codex", "0.13.3", "Codex refuses Ollama older than 0.13.4, and this one is 0.13.3."),
    ("claude", "0.13.5", "does not serve the Anthropic Messages API, the only one Claude Code speaks"),
])
def test_ollama_too_old_for_the_agent_is_exit_12_before_the_pull(ollama_emulator, agent, version, refusal):
    ollama_emulator.version = version
    ollama_emulator.pull_catalog = {"qwen3-coder": {"layers": [18_000_000], "chunks": 2}}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "qwen3-coder",
                        "--for", agent, "--json")
    assert result.returncode == 12, result.stderr
    assert refusal in result.json["error"]["message"]
    assert result.json["downloaded"] is False
    assert sum(ollama_emulator.pull_count.values()) == 0  # nothing pulled
    assert "/api/generate" not in posts(ollama_emulator)  # nothing loaded


def test_docker_model_runner_without_the_responses_api_is_exit_12_before_the_pull():
    with DockerModelRunnerEmulator(catalog={"ai/qwen3:latest": 12_000_000_000}) as dmr:
        result = run_lmprep("-p", "dmr", "--base-url", dmr.base_url, "-m", "ai/qwen3", "--for", "codex", "--json")
        assert result.returncode == 12, result.stderr
        assert "does not serve the Responses API, the only one Codex speaks (POST /engines/v1/responses: HTTP 404" \
            in result.json["error"]["message"]
        assert result.json["downloaded"] is False
        assert "/models/create" not in posts(dmr)  # nothing pulled
        assert dmr.loaded == {}


def test_the_route_is_checked_before_the_progress_of_a_download(ollama_emulator):
    """What a user sees: the check, then the error; no "Pulling ..." line."""
    ollama_emulator.version = "0.12.0"
    ollama_emulator.pull_catalog = {"qwen3-coder": {}}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "qwen3-coder",
                        "--for", "codex")
    assert result.returncode == 12
    # (where no codex is on PATH, a warning saying so comes first: not the server's business)
    lines = [line for line in result.stderr.splitlines() if "codex is not on PATH" not in line]
    assert lines[:2] == [f"Checking Ollama at {ollama_emulator.base_url}",
                         "Checking that Ollama serves the Responses API, as Codex needs"]
    assert lines[2].startswith("Error: Ollama at ")
    assert "Pulling" not in result.stderr


def test_a_model_pulled_without_tool_support_is_exit_12_before_its_load(ollama_emulator):
    """The model-free checks pass; once the server knows the model, what it says of its tools is read
    before any load."""
    ollama_emulator.pull_catalog = {"tiny": {"layers": [1000], "chunks": 1}}
    ollama_emulator.no_tools = {"tiny"}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "tiny", "--for", "opencode",
                        "--json")
    assert result.returncode == 12, result.stderr
    assert result.json["error"]["message"] == (
        "Ollama says 'tiny' does not support tools, and opencode sends them with every request.")
    assert result.json["downloaded"] is True
    assert "/api/generate" not in posts(ollama_emulator)


def test_a_new_enough_ollama_pulls_and_is_ready_for_the_agent(ollama_emulator):
    ollama_emulator.version = "0.14.0"
    ollama_emulator.default_num_ctx = 131072
    ollama_emulator.pull_catalog = {"qwen3-coder": {"layers": [1000], "chunks": 1}}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "qwen3-coder",
                        "--for", "claude", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["downloaded"] is True
    # the route check (an empty body) came before the pull, the agent's first request after the load
    order = [path for path in posts(ollama_emulator) if path in ("/v1/messages", "/api/pull", "/api/generate")]
    assert order == ["/v1/messages", "/api/pull", "/api/generate", "/v1/messages"]

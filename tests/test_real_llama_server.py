"""lmprep against a real llama-server serving a tiny GGUF model the tests write themselves."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from lmprep.shells import failure
from realserver.loading_proxy import LoadingProxy

pytestmark = pytest.mark.real_server


def test_a_running_llama_server_has_its_model_loaded(llama_server):
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    payload = result.json
    assert (payload["provider"], payload["model"], payload["model_source"]) == ("llamacpp", "tiny", "served")
    assert payload["warm_up"] == {"mode": "wait", "status": "loaded", "seconds": None}
    assert payload["context_length"] == 2048


def test_named_model_that_is_served(llama_server):
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "-m", "tiny")
    assert result.returncode == 0, result.stderr
    assert result.stderr.rstrip().endswith(
        f"Ready: tiny on llama.cpp server at {llama_server.base_url} (already loaded); context window 2048 tokens"
        ": coding agents need more, use --for AGENT")


def test_model_that_is_not_served_is_exit_6(llama_server):
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "-m", "qwen3-8b")
    assert result.returncode == 6
    assert (f"Error: llama.cpp server at {llama_server.base_url} does not have 'qwen3-8b', "
            "and llama.cpp server cannot download models.") in result.stderr
    assert "llama-server -m qwen3-8b.gguf --alias qwen3-8b" in result.stderr


def test_provider_is_recognised_from_the_server_itself(llama_server):
    result = run_lmprep("--base-url", llama_server.base_url, "--warm-up", "off", "--json")
    assert result.returncode == 0, result.stderr
    assert (result.json["provider"], result.json["provider_source"]) == ("llamacpp", "auto-detected")


def test_server_still_loading_is_waited_for(llama_server):
    with LoadingProxy(llama_server.origin, loading_seconds=1.5) as proxy:
        result = run_lmprep("-p", "llamacpp", "--base-url", proxy.base_url, "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert proxy.loading_responses >= 1 and proxy.forwarded_responses >= 1
    assert result.json["warm_up"]["status"] == "loaded"


def test_loading_longer_than_the_deadline_is_exit_10(llama_server):
    with LoadingProxy(llama_server.origin, loading_seconds=30) as proxy:
        result = run_lmprep("-p", "llamacpp", "--base-url", proxy.base_url, "--timeout", "1.5")
    assert result.returncode == 10
    assert "Gave up after 1.5 s (--timeout) while waiting for llama.cpp server to load its model." in result.stderr


def test_openai_kind_and_custom_entry(llama_server, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.box]\nkind = "openai"\nbase_url = "{llama_server.base_url}"\nmodel = "tiny"\n')
    result = run_lmprep("-p", "box", "--config", str(config), "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    assert (result.json["provider"], result.json["model_source"]) == ("box", f"config {config}")


def test_the_training_context_is_a_ceiling_exit_11_says_so(llama_server):
    """b11434 caps -c at the model's training context (n_ctx_train): no restart flag helps."""
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "--min-context", "4096")
    assert result.returncode == 11
    assert result.stderr.endswith(
        "Error: 'tiny' supports at most 2048 tokens of context, fewer than the 4096 required (from --min-context).\n"
        "Choose a model with a larger context window, or ask for at most that with --min-context 2048.\n")
    assert "-c 4096" not in result.stderr


def test_a_window_below_the_training_context_is_exit_11_with_the_restart_flag(llama_server_binary, tmp_path):
    from realserver.server import LlamaServer
    from realserver.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path / "tiny8k.gguf", context_length=8192)
    with LlamaServer(llama_server_binary, model, context=2048, alias="tiny") as server:
        result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "--min-context", "4096")
    assert result.returncode == 11
    assert ("Error: llama.cpp server has 'tiny' loaded with a 2048-token context window; 4096 are required "
            "(from --min-context).") in result.stderr
    assert "restart it with `-c 4096`" in result.stderr


def test_context_window_large_enough_passes_and_is_reported(llama_server):
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "--min-context", "1024", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["context_length"] == 2048


def test_env_for_codex_needs_its_64k_window(llama_server):
    result = run_lmprep("env", "--for", "codex", "-p", "llamacpp", "--base-url", llama_server.base_url)
    assert result.returncode == 11
    assert result.stdout == failure("sh", 11)  # no variable: what fails `eval "$(lmprep env)" && codex`
    assert "fewer than the 65536 required (from --for codex)" in result.stderr


def test_explicit_min_context_overrides_the_agents_default(llama_server):
    result = run_lmprep("env", "--for", "codex", "-p", "llamacpp", "--base-url", llama_server.base_url,
                        "--min-context", "1024")
    assert result.returncode == 0, result.stderr
    assert "-c model_context_window=2048" in result.stderr


def test_text_output_shows_the_context_window(llama_server):
    result = run_lmprep("-p", "llamacpp", "--base-url", llama_server.base_url, "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert "; context window 2048 tokens: coding agents need more, use --for AGENT\n" in result.stderr


# -- ready for the agent: the real server ---------------------------------------------------------

@pytest.fixture(scope="module")
def agent_gguf(tmp_path_factory):
    """The tiny model with the 128k-token training context agents need."""
    from realserver.tiny_gguf import write_tiny_gguf

    return write_tiny_gguf(tmp_path_factory.mktemp("agent-gguf") / "tiny128k.gguf", context_length=131072)


@pytest.fixture
def agent_server(llama_server_binary, agent_gguf):
    from realserver.server import LlamaServer

    with LlamaServer(llama_server_binary, agent_gguf, context=131072, alias="tiny") as server:
        yield server


@pytest.mark.parametrize("agent, label", [("codex", "Codex"), ("claude", "Claude Code"), ("opencode", "opencode"),
                                          ("openai", "an OpenAI SDK client")])
def test_the_stock_server_is_ready_for_each_agent(agent_server, agent, label):
    result = run_lmprep("-p", "llamacpp", "--base-url", agent_server.base_url, "--for", agent, "--json")
    assert result.returncode == 0, result.stderr
    assert (result.json["agent"], result.json["warm_up"]["status"], result.json["context_length"]) == (
        agent, "loaded", 131072)
    text = run_lmprep("-p", "llamacpp", "--base-url", agent_server.base_url, "--for", agent)
    assert f"Ready for {label}: tiny on llama.cpp server" in text.stderr


def test_env_for_codex_on_the_stock_server_tells_codex_its_window(agent_server):
    result = run_lmprep("env", "--for", "codex", "-p", "llamacpp", "--base-url", agent_server.base_url)
    assert result.returncode == 0, result.stderr
    assert "-c model_context_window=131072" in result.stderr
    assert "-c model_providers.lmprep.wire_api=responses" in result.stderr


def test_a_server_without_jinja_is_exit_12_naming_the_flag(llama_server_binary, agent_gguf):
    from realserver.server import LlamaServer

    with LlamaServer(llama_server_binary, agent_gguf, context=131072, alias="tiny",
                     extra_args=["--no-jinja"]) as server:
        for agent in ("codex", "claude", "opencode"):
            result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "--for", agent)
            assert result.returncode == 12, result.stderr
            assert "HTTP 500: tools param requires --jinja flag" in result.stderr
            assert "Restart llama-server with --jinja" in result.stderr
        # aider sends no tools: the same server serves it.
        assert run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "--for", "aider").returncode == 0

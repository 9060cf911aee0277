"""One load, not two: the config names the agent the user runs (`for = `, top level and per
provider; LMPREP_FOR), and a reload needed while a background load runs replaces it."""

from __future__ import annotations

from e2e import pid_alive, run_lmprep, warm_up_states

MODEL = "openai/gpt-oss-20b"


def write_config(isolated_home, text: str):
    path = isolated_home / "for.toml"
    path.write_text(text)
    return str(path)


def loads(emulator) -> list:
    """The window of every load the server was asked for (None: a just-in-time load at its default)."""
    windows = []
    for request in list(emulator.requests):
        if request.path == "/api/v1/models/load":
            windows.append(request.body_object().get("context_length"))
        elif request.path == "/v1/responses" and request.body_object().get("input") == "" \
                and not windows:  # the warm-up's JIT load (the agent's first request, checked later, is not a load)
            windows.append(None)
    return windows


def test_for_in_the_config_loads_once_at_the_agents_window(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    config = write_config(isolated_home, 'for = "codex"\n')
    first = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--config", config, "--json")
    assert first.returncode == 0, first.stderr
    assert (first.json["agent"], first.json["context_length"]) == ("codex", 65536)
    again = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                       "--config", config, "--json")
    assert again.json["warm_up"]["status"] == "loaded"
    assert lmstudio_emulator.load_count == 1 and loads(lmstudio_emulator) == [65536]


def test_without_it_the_usual_flow_loads_twice(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    first = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "wait")
    assert first.returncode == 0, first.stderr
    again = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert again.returncode == 0, again.stderr
    assert lmstudio_emulator.load_count == 2  # what `for = ` saves


def test_a_providers_own_for_wins_over_the_top_level_one_and_the_command_line_over_both(isolated_home):
    config = write_config(isolated_home, 'for = "codex"\n[providers.ollama]\nfor = "claude"\n')
    show = run_lmprep("config", "show", "--config", config, "-p", "ollama", "--json").json
    assert show["agent"] == {"value": "claude", "source": f"config {config}"}
    assert show["min_context"] == {"value": 100000, "source": f"for = claude in config {config}"}
    assert show["providers"]["ollama"]["for"] == {"value": "claude", "source": f"config {config}"}
    lmstudio = run_lmprep("config", "show", "--config", config, "-p", "lmstudio", "--json").json
    assert lmstudio["agent"]["value"] == "codex" and lmstudio["min_context"]["value"] == 65536

    variable = run_lmprep("config", "show", "--config", config, "-p", "ollama", "--json",
                          env={"LMPREP_FOR": "aider"}).json
    assert variable["agent"] == {"value": "aider", "source": "LMPREP_FOR"}
    assert variable["min_context"] == {"value": 8192, "source": "LMPREP_FOR=aider"}

    generic = run_lmprep("config", "show", "--config", config, "-p", "ollama", "--for", "openai").stdout
    assert "for              openai (--for)" in generic
    assert "min_context      none (default)" in generic
    assert "  for            claude (config" in generic  # the provider's entry, shown with its source


def test_an_unknown_agent_in_the_config_or_lmprep_for_is_exit_3(isolated_home):
    config = write_config(isolated_home, 'for = "cursor"\n')
    result = run_lmprep("config", "show", "--config", config)
    assert result.returncode == 3
    assert "invalid at line 1, column 7: `for` must be one of 'openai', 'codex'" in result.stderr
    result = run_lmprep("config", "show", env={"LMPREP_FOR": "cursor"})
    assert result.returncode == 3
    assert "Unknown agent 'cursor' (from LMPREP_FOR)." in result.stderr


def test_an_auto_detected_provider_takes_its_own_for(ollama_emulator, isolated_home, monkeypatch):
    ollama_emulator.models = {"gpt-oss:20b": 1}
    ollama_emulator.loaded = {"gpt-oss:20b": 4096}
    config = write_config(isolated_home, f'[providers.ollama]\nbase_url = "{ollama_emulator.origin}/v1"\nfor = "codex"\n')
    result = run_lmprep("--config", config, "--json")
    # Found by auto-detection, then held to codex's window: Ollama's 4096 is too small.
    assert result.json["provider"] == "ollama" and result.json["exit_code"] == 11, result.stdout
    assert "65536 are required (from for = codex in config" in result.json["error"]["message"]


def test_env_sets_the_configured_agents_variables(llamacpp_emulator, isolated_home):
    llamacpp_emulator.n_ctx = 65536
    config = write_config(isolated_home, 'for = "claude"\n')
    result = run_lmprep("env", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url, "--config", config,
                        "--min-context", "2048")
    assert result.returncode == 0, result.stderr
    assert "ANTHROPIC_BASE_URL=" in result.stdout


def test_a_reload_replaces_a_background_load_at_another_window(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 4.0
    first = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json")
    assert first.json["warm_up"]["status"] == "started"
    lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)  # the background load is under way
    [running] = warm_up_states(isolated_home)
    assert running["status"] == "running" and pid_alive(running["pid"])

    again = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json")
    assert again.returncode == 0, again.stderr
    assert again.json["context_length"] == 65536
    assert not pid_alive(running["pid"])  # stopped, not waited for
    [record] = warm_up_states(isolated_home)
    assert (record["mode"], record["status"], record["context_length"]) == ("wait", "ok", 65536)


def test_the_replacement_is_said_on_stderr(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 4.0
    run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)
    again = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert again.returncode == 0, again.stderr
    assert f"Stopped the background load of {MODEL} (the server's default window): loading it with 65536 tokens " \
           "instead" in again.stderr
    assert "Another lmprep is loading" not in again.stderr


def test_a_background_load_at_the_window_needed_is_waited_for(lmstudio_emulator, isolated_home):
    """Nothing to replace: the running load gives what is needed."""
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 3.0
    first = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--min-context", "64k")
    assert first.returncode == 0, first.stderr
    lmstudio_emulator.wait_for_request("POST", "/api/v1/models/load", timeout=15)
    again = run_lmprep("--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert again.returncode == 0, again.stderr
    assert f"Another lmprep is loading {MODEL}; waiting for it" in again.stderr
    [record] = warm_up_states(isolated_home)
    assert (record["mode"], record["status"]) == ("background", "ok")
    assert lmstudio_emulator.load_count == 1


def test_none_names_no_agent_over_a_for_that_would_apply(isolated_home):
    config = write_config(isolated_home, 'for = "codex"\n[providers.ollama]\nfor = "none"\n')
    ollama = run_lmprep("config", "show", "--config", config, "-p", "ollama", "--json").json
    assert ollama["agent"] is None and ollama["min_context"]["value"] is None
    lmstudio = run_lmprep("config", "show", "--config", config, "-p", "lmstudio", "--json",
                          env={"LMPREP_FOR": "none"}).json
    assert lmstudio["agent"] is None and lmstudio["min_context"]["value"] is None

"""What `lmprep env`/`exec` give each agent, per provider kind (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmprep.agents import AGENTS, PLACEHOLDER_KEY, agent_setup, merged_no_proxy
from lmprep.errors import NotConfiguredError

LOOPBACK = "127.0.0.1,localhost,::1"
LMS = dict(provider="lmstudio", kind="lmstudio", base_url="http://127.0.0.1:1234/v1", model="openai/gpt-oss-20b")
OLLAMA = dict(provider="ollama", kind="ollama", base_url="http://127.0.0.1:11434/v1", model="gpt-oss:20b")
LLAMA = dict(provider="llamacpp", kind="llamacpp", base_url="http://127.0.0.1:8080/v1", model="tiny")
MODEL_ID = "openai/gpt-oss-20b"
PROXY = dict(provider="gpu-box", kind="openai", base_url="http://10.0.0.5:8000/api/v1", model="Qwen/Qwen3-8B")


def setup(agent, target, **extra):
    # The offline switches are checked on their own (test_agent_session_setup.py).
    return agent_setup(agent, **target, environ={"LMPREP_AGENT_ONLINE": "1"}, **extra)


def without_proxy(variables: dict) -> dict:
    assert variables.pop("NO_PROXY") == variables.pop("no_proxy")
    return variables


def test_generic_openai_is_the_default_set():
    result = setup("openai", LMS)
    assert result.args == [] and result.notes == []
    assert result.variables == {
        "OPENAI_BASE_URL": "http://127.0.0.1:1234/v1",
        "OPENAI_API_BASE": "http://127.0.0.1:1234/v1",
        "OPENAI_API_KEY": PLACEHOLDER_KEY,
        "OPENAI_MODEL": "openai/gpt-oss-20b",
        "NO_PROXY": LOOPBACK,
        "no_proxy": LOOPBACK,
    }


def test_the_token_is_the_key_when_there_is_one():
    assert setup("openai", LMS, token="tok-1").variables["OPENAI_API_KEY"] == "tok-1"


@pytest.mark.parametrize("target, local_provider", [(LMS, "lmstudio"), (OLLAMA, "ollama")])
def test_codex_uses_its_oss_mode_for_lm_studio_and_ollama(target, local_provider):
    result = setup("codex", target)
    assert without_proxy(result.variables) == {"CODEX_OSS_BASE_URL": target["base_url"]}
    assert result.args == ["--oss", "--local-provider", local_provider, "-m", target["model"]]


def test_codex_elsewhere_gets_a_model_provider_through_config_overrides():
    result = setup("codex", PROXY, token="tok-2")
    assert without_proxy(result.variables) == {"LMPREP_CODEX_API_KEY": "tok-2"}
    assert result.args == [
        "-c", "model_provider=lmprep",
        "-c", "model_providers.lmprep.name=lmprep",
        "-c", 'model_providers.lmprep.base_url="http://10.0.0.5:8000/api/v1"',
        "-c", "model_providers.lmprep.env_key=LMPREP_CODEX_API_KEY",
        "-c", "model_providers.lmprep.wire_api=responses",
        "-m", "Qwen/Qwen3-8B",
    ]




def test_aider_per_kind_gets_variables_only():
    """Every aider option has an AIDER_ variable, and the user's own option wins over it."""
    lms = setup("aider", LMS)
    assert without_proxy(lms.variables) == {"LM_STUDIO_API_BASE": "http://127.0.0.1:1234/v1",
                                            "LM_STUDIO_API_KEY": PLACEHOLDER_KEY,
                                            "AIDER_MODEL": "lm_studio/openai/gpt-oss-20b"}
    ollama = setup("aider", OLLAMA)
    assert without_proxy(ollama.variables) == {"OLLAMA_API_BASE": "http://127.0.0.1:11434",
                                               "AIDER_MODEL": "ollama_chat/gpt-oss:20b"}
    other = setup("aider", LLAMA)
    assert without_proxy(other.variables) == {"OPENAI_API_BASE": "http://127.0.0.1:8080/v1",
                                              "OPENAI_API_KEY": PLACEHOLDER_KEY, "AIDER_MODEL": "openai/tiny",
                                              }
    assert lms.args == ollama.args == other.args == [] and other.files == {}


def test_aider_is_told_the_window_in_a_model_metadata_file(tmp_path):
    from lmprep.agents import write_files

    result = write_files(setup("aider", LLAMA, context_length=65536), tmp_path)
    path = result.variables["AIDER_MODEL_METADATA_FILE"]
    assert path.startswith(str(tmp_path))
    assert json.loads(Path(path).read_text()) == {"openai/tiny": {
        "max_input_tokens": 65536, "max_tokens": 65536, "max_output_tokens": 8192, "input_cost_per_token": 0.0,
        "output_cost_per_token": 0.0, "litellm_provider": "openai", "mode": "chat"}}
    # The same window twice is the same file; written whole, never half.
    assert write_files(setup("aider", LLAMA, context_length=65536), tmp_path).variables == result.variables
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_claude_gets_the_server_root_and_every_model_slot():
    result = setup("claude", OLLAMA)
    assert without_proxy(result.variables) == {
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:11434",
        "ANTHROPIC_AUTH_TOKEN": PLACEHOLDER_KEY,
        "ANTHROPIC_API_KEY": "",
        "ANTHROPIC_MODEL": "gpt-oss:20b",
        "ANTHROPIC_DEFAULT_OPUS_MODEL": "gpt-oss:20b",
        "ANTHROPIC_DEFAULT_SONNET_MODEL": "gpt-oss:20b",
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": "gpt-oss:20b",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",  # keeps the server's prefix cache across sessions
    }
    assert result.args == [] and result.notes == []  # a --model of the user's wins over ANTHROPIC_MODEL


def test_opencode_gets_an_inline_provider_block():
    result = setup("opencode", LMS)
    config = json.loads(result.variables["OPENCODE_CONFIG_CONTENT"])
    assert config == {
        "$schema": "https://opencode.ai/config.json",
        "provider": {"lmprep": {
            "npm": "@ai-sdk/openai-compatible",
            "name": "lmstudio (lmprep)",
            "options": {"baseURL": "http://127.0.0.1:1234/v1"},
            "models": {"openai/gpt-oss-20b": {"name": "openai/gpt-oss-20b"}},
        }},
        "model": "lmprep/openai/gpt-oss-20b",
    }
    with_token = json.loads(setup("opencode", LMS, token="tok-3").variables["OPENCODE_CONFIG_CONTENT"])
    assert with_token["provider"]["lmprep"]["options"]["apiKey"] == "tok-3"
    sized = json.loads(setup("opencode", LMS, context_length=65536).variables["OPENCODE_CONFIG_CONTENT"])
    assert sized["provider"]["lmprep"]["models"][MODEL_ID]["limit"] == {"context": 65536, "output": 16384}


def test_qwen_code():
    result = setup("qwen", LMS)
    assert without_proxy(result.variables) == {"OPENAI_BASE_URL": "http://127.0.0.1:1234/v1",
                                               "OPENAI_API_KEY": PLACEHOLDER_KEY,
                                               "OPENAI_MODEL": "openai/gpt-oss-20b"}
    assert result.args == ["--auth-type", "openai"]


def test_goose_per_kind():
    assert without_proxy(setup("goose", OLLAMA).variables) == {
        "GOOSE_PROVIDER": "ollama", "OLLAMA_HOST": "http://127.0.0.1:11434", "GOOSE_MODEL": "gpt-oss:20b"}
    assert without_proxy(setup("goose", PROXY).variables) == {
        "GOOSE_PROVIDER": "openai", "OPENAI_HOST": "http://10.0.0.5:8000",
        "OPENAI_BASE_PATH": "api/v1/chat/completions", "OPENAI_API_KEY": PLACEHOLDER_KEY,
        "GOOSE_MODEL": "Qwen/Qwen3-8B"}


@pytest.mark.parametrize("target", [LMS, OLLAMA, LLAMA, PROXY])
def test_llm_reaches_any_server_through_its_openai_endpoint_command(target):
    result = setup("llm", target)
    assert without_proxy(result.variables) == {}
    assert result.args == ["openai", "endpoint", target["base_url"], "-m", target["model"]]
    assert result.notes == ["Needs llm 0.36 or later (`llm openai endpoint`)."]
    assert "--key" in setup("llm", target, token="t").notes[1]


def test_unknown_agent_is_not_configured():
    with pytest.raises(NotConfiguredError, match="Unknown agent 'cursor'"):
        setup("cursor", LMS)


@pytest.mark.parametrize("agent", AGENTS)
@pytest.mark.parametrize("target", [LMS, OLLAMA, LLAMA, PROXY])
def test_every_agent_gets_loopback_in_both_no_proxy_spellings(agent, target):
    try:
        result = agent_setup(agent, **target, environ={"NO_PROXY": "corp.example", "no_proxy": "10.0.0.0/8"})
    except NotConfiguredError:
        assert agent == "llm"
        return
    expected = "corp.example,10.0.0.0/8," + LOOPBACK
    assert result.variables["NO_PROXY"] == result.variables["no_proxy"] == expected
    assert all(isinstance(v, str) for v in result.variables.values())


@pytest.mark.parametrize("environ, expected", [
    ({}, LOOPBACK),
    ({"NO_PROXY": "localhost"}, "localhost,127.0.0.1,::1"),
    ({"NO_PROXY": " a.com , ,b.com,", "no_proxy": "b.com,c.com"}, "a.com,b.com,c.com," + LOOPBACK),
    ({"no_proxy": "*"}, "*," + LOOPBACK),
])
def test_merged_no_proxy(environ, expected):
    assert merged_no_proxy(environ) == expected


# -- context windows ------------------------------------------------------------------------

def test_agents_that_need_a_large_window_have_a_minimum():
    from lmprep.agents import min_context

    assert {agent: min_context(agent) for agent in AGENTS if min_context(agent)} == {
        "codex": 65536, "opencode": 65536, "claude": 100_000, "qwen": 65536, "goose": 65536, "aider": 8192,
        "copilot": 65536, "kilo": 65536, "pi": 16384, "droid": 32768, "cline": 32768}


def test_each_agent_is_one_module_with_the_same_interface():
    from pathlib import Path

    import lmprep.agents
    from lmprep.agents import agent_module

    modules = {path.stem for path in Path(lmprep.agents.__file__).parent.glob("*.py") if not path.stem.startswith("_")}
    assert modules == set(AGENTS)
    for agent in AGENTS:
        module = agent_module(agent)
        assert isinstance(module.LABEL, str) and callable(module.needs) and callable(module.setup)


@pytest.mark.parametrize("agent, route, tools", [
    ("codex", "/responses", True), ("claude", "/v1/messages", True), ("opencode", "/chat/completions", True),
    ("qwen", "/chat/completions", True), ("goose", "/chat/completions", True), ("openai", "/chat/completions", True),
    ("aider", "/chat/completions", False), ("llm", "/chat/completions", False), ("copilot", "/chat/completions", True),
    ("kilo", "/chat/completions", True), ("pi", "/chat/completions", True), ("droid", "/chat/completions", True),
    ("cline", "/chat/completions", True),
])
def test_what_each_agent_sends(agent, route, tools):
    from lmprep.agents import agent_needs

    needs = agent_needs(agent, "llamacpp")
    assert (needs.protocol.path, needs.tools) == (route, tools)


def test_agents_on_ollamas_native_api_need_no_check():
    from lmprep.agents import agent_needs

    assert agent_needs("aider", "ollama") is None
    assert agent_needs("codex", "ollama").protocol.name == "responses"


def test_unknown_agent():
    from lmprep.agents import agent_module

    with pytest.raises(NotConfiguredError, match="Unknown agent 'cursor'"):
        agent_module("cursor")


def test_context_window_is_exported_where_the_agent_has_a_setting():
    target = dict(provider="lmstudio", kind="lmstudio", base_url="http://127.0.0.1:1234/v1", model="m",
                  context_length=65536)
    codex = agent_setup("codex", **target)
    assert codex.args[-2:] == ["-c", "model_context_window=65536"]
    assert agent_setup("claude", **target).variables["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "65536"
    assert agent_setup("goose", **target).variables["GOOSE_INPUT_LIMIT"] == "65536"
    opencode = json.loads(agent_setup("opencode", **target).variables["OPENCODE_CONFIG_CONTENT"])
    assert opencode["provider"]["lmprep"]["models"]["m"]["limit"]["context"] == 65536
    elsewhere = agent_setup("codex", **{**target, "kind": "llamacpp"})
    assert "model_context_window=65536" in elsewhere.args


def test_no_window_setting_without_a_known_window():
    target = dict(provider="ollama", kind="ollama", base_url="http://127.0.0.1:11434/v1", model="m")
    assert not any("model_context_window" in arg for arg in agent_setup("codex", **target).args)
    assert "CLAUDE_CODE_AUTO_COMPACT_WINDOW" not in agent_setup("claude", **target).variables
    assert "GOOSE_INPUT_LIMIT" not in agent_setup("goose", **target).variables


# -- where exec puts the arguments ---------------------------------------------------------------

def placed(agent, argv, target=LLAMA, **extra):
    from lmprep.agents import place

    return place(agent, argv, setup(agent, target, **extra))


def test_codex_arguments_go_before_its_subcommand():
    argv, notices = placed("codex", ["codex", "exec", "--skip-git-repo-check", "say hi"], context_length=65536)
    assert argv[:3] == ["codex", "-c", "model_provider=lmprep"]
    assert argv[-5:] == ["-c", "model_context_window=65536", "-m", "tiny", "exec", "--skip-git-repo-check",
                         "say hi"][-5:]
    assert argv.index("-m") < argv.index("exec") and notices == []


@pytest.mark.parametrize("given", [["-m", "gpt-5"], ["--model", "gpt-5"], ["--model=gpt-5"]])
def test_the_users_model_wins_with_a_notice(given):
    argv, notices = placed("codex", ["codex", *given, "exec", "hi"], target=LMS)
    assert argv == ["codex", "--oss", "--local-provider", "lmstudio", *given, "exec", "hi"]
    assert notices == ["Codex uses the model 'gpt-5' from your command, not 'openai/gpt-oss-20b', which lmprep "
                       "made ready."]


def test_an_option_the_user_gave_is_never_repeated():
    argv, notices = placed("codex", ["codex", "--oss", "-c", "model_context_window=4096", "-m", "openai/gpt-oss-20b"],
                           target=LMS, context_length=65536)
    assert argv == ["codex", "--local-provider", "lmstudio", "--oss", "-c", "model_context_window=4096", "-m",
                    "openai/gpt-oss-20b"]
    assert notices == []  # the same model: nothing to say
    assert placed("codex", ["codex", "--", "-m", "x"], target=LMS)[0][-3:] == ["--", "-m", "x"]


def test_qwen_gets_its_auth_type_unless_it_chose_one():
    assert placed("qwen", ["qwen", "say hi"])[0] == ["qwen", "--auth-type", "openai", "say hi"]
    assert placed("qwen", ["qwen", "--auth-type=qwen-oauth"])[0] == ["qwen", "--auth-type=qwen-oauth"]


@pytest.mark.parametrize("argv, expected", [
    (["llm", "say hi"], ["llm", "openai", "endpoint", "http://127.0.0.1:8080/v1", "say hi", "-m", "tiny"]),
    (["llm", "prompt", "say hi"], ["llm", "openai", "endpoint", "http://127.0.0.1:8080/v1", "say hi", "-m", "tiny"]),
    (["llm", "chat"], ["llm", "openai", "endpoint", "http://127.0.0.1:8080/v1", "--chat", "-m", "tiny"]),
    (["llm", "-s", "be brief", "hi"],
     ["llm", "openai", "endpoint", "http://127.0.0.1:8080/v1", "-s", "be brief", "hi", "-m", "tiny"]),
    (["llm", "models"], ["llm", "models"]),
])
def test_llm_runs_its_prompt_through_openai_endpoint(argv, expected):
    assert placed("llm", argv)[0] == expected


def test_which_programs_are_the_agent():
    from lmprep.agents import runs_agent

    assert runs_agent("codex", "codex") and runs_agent("codex", "/usr/local/bin/codex")
    assert runs_agent("claude", r"C:\tools\claude.exe".replace("\\", "/"))
    assert not runs_agent("codex", "./my-codex-wrapper.sh") and not runs_agent("openai", "python")


# -- the agents added from what `ollama launch` and `lemonade launch` integrate ----------------------

def test_copilot_is_pointed_by_its_own_provider_variables():
    result = setup("copilot", LLAMA, context_length=65536)
    assert without_proxy(result.variables) == {
        "COPILOT_PROVIDER_BASE_URL": "http://127.0.0.1:8080/v1", "COPILOT_PROVIDER_TYPE": "openai",
        "COPILOT_PROVIDER_WIRE_API": "completions", "COPILOT_PROVIDER_API_KEY": PLACEHOLDER_KEY,
        "COPILOT_MODEL": "tiny", "COPILOT_PROVIDER_MAX_PROMPT_TOKENS": "49152",
        "COPILOT_PROVIDER_MAX_OUTPUT_TOKENS": "16384",
    }
    assert result.args == []


def test_kilo_reads_the_same_inline_config_as_opencode():
    kilo = setup("kilo", LLAMA, context_length=65536).variables["KILO_CONFIG_CONTENT"]
    assert kilo == setup("opencode", LLAMA, context_length=65536).variables["OPENCODE_CONFIG_CONTENT"]


def test_pi_gets_one_fixed_extension_file_and_the_values_in_variables(tmp_path):
    from lmprep.agents import write_files

    first = write_files(setup("pi", LLAMA, context_length=65536), tmp_path)
    other = write_files(setup("pi", LMS), tmp_path)
    assert first.args[0] == "-e" and first.args[1] == other.args[1]  # no value is written into code
    assert first.args[2:] == ["--provider", "lmprep", "--model", "tiny"]
    assert Path(first.args[1]).read_text().startswith("// Written by lmprep")
    assert without_proxy(first.variables) == {
        "LMPREP_PI_BASE_URL": "http://127.0.0.1:8080/v1", "LMPREP_PI_MODEL": "tiny",
        "LMPREP_PI_API_KEY": PLACEHOLDER_KEY, "LMPREP_PI_CONTEXT_WINDOW": "65536", "LMPREP_PI_MAX_TOKENS": "16384"}


def test_droid_gets_a_settings_file_whose_key_stays_in_a_variable(tmp_path):
    from lmprep.agents import write_files

    result = write_files(setup("droid", LLAMA, token="s3cret", context_length=32768), tmp_path)
    assert result.args[0] == "--settings"
    text = Path(result.args[1]).read_text()
    assert "s3cret" not in text  # the token never goes into a file
    settings = json.loads(text)
    assert settings["customModels"][0]["apiKey"] == "${LMPREP_DROID_API_KEY}"
    assert settings["sessionDefaultSettings"] == {"model": "custom:lmprep"}
    assert result.variables["LMPREP_DROID_API_KEY"] == "s3cret"


def test_cline_gets_its_providers_file_written_again_when_it_rewrote_it(tmp_path):
    from lmprep.agents import write_files

    result = write_files(setup("cline", LLAMA), tmp_path)
    path = Path(result.variables["CLINE_PROVIDER_SETTINGS_PATH"])
    written = path.read_text()
    assert json.loads(written)["providers"]["openai-compatible"]["settings"]["baseUrl"] == "http://127.0.0.1:8080/v1"
    assert result.variables["CLINE_SESSION_BACKEND_MODE"] == "local"
    path.write_text('{"providers": {"cline": {}}}')  # what cline does to a file it finds wanting
    write_files(setup("cline", LLAMA), tmp_path)
    assert path.read_text() == written


def test_cline_with_a_token_is_refused_rather_than_writing_the_token_to_a_file():
    with pytest.raises(NotConfiguredError, match="never writes a token to a file"):
        setup("cline", LLAMA, token="s3cret")


def test_each_agents_install_command_is_the_version_ci_installs():
    """The install command `lmprep exec` names for a missing agent installs exactly what
    .ci/install-agents installs for the tests (goose, which has no npm or pip package, aside)."""
    import re

    from lmprep.agents import agent_module, agent_run_by

    script = (Path(__file__).parent.parent / ".ci" / "install-agents").read_text()
    npm = re.search(r"NPM_PACKAGES=\((.*?)\)", script, re.S)[1].split()
    pip = [requirement for line in re.findall(r"^install_venv \w+ (.+)$", script, re.M)
           for requirement in line.replace('"', "").split()[:1]]
    ci = {f"npm install -g {package.strip(chr(34))}" for package in npm} | {f"pipx install {req}" for req in pip}
    ours = {agent_module(agent).INSTALL for agent in AGENTS if agent not in ("openai", "goose")}
    assert ours == ci
    assert agent_module("openai").INSTALL is None and agent_run_by("python") is None
    assert [agent_run_by(agent_module(agent).COMMAND) for agent in AGENTS if agent != "openai"] == list(AGENTS[1:])
    assert agent_run_by("/usr/local/bin/claude.exe") == "claude"

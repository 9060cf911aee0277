"""`lmprep env` and `lmprep exec`: CliRunner for the surface, real processes end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from e2e import lmprep_argv, run_lmprep
from helpers import answers_agent, lmstudio_native, refuse
from lmprep.agents import PLACEHOLDER_KEY
from lmprep.cli import cli

LMS = "http://localhost:1234"
MODEL = "openai/gpt-oss-20b"
LOOPBACK = "127.0.0.1,localhost,::1"


@pytest.fixture(autouse=True)
def agents_online(monkeypatch):
    """These tests are about where lmprep puts what points an agent at the server: the agents'
    offline switches, which come on top, are checked in test_agent_session_setup.py."""
    monkeypatch.setenv("LMPREP_AGENT_ONLINE", "1")


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def lmstudio_lists(httpx_mock, *ids):
    httpx_mock.add_response(url=f"{LMS}/v1/models", json={"data": [{"id": i, "object": "model", "owned_by": "organization_owner"}
                                                                     for i in ids]})


def lmstudio_ready_for_codex(httpx_mock, model=MODEL, context_length=131072):
    """LM Studio with ``model`` loaded, answering Codex's first request."""
    lmstudio_native(httpx_mock, model, context_length)
    answers_agent(httpx_mock, LMS, "responses")


# -- env ----------------------------------------------------------------------------------

def test_env_prints_only_the_variables_on_stdout(httpx_mock):
    lmstudio_lists(httpx_mock, MODEL)
    result = run("env", "-p", "lmstudio", "--warm-up", "off")
    assert result.exit_code == 0
    assert result.stdout == (
        f"export OPENAI_BASE_URL='{LMS}/v1'\n"
        f"export OPENAI_API_BASE='{LMS}/v1'\n"
        f"export OPENAI_API_KEY='{PLACEHOLDER_KEY}'\n"
        f"export OPENAI_MODEL='{MODEL}'\n"
        f"export NO_PROXY='{LOOPBACK}'\n"
        f"export no_proxy='{LOOPBACK}'\n"
    )
    assert result.stderr == (
        f"Checking LM Studio at {LMS}/v1\n"
        f"Ready: {MODEL} on LM Studio at {LMS}/v1\n"
    )


def test_env_for_codex_puts_the_agent_arguments_on_stderr(httpx_mock):
    lmstudio_lists(httpx_mock, MODEL)
    lmstudio_ready_for_codex(httpx_mock)
    result = run("env", "--for", "codex", "-p", "lmstudio", "--warm-up", "off", "--format", "fish",
                 env={"NO_PROXY": "corp.example"})
    assert result.exit_code == 0
    assert result.stdout == (
        f"set -gx CODEX_OSS_BASE_URL '{LMS}/v1';\n"
        f"set -gx NO_PROXY 'corp.example,{LOOPBACK}';\n"
        f"set -gx no_proxy 'corp.example,{LOOPBACK}';\n"
    )
    assert result.stderr.endswith(
        f"Arguments for codex: --oss --local-provider lmstudio -m {MODEL} -c model_context_window=131072\n")


def test_env_quiet_prints_nothing_but_the_variables(httpx_mock):
    lmstudio_lists(httpx_mock, MODEL)
    lmstudio_ready_for_codex(httpx_mock)
    result = run("env", "--for", "codex", "-p", "lmstudio", "--warm-up", "off", "-q", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout) == {"CODEX_OSS_BASE_URL": f"{LMS}/v1", "NO_PROXY": LOOPBACK,
                                         "no_proxy": LOOPBACK}


def test_env_hands_the_token_only_to_the_variable_that_needs_it(httpx_mock):
    lmstudio_lists(httpx_mock, MODEL)
    result = run("env", "-p", "lmstudio", "--warm-up", "off", "--format", "dotenv", env={"LM_API_TOKEN": "tok-SECRET"})
    assert result.exit_code == 0
    assert "OPENAI_API_KEY='tok-SECRET'\n" in result.stdout
    assert result.stdout.count("tok-SECRET") == 1
    assert "tok-SECRET" not in result.stderr


def test_env_failure_prints_no_variables_and_returns_lmpreps_code(httpx_mock):
    refuse(httpx_mock, f"{LMS}/v1/models")
    result = run("env", "-p", "lmstudio")
    assert result.exit_code == 4
    # No variable: a statement that fails with the code when evaluated (shells.failure).
    assert result.stdout == "(exit 4)  # lmprep env failed (exit 4): nothing was set; its error is on stderr\n"
    assert result.stderr.endswith(
        f"Error: LM Studio is not responding at {LMS}/v1 (connection refused).\n"
        "Start it with `lms server start`, or install it from https://lmstudio.ai/download.\n"
    )


def test_env_for_llm_on_any_openai_compatible_server(httpx_mock, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[providers.box]\nkind = "openai"\nbase_url = "http://localhost:1234/v1"\nmodel = "m"\n')
    lmstudio_lists(httpx_mock, "m")
    answers_agent(httpx_mock, LMS, "chat")
    # Under --for even --warm-up off loads: only a loaded model shows that llm's first request works.
    httpx_mock.add_response(method="POST", url=f"{LMS}/v1/responses", json={"object": "response", "output": []})
    result = run("env", "--for", "llm", "-p", "box", "--warm-up", "off", "--config", str(config))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.endswith(f"Arguments for llm: openai endpoint {LMS}/v1 -m m\n"
                                  "note: Needs llm 0.36 or later (`llm openai endpoint`).\n")


@pytest.mark.parametrize("fmt, failing", [("sh", "(exit 6)"), ("fish", "return 6"), ("powershell", "LASTEXITCODE = 6"),
                                         ("dotenv", None), ("json", None)])
def test_env_failure_prints_the_failing_statement_of_its_format(httpx_mock, fmt, failing):
    # LM Studio's own listing (owned_by organization_owner): identified without its greeting.
    httpx_mock.add_response(url=f"{LMS}/v1/models",
                            json={"data": [{"id": "other/model", "object": "model", "owned_by": "organization_owner"}]})
    result = run("env", "-p", "lmstudio", "--format", fmt, "-m", "missing/model", "--offline")
    assert result.exit_code == 6
    if failing is None:
        assert result.stdout == ""  # nothing evaluates dotenv or json
    else:
        assert failing in result.stdout and result.stdout.count("\n") == 1


def test_env_value_that_dotenv_cannot_carry_is_exit_3_before_anything_is_printed(httpx_mock):
    lmstudio_lists(httpx_mock, MODEL)
    result = run("env", "-p", "lmstudio", "--warm-up", "off", "--format", "dotenv", env={"LM_API_TOKEN": "tok\\"})
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "Cannot write the variables as dotenv: OPENAI_API_KEY: a value that ends in a backslash" in result.stderr
    assert "Ready:" not in result.stderr


def test_env_has_no_json_option_since_stdout_is_the_variables():
    result = run("env", "--json")
    assert result.exit_code == 2
    assert "No such option" in result.stderr and "--json" in result.stderr


def test_env_unknown_format_and_agent_are_usage_errors():
    assert run("env", "--format", "csh").exit_code == 2
    assert run("env", "--for", "cursor").exit_code == 2


# -- exec ---------------------------------------------------------------------------------

class ExecCalled(Exception):
    pass


@pytest.fixture
def fake_exec(monkeypatch):
    """Replaces os.execvpe: records the call instead of replacing the test process."""
    calls = []

    def execvpe(file, args, env):
        calls.append((file, list(args), dict(env)))
        raise ExecCalled

    monkeypatch.setattr(os, "execvpe", execvpe)
    return calls


def test_exec_replaces_the_process_with_the_variables_set(httpx_mock, fake_exec, tmp_path, monkeypatch):
    lmstudio_lists(httpx_mock, MODEL)
    lmstudio_ready_for_codex(httpx_mock)
    monkeypatch.setenv("PATH", f"{fake_agent(tmp_path / 'bin', 'codex').parent}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ExecCalled):
        run("exec", "--for", "codex", "-p", "lmstudio", "--warm-up", "off", "--", "codex", "--oss", "-m", MODEL)
    [(file, args, env)] = fake_exec
    assert file == "codex"
    # lmprep adds what the user did not give: the provider and the window it read back.
    assert args == ["codex", "--local-provider", "lmstudio", "-c", "model_context_window=131072", "--oss", "-m", MODEL]
    assert env["CODEX_OSS_BASE_URL"] == f"{LMS}/v1"
    assert env["NO_PROXY"] == env["no_proxy"] == LOOPBACK
    assert env["PATH"] == os.environ["PATH"]


def test_exec_options_after_the_program_belong_to_the_program(httpx_mock, fake_exec):
    lmstudio_lists(httpx_mock, MODEL)
    with pytest.raises(ExecCalled):
        run("exec", "-p", "lmstudio", "--warm-up", "off", "python", "-c", "pass", "--json")
    assert fake_exec[0][1] == ["python", "-c", "pass", "--json"]


def test_exec_program_not_found_is_127_before_any_request(httpx_mock, fake_exec):
    result = run("exec", "-p", "lmstudio", "--warm-up", "off", "--", "no-such-program")
    assert result.exit_code == 127
    assert result.stderr == "lmprep: no-such-program: command not found\n"
    assert httpx_mock.get_requests() == [] and fake_exec == []


def test_exec_a_known_agent_missing_says_how_to_install_it(httpx_mock, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = run("exec", "-p", "lmstudio", "--", "claude")
    assert result.exit_code == 127
    assert result.stderr == ("lmprep: claude: command not found\n"
                             "Install Claude Code with `npm install -g @anthropic-ai/claude-code@2.1.332`, "
                             "then run this again.\n")
    assert httpx_mock.get_requests() == []


def test_exec_program_not_executable_is_126_before_any_request(httpx_mock, tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    result = run("exec", "-p", "lmstudio", "--warm-up", "off", "-q", "--", str(script))
    assert result.exit_code == 126
    assert result.stderr == f"lmprep: {script}: cannot run it: Permission denied\n"
    folder = run("exec", "-p", "lmstudio", "--", str(tmp_path))
    assert (folder.exit_code, folder.stderr) == (126, f"lmprep: {tmp_path}: cannot run it: it is a folder\n")
    assert httpx_mock.get_requests() == []


def test_exec_program_gone_by_the_time_it_starts_is_still_127(httpx_mock, monkeypatch):
    """Found first, then removed before the exec: the exec's own error still decides."""
    lmstudio_lists(httpx_mock, MODEL)

    def missing(file, args, env):
        raise FileNotFoundError(2, "No such file or directory")

    monkeypatch.setattr(os, "execvpe", missing)
    result = run("exec", "-p", "lmstudio", "--warm-up", "off", "-q", "--", "true")
    assert result.exit_code == 127
    assert result.stderr == "lmprep: true: command not found\n"


def test_exec_when_lmprep_fails_the_program_is_not_started(httpx_mock, fake_exec):
    httpx_mock.add_response(url=f"{LMS}/v1/models", status_code=401, json={"error": {"message": "no token"}})
    result = run("exec", "-p", "lmstudio", "--", "true")
    assert result.exit_code == 5
    assert fake_exec == []
    assert "Error: LM Studio at http://localhost:1234/v1 refused the request" in result.stderr


def test_exec_needs_a_program():
    result = run("exec", "-p", "lmstudio")
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


# -- end to end: the installed lmprep, real processes, the emulators -------------------------

@pytest.mark.e2e
def test_e2e_env_for_codex_evaluates_in_sh(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    result = run_lmprep("env", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                        "--warm-up", "off", env={"NO_PROXY": "it's $HOME"})
    assert result.returncode == 0, result.stderr
    # Codex needs 64k tokens: the model was loaded with that window, and Codex is told so.
    assert (f"Arguments for codex: --oss --local-provider lmstudio -m {MODEL} -c model_context_window=65536\n"
            in result.stderr)
    assert lmstudio_emulator.requests_to("POST", "/api/v1/models/load")[0].json["context_length"] == 65536
    shown = subprocess.run(
        ["sh", "-c", 'eval "$1"; printf "%s|%s|%s" "$CODEX_OSS_BASE_URL" "$NO_PROXY" "$no_proxy"', "sh", result.stdout],
        capture_output=True, text=True, check=True,
    ).stdout
    no_proxy = f"it's $HOME,{LOOPBACK}"
    assert shown == f"{lmstudio_emulator.base_url}|{no_proxy}|{no_proxy}"


@pytest.mark.e2e
def test_e2e_env_failure_on_a_terminal_prints_only_the_error(unused_port):
    """On a terminal stdout is read, not evaluated: no failing statement there."""
    import pty

    controller, terminal = pty.openpty()
    try:
        completed = subprocess.run(lmprep_argv() + ["env", "-p", "ollama", "--base-url",
                                                    f"http://127.0.0.1:{unused_port}/v1"],
                                   stdout=terminal, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        os.close(terminal)
        terminal = None
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the terminal's other end is closed and all was read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        if terminal is not None:
            os.close(terminal)
        os.close(controller)
    assert completed.returncode == 4
    assert b"Ollama is not responding" in completed.stderr
    assert shown == b""


@pytest.mark.e2e
def test_e2e_env_with_a_hostile_model_id_evaluates_to_the_exact_id(lmstudio_emulator, tmp_path):
    model = "we'ird \"id\" $(touch pwned) `touch pwned2` $HOME"
    lmstudio_emulator.downloaded = [model]
    result = run_lmprep("env", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", model,
                        "--warm-up", "off", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    workdir = tmp_path / "work"
    workdir.mkdir()
    shown = subprocess.run(["sh", "-c", 'eval "$1"; printf %s "$OPENAI_MODEL"', "sh", result.stdout],
                           capture_output=True, text=True, check=True, cwd=workdir).stdout
    assert shown == model
    assert list(workdir.iterdir()) == []  # nothing in the value was run


@pytest.mark.e2e
def test_e2e_exec_runs_the_program_in_place_of_lmprep(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    script = "import os, sys; print(os.environ['CODEX_OSS_BASE_URL']); print(os.getpid()); sys.exit(7)"
    process = subprocess.Popen(
        lmprep_argv() + ["exec", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                         "--warm-up", "off", "--", sys.executable, "-c", script],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 7, stderr
    base_url, pid = stdout.splitlines()
    assert base_url == lmstudio_emulator.base_url
    assert int(pid) == process.pid  # the same process: lmprep was replaced, no wrapper left behind


@pytest.mark.e2e
def test_e2e_exec_missing_program_is_127(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    result = run_lmprep("exec", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                        "-q", "--", "lmprep-no-such-program-xyz")
    assert result.returncode == 127
    assert result.stderr == "lmprep: lmprep-no-such-program-xyz: command not found\n"


@pytest.mark.e2e
def test_e2e_exec_non_executable_file_is_126(lmstudio_emulator, tmp_path):
    lmstudio_emulator.downloaded = [MODEL]
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = run_lmprep("exec", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                        "-q", "--", str(script))
    assert result.returncode == 126
    assert result.stderr == f"lmprep: {script}: cannot run it: Permission denied\n"


@pytest.mark.e2e
def test_e2e_exec_when_lmprep_fails_returns_its_code_and_never_runs_the_program(unused_port, tmp_path):
    marker = tmp_path / "ran"
    result = run_lmprep("exec", "-p", "ollama", "--base-url", f"http://127.0.0.1:{unused_port}/v1", "--",
                        sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert result.returncode == 4
    assert result.stdout == ""
    assert "Error: Ollama is not responding" in result.stderr
    assert not marker.exists()


@pytest.mark.e2e
def test_e2e_env_returns_while_the_model_still_loads_in_the_background(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 60
    # `eval "$(lmprep env)"` reads stdout to its end: the warm-up child must not hold it.
    result = run_lmprep("env", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-q", timeout=30)
    assert result.returncode == 0, result.stderr
    assert f"export OPENAI_BASE_URL='{lmstudio_emulator.base_url}'\n" in result.stdout
    lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)
    assert MODEL not in lmstudio_emulator.loaded


def fake_agent(folder, name):
    """A program named like the agent that prints the arguments and variables it got, as JSON."""
    folder.mkdir(exist_ok=True)
    program = folder / name
    program.write_text(f"#!{sys.executable}\nimport json, os, sys\n"
                       "print(json.dumps({'argv': sys.argv[1:], 'env': dict(os.environ)}))\n")
    program.chmod(0o755)
    return program


def exec_fake_codex(server, tmp_path, *options):
    """`lmprep exec OPTIONS -- codex exec "say hi"` on ``server``, with a fake codex on PATH:
    lmprep's result and what that codex got (argv, env)."""
    bin_dir = tmp_path / "bin"
    fake_agent(bin_dir, "codex")
    result = run_lmprep("exec", *options, "-p", "llamacpp", "--base-url", server.base_url,
                        "--", "codex", "exec", "say hi", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    return result, json.loads(result.stdout)


@pytest.mark.e2e
def test_e2e_exec_adds_codexs_arguments_itself(llamacpp_emulator, tmp_path):
    result, ran = exec_fake_codex(llamacpp_emulator, tmp_path, "--for", "codex")
    assert ran["argv"][-3:] == ["tiny", "exec", "say hi"]
    assert "model_context_window=131072" in ran["argv"] and "model_provider=lmprep" in ran["argv"]
    assert ran["env"]["LMPREP_CODEX_API_KEY"] == PLACEHOLDER_KEY
    assert "Arguments added for codex: -c model_provider=lmprep" in result.stderr


@pytest.mark.e2e
def test_e2e_exec_gives_a_wrapper_only_the_variables(llamacpp_emulator, tmp_path):
    wrapper = fake_agent(tmp_path / "bin", "my-codex.sh")
    result = run_lmprep("exec", "--for", "codex", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                        "--", str(wrapper), "exec")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"] == ["exec"]
    assert "Arguments for codex: -c model_provider=lmprep" in result.stderr


@pytest.mark.e2e
def test_e2e_exec_for_aider_writes_the_window_where_aider_reads_it(llamacpp_emulator, tmp_path, isolated_home):
    bin_dir = tmp_path / "bin"
    fake_agent(bin_dir, "aider")
    result = run_lmprep("exec", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                        "--", "aider", "--message", "hi", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    ran = json.loads(result.stdout)
    assert ran["argv"] == ["--message", "hi"]  # aider takes it all from variables
    assert ran["env"]["AIDER_MODEL"] == "openai/tiny"
    metadata = ran["env"]["AIDER_MODEL_METADATA_FILE"]
    assert metadata.startswith(str(isolated_home / ".local" / "state" / "lmprep" / "agents"))
    assert json.loads(Path(metadata).read_text())["openai/tiny"]["max_input_tokens"] == 131072


@pytest.mark.e2e
def test_e2e_exec_the_users_model_wins(llamacpp_emulator, tmp_path):
    bin_dir = tmp_path / "bin"
    fake_agent(bin_dir, "codex")
    result = run_lmprep("exec", "--for", "codex", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                        "--", "codex", "-m", "other", "exec", "hi", env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["argv"].count("-m") == 1
    assert "note: Codex uses the model 'other' from your command, not 'tiny', which lmprep made ready." in result.stderr


@pytest.mark.e2e
def test_e2e_exec_a_mistyped_program_costs_no_download_and_no_load(ollama_emulator):
    """PROGRAM is looked up first: a typo is exit 127 before lmprep sends the server anything (on
    today's main: the 20 GB pull, then a background load left running, then 127)."""
    result = run_lmprep("exec", "--for", "codex", "-p", "ollama", "--base-url", ollama_emulator.base_url,
                        "-m", "gpt-oss:20b", "--", "codx", "exec", "hi")
    assert result.returncode == 127
    assert result.stderr == "lmprep: codx: command not found\n"
    assert ollama_emulator.requests == []


@pytest.mark.e2e
def test_e2e_exec_a_known_agent_missing_names_its_package(ollama_emulator, tmp_path):
    result = run_lmprep("exec", "-p", "ollama", "--base-url", ollama_emulator.base_url, "--", "codex",
                        env={"PATH": str(tmp_path)})
    assert result.returncode == 127
    assert result.stderr == ("lmprep: codex: command not found\n"
                             "Install Codex with `npm install -g @openai/codex@0.171.0`, then run this again.\n")
    assert ollama_emulator.requests == []


@pytest.mark.e2e
def test_e2e_exec_of_an_agents_command_acts_as_for_that_agent(llamacpp_emulator, tmp_path):
    result, ran = exec_fake_codex(llamacpp_emulator, tmp_path)
    assert result.stderr.startswith("lmprep: codex is Codex: acting as `--for codex` "
                                    "(`--for none` for the generic variables only).\n")
    assert "Ready for Codex:" in result.stderr
    assert llamacpp_emulator.requests_to("POST", "/v1/responses")  # Codex's first request, checked
    assert "model_provider=lmprep" in ran["argv"] and ran["argv"][-2:] == ["exec", "say hi"]
    assert ran["env"]["LMPREP_CODEX_API_KEY"] == PLACEHOLDER_KEY


@pytest.mark.e2e
def test_e2e_exec_for_none_gives_an_agent_only_the_generic_variables(llamacpp_emulator, tmp_path):
    result, ran = exec_fake_codex(llamacpp_emulator, tmp_path, "--for", "none")
    assert "acting as" not in result.stderr and "Ready for" not in result.stderr
    assert ran["argv"] == ["exec", "say hi"]
    assert ran["env"]["OPENAI_BASE_URL"] == llamacpp_emulator.base_url
    assert llamacpp_emulator.requests_to("POST", "/v1/responses") == []


def as_codex_would(argv: list[str], env: dict, body: dict) -> tuple[int, bytes]:
    """Send ``body`` the way Codex does with these arguments: `-c model_provider=P` chooses
    `model_providers.P`, whose `base_url` + `/responses` it posts to, with `Authorization: Bearer`
    and the value of the variable its `env_key` names (Codex's documented config overrides)."""
    import httpx

    overrides = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-c")
    provider = f"model_providers.{overrides['model_provider']}"
    base_url = json.loads(overrides[f"{provider}.base_url"])
    token = env[overrides[f"{provider}.env_key"]]
    response = httpx.post(f"{base_url}/responses", json=body, headers={"Authorization": f"Bearer {token}"},
                          trust_env=False)
    return response.status_code, response.content


@pytest.mark.e2e
def test_e2e_codex_on_lm_studio_with_a_token_gets_a_provider_that_sends_it(lmstudio_emulator, tmp_path):
    """Codex's --oss sends no token: LM Studio with authentication on would answer 401."""
    token = "lms-secret-token-9d2e"
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.token = token
    bin_dir = tmp_path / "bin"
    fake_agent(bin_dir, "codex")
    result = run_lmprep("exec", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                        "--", "codex", "exec", "say hi",
                        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "LM_API_TOKEN": token})
    assert result.returncode == 0, result.stderr
    assert "Ready for Codex" in result.stderr and "sends no API token" not in result.stderr
    ran = json.loads(result.stdout)
    argv = ran["argv"]
    assert "--oss" not in argv and "model_provider=lmprep" in argv
    assert f'model_providers.lmprep.base_url="{lmstudio_emulator.base_url}"' in argv
    assert not any(token in arg for arg in argv)  # in a variable, never on the command line
    assert token not in result.stderr
    status, answer = as_codex_would(argv, ran["env"], {"model": MODEL, "input": "say hi", "stream": False})
    assert status == 200, answer
    assert lmstudio_emulator.requests[-1].header("authorization") == f"Bearer {token}"

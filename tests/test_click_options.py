"""`lmprep.click.oss_options` in a host click CLI, and the example CLI run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import lmprep
from lmprep.click import oss_options

MODEL = "openai/gpt-oss-20b"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "ask.py"


def host(**decorator_options):
    """A host CLI that reports what it was given."""

    def body(oss, model, name):
        if oss is None:
            click.echo(f"hosted model={model} name={name}")
        else:
            assert isinstance(oss, lmprep.Readiness)
            click.echo(f"local {oss.provider} {oss.base_url} model={model} name={name}")

    decorated = oss_options(**decorator_options)(body) if decorator_options else oss_options(body)
    return click.command()(click.option("--name", default="x")(decorated))


def invoke(command, *args, env=None):
    return CliRunner().invoke(command, list(args), env=env, catch_exceptions=False)


def test_without_oss_the_command_runs_with_none_and_keeps_its_model():
    result = invoke(host(), "-m", "gpt-5", "--name", "n")
    assert (result.exit_code, result.stdout) == (0, "hosted model=gpt-5 name=n\n")
    assert invoke(host()).stdout == "hosted model=None name=x\n"


def test_local_provider_without_oss_is_a_usage_error():
    result = invoke(host(), "--local-provider", "ollama")
    assert result.exit_code == 2
    assert "--local-provider needs --oss" in result.stderr


def test_with_oss_the_command_gets_the_readiness_and_the_resolved_model(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    result = invoke(host(warm_up="off"), "--oss", "--local-provider", "lmstudio",
                    env={"LMPREP_BASE_URL": lmstudio_emulator.base_url})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"local lmstudio {lmstudio_emulator.base_url} model={MODEL} name=x\n"
    assert result.stderr == f"Checking LM Studio at {lmstudio_emulator.base_url}\n"


def test_quiet_and_default_provider(ollama_emulator):
    ollama_emulator.models = {"llama3:latest": 1}
    command = host(warm_up="off", quiet=True, default_provider="ollama")
    result = invoke(command, "--oss", "-m", "llama3", env={"OLLAMA_HOST": ollama_emulator.base_url[:-3]})
    assert result.exit_code == 0, result.output
    assert result.stdout == f"local ollama {ollama_emulator.base_url} model=llama3 name=x\n"
    assert result.stderr == ""


def test_lmprep_failure_exits_with_lmpreps_code_before_the_body_runs(unused_port):
    called = []

    @click.command()
    @oss_options
    def command(oss, model):
        called.append(oss)

    result = invoke(command, "--oss", "--local-provider", "ollama",
                    env={"LMPREP_BASE_URL": f"http://127.0.0.1:{unused_port}/v1"})
    assert result.exit_code == 4
    assert called == []
    assert f"Error: Ollama is not responding at http://127.0.0.1:{unused_port}/v1 (connection refused).\n" in result.stderr
    assert "ollama serve" in result.stderr


def test_offline_option_and_missing_model_is_exit_6(ollama_emulator):
    result = invoke(host(offline=True), "--oss", "--local-provider", "ollama", "-m", "llama3",
                    env={"LMPREP_BASE_URL": ollama_emulator.base_url})
    assert result.exit_code == 6
    assert not ollama_emulator.requests_to("POST", "/api/pull")


def test_a_bug_in_lmprep_is_exit_1_with_a_message(monkeypatch, lmstudio_emulator):
    from lmprep.providers.lmstudio import LMStudio

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(LMStudio, "list_models", broken)
    result = invoke(host(), "--oss", "--local-provider", "lmstudio", env={"LMPREP_BASE_URL": lmstudio_emulator.base_url})
    assert result.exit_code == 1
    assert "Error: Unexpected error in lmprep: RuntimeError: boom" in result.stderr
    assert "please report it to lmprep's maintainers, where you got lmprep" in result.stderr


def test_help_shows_the_three_options():
    text = invoke(host(), "--help").stdout
    assert "--oss" in text and "--local-provider NAME" in text and "-m, --model ID" in text


def run_example(*args, env):
    return subprocess.run([sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=60,
                          env=env, stdin=subprocess.DEVNULL)


@pytest.mark.e2e
def test_example_cli_asks_the_local_model(lmstudio_emulator, isolated_home):
    import os

    lmstudio_emulator.downloaded = [MODEL]
    env = {**os.environ, "CODEX_OSS_BASE_URL": lmstudio_emulator.base_url}
    result = run_example("--oss", "--local-provider", "lmstudio", "Why is the sky blue?", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "OK\n"
    request = lmstudio_emulator.requests_to("POST", "/v1/chat/completions")[-1]
    assert request.json["model"] == MODEL
    assert request.json["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.mark.e2e
def test_example_cli_failure_is_lmpreps_exit_code(unused_port):
    import os

    env = {**os.environ, "CODEX_OSS_BASE_URL": f"http://127.0.0.1:{unused_port}/v1"}
    result = run_example("--oss", "--local-provider", "lmstudio", "Hi", env=env)
    assert result.returncode == 4
    assert "Error: LM Studio is not responding" in result.stderr
    assert result.stdout == ""
    without = run_example("Hi", env=env)
    assert without.returncode == 2 and "add --oss" in without.stderr

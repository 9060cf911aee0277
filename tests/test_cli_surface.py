"""What a new user meets first: mistyped commands, --help, -V, --json on a usage error, and
shell completion (issue 13)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from e2e import lmprep_argv, run_lmprep
from lmprep.cli import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False, prog_name="lmprep",
                              terminal_width=80)


GROUP_USAGE = "Usage: lmprep [OPTIONS] COMMAND [ARGS]...\nTry 'lmprep --help' for help.\n\n"


@pytest.mark.parametrize("args, error", [
    (["stauts"], "No such command 'stauts'. Did you mean `lmprep status`?"),
    (["conifg", "show"], "No such command 'conifg'. Did you mean `lmprep config`?"),
    (["-p", "ollama", "stauts"], "No such command 'stauts'. Did you mean `lmprep status`?"),
    (["frobnicate"], "No such command 'frobnicate'. Commands: bench, completion, config, doctor, ensure, env, exec, smoke, "
                     "status, stop (`lmprep --help` says what each does)."),
])
def test_a_mistyped_command_is_answered_with_the_one_meant(args, error):
    result = run(*args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"{GROUP_USAGE}Error: {error}\n"


@pytest.mark.parametrize("args, same_as", [
    (["help"], ["--help"]),
    (["help", "status"], ["status", "--help"]),
    (["help", "config"], ["config", "--help"]),
    (["help", "config", "init"], ["config", "init", "--help"]),
])
def test_help_is_a_command_too(args, same_as):
    result = run(*args)
    assert (result.exit_code, result.stdout) == (0, run(*same_as).stdout)
    assert result.stdout.startswith("Usage: lmprep")


def test_help_for_a_mistyped_subcommand_is_answered_by_its_group():
    result = run("help", "config", "inti")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: No such command 'inti'. Did you mean 'init'?\n")


def test_group_help_lists_the_options_of_lmprep_alone():
    shown = run("--help").stdout
    section = shown.split("Options of `lmprep` alone (`lmprep ensure`):\n")[1].split("\nCommands:\n")[0]
    ensure_help = run("ensure", "--help").stdout.split("Options:\n")[1]
    # The same rows as `lmprep ensure --help`, but for its own --help.
    assert section == ensure_help.split("  -h, --help")[0]
    assert "--for" in section and "-p, --local-provider NAME" in section


@pytest.mark.e2e
@pytest.mark.parametrize("before, after", [
    (["-p", "ollama", "status"], ["status", "-p", "ollama"]),
    (["--json", "-p", "ollama", "status"], ["status", "--json", "-p", "ollama"]),
    (["-pollama", "--base-url=BASE", "status"], ["status", "-pollama", "--base-url=BASE"]),
    (["--json", "-p", "ollama", "config", "show"], ["config", "show", "--json", "-p", "ollama"]),
    (["--for", "codex", "--warm-up", "off", "env"], ["env", "--for", "codex", "--warm-up", "off"]),
])
def test_options_before_a_command_go_to_that_command(ollama_emulator, before, after):
    ollama_emulator.version = "0.33.0"
    ollama_emulator.models = {"gpt-oss:20b": 2_000_000_000}
    ollama_emulator.loaded = {"gpt-oss:20b": 131072}
    env = {"OLLAMA_HOST": ollama_emulator.origin, "LMPREP_PROVIDER": "ollama"}
    fill = [arg.replace("BASE", ollama_emulator.base_url) for arg in before]
    moved, placed = run_lmprep(*fill, env=env), run_lmprep(*(arg.replace("BASE", ollama_emulator.base_url)
                                                            for arg in after), env=env)
    assert moved.returncode == 0, moved.stderr
    assert "No such command" not in moved.stderr
    if "--json" in before and "status" in before:
        assert json.loads(moved.stdout)["chosen"] == json.loads(placed.stdout)["chosen"] == "ollama"
    else:
        assert _without_rtt(moved.stdout) == _without_rtt(placed.stdout)


def _without_rtt(text: str) -> str:
    """`status`'s table but for its RTT column (each run measures its own round trips)."""
    import re

    return "\n".join(" ".join(re.sub(r"(<1|\d+) ms", "RTT", line).split()) for line in text.splitlines())


@pytest.mark.parametrize("args, error", [
    # An option that command does not take: named by that command's own parser.
    (["--json", "env"], "Usage: lmprep env [OPTIONS]\nTry 'lmprep env --help' for help.\n\n"
                        "Error: No such option '--json'.\n"),
    # Not an option of `lmprep` alone, before a command: where it goes.
    (["--format", "fish", "env"], f"{GROUP_USAGE}Error: options go after the command: `lmprep env --format fish`\n"),
])
def test_options_before_a_command_it_does_not_take(args, error):
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr == error


@pytest.mark.parametrize("args, same_as", [(["--help", "status"], ["--help"]), (["-V", "status"], ["-V"])])
def test_the_groups_own_options_before_a_command_stay_the_groups(args, same_as):
    result = run(*args)
    assert (result.exit_code, result.stdout) == (0, run(*same_as).stdout)


def test_an_option_value_that_is_a_command_name_stays_a_value(httpx_mock):
    """`lmprep -m status` is a model named status, not the status command."""
    httpx_mock.add_response(url="http://localhost:11434/api/tags", json={"models": []})
    result = run("-m", "status", "-p", "ollama", "--offline")
    assert result.exit_code == 6
    assert "'status'" in result.stderr and "No such command" not in result.stderr


def test_help_for_a_mistyped_command_names_the_one_meant():
    result = run("help", "stauts")
    assert result.exit_code == 2
    assert result.stderr.endswith("Error: No such command 'stauts'. Did you mean `lmprep status`?\n")


def test_V_is_version():
    assert run("-V").stdout == run("--version").stdout
    assert run("-V").stdout.startswith("lmprep, version ")


def test_help_lists_every_command_with_its_whole_summary():
    result = run("--help")
    assert result.exit_code == 0
    assert "..." not in result.stdout.split("Commands:\n")[1]
    assert result.stdout.split("Commands:\n")[1] == (
        "  bench       Measure the agent's first turn and next turn on the ready model.\n"
        "  completion  Print the script that makes bash, zsh or fish complete lmprep.\n"
        "  config      Where the config file is, what each setting resolves to, a starter\n"
        "              file.\n"
        "  doctor      Every server against every installed agent: ready or why not.\n"
        "  ensure      Make the provider ready (the default command).\n"
        "  env         Make the provider ready, then print the variables an agent needs.\n"
        "  exec        Make the provider ready, then run PROGRAM with the agent's\n"
        "              variables.\n"
        "  smoke       Run the real agent once on a one-line prompt: does it work?\n"
        "  status      Every provider's state, models and last warm-up (changes nothing).\n"
        "  stop        Stop a server that lmprep started (never another).\n"
    )
    config = run("config", "--help")
    assert config.stdout.split("Commands:\n")[1] == (
        "  init  Write a commented starter config file (every setting commented out).\n"
        "  path  Print the config file lmprep reads; where that came from goes to stderr.\n"
        "  show  Print every resolved setting and its source (tokens are never shown).\n"
    )


# -- --json on a usage error: the installed command, as `lmprep --json ... | jq` runs it ------

@pytest.mark.e2e
def test_json_prints_its_object_also_on_a_usage_error():
    result = run_lmprep("--json", "--warm-up", "later")
    assert result.returncode == 2
    payload = json.loads(result.stdout)  # what `| jq -r .state` reads
    assert (payload["state"], payload["ok"], payload["exit_code"]) == ("usage_error", False, 2)
    assert payload["error"] == {
        "message": "Invalid value for '--warm-up': 'later' is not one of 'background', 'wait', 'off'.",
        "hint": "Run `lmprep ensure --help` for the options and their values.",
    }
    assert list(payload) == ["schema", "ok", "state", "exit_code", "provider", "provider_source", "base_url",
                             "model", "model_source", "agent", "downloaded", "warm_up", "context_length",
                             "cpu_percent", "rtt_ms", "passed_over", "timings_ms", "started", "error"]
    assert "Error: Invalid value for '--warm-up'" in result.stderr  # the person at the terminal still reads it


@pytest.mark.e2e
@pytest.mark.parametrize("args, keys", [
    (["--json", "stauts"], None),
    (["status", "--json", "--timeout", "0"], ["schema", "ok", "state", "exit_code", "chosen", "chosen_source",
                                               "config_path", "config_loaded", "providers", "error"]),
    (["config", "show", "--json", "--bogus"], ["schema", "ok", "state", "exit_code", "error"]),
])
def test_every_json_command_prints_its_object_on_a_usage_error(args, keys):
    result = run_lmprep(*args)
    payload = json.loads(result.stdout)
    assert (result.returncode, payload["state"], payload["exit_code"]) == (2, "usage_error", 2)
    assert keys is None or list(payload) == keys


@pytest.mark.e2e
def test_no_json_where_the_command_has_no_json_option():
    result = run_lmprep("env", "--json")
    # No JSON object: stdout is what `eval` reads, and that fails with the code (shells.failure).
    assert result.returncode == 2 and result.stdout.startswith("(exit 2)  # lmprep env failed")
    assert "No such option '--json'" in result.stderr


# -- shell completion ---------------------------------------------------------------------

def complete(shell: str, words: list[str], env: dict | None = None) -> list[str]:
    """What lmprep answers the shell's completion function for ``words`` (the last one being
    completed), through click's protocol: the variables the printed scripts set."""
    # bash and zsh give the index of the word completed; fish gives the word itself.
    cword = words[-1] if shell == "fish" else str(len(words))
    result = CliRunner().invoke(cli, [], prog_name="lmprep", catch_exceptions=False, env={
        **(env or {}), "_LMPREP_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": " ".join(["lmprep", *words]), "COMP_CWORD": cword})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    if shell == "bash":  # "plain,VALUE"
        return [line.split(",", 1)[1] for line in lines]
    if shell == "zsh":  # type, value, help: three lines each
        return lines[1::3]
    return [line.split(",", 1)[1].split("\t")[0] for line in lines]  # fish: "plain,VALUE\tHELP"


BUILT_IN = ["lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai"]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_of_commands_providers_agents_and_warm_up_modes(shell, isolated_home):
    config = isolated_home / ".config" / "lmprep" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[providers.gpu-box]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\n')
    assert complete(shell, [""]) == ["bench", "completion", "config", "doctor", "ensure", "env", "exec", "smoke",
                                      "status", "stop"]
    assert complete(shell, ["st"]) == ["status", "stop"]
    assert complete(shell, ["-p", ""]) == [*BUILT_IN, "gpu-box"]
    assert complete(shell, ["status", "-p", "gp"]) == ["gpu-box"]
    assert complete(shell, ["exec", "--for", "c"]) == ["codex", "claude", "copilot", "cline"]
    assert complete(shell, ["--warm-up", ""]) == ["background", "wait", "off"]
    assert complete(shell, ["--warm"]) == ["--warm-up"]
    assert complete(shell, ["config", ""]) == ["init", "path", "show"]
    assert complete(shell, ["completion", ""]) == ["bash", "zsh", "fish"]


def test_completion_reads_the_config_file_given_and_survives_a_broken_one(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('[providers.box]\nkind = "vllm"\n')
    assert complete("bash", ["--config", str(other), "-p", "b"]) == ["box"]
    broken = tmp_path / "broken.toml"
    broken.write_text("[providers\n")
    assert complete("bash", ["--config", str(broken), "-p", ""]) == BUILT_IN


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o nosort -F _lmprep_completion lmprep"),
                                           ("zsh", "compdef _lmprep_completion lmprep"),
                                           ("fish", "complete --no-files --command lmprep")])
def test_completion_prints_the_script_for_each_shell(shell, marker):
    result = run("completion", shell)
    assert result.exit_code == 0
    assert marker in result.stdout
    assert "_LMPREP_COMPLETE" in result.stdout


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_through_the_printed_script():
    """The script as a user installs it (`eval "$(lmprep completion bash)"`), in a real bash."""
    script = (
        'eval "$(lmprep completion bash)"\n'
        "complete -p lmprep\n"
        'COMP_WORDS=(lmprep -p ol); COMP_CWORD=2; _lmprep_completion lmprep; echo "${COMPREPLY[*]}"\n'
        'COMP_WORDS=(lmprep sta); COMP_CWORD=1; COMPREPLY=(); _lmprep_completion lmprep; echo "${COMPREPLY[*]}"\n'
    )
    bin_dir = os.path.dirname(lmprep_argv()[0])
    completed = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                               timeout=60, env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["complete -o nosort -F _lmprep_completion lmprep", "ollama", "status"]


@pytest.mark.skipif(shutil.which("zsh") is None and shutil.which("fish") is None, reason="neither zsh nor fish")
@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_accept_the_script(shell, tmp_path):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    script = tmp_path / f"lmprep.{shell}"
    script.write_text(run("completion", shell).stdout)
    check = ["zsh", "-n", str(script)] if shell == "zsh" else ["fish", "--no-execute", str(script)]
    completed = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert completed.returncode == 0, completed.stderr

"""No provider chosen: nothing running is `unreachable` (exit 4), as the README's script expects
when it starts a server, with how to start each server installed here; several running is
`not_configured` (exit 3) naming the exact values to choose between. The installed lmprep, and the
README's own lines in a real bash."""

from __future__ import annotations

import json
import socket

import pytest

from e2e import run_lmprep
from test_readme_examples import block_starting, readme  # noqa: F401 (readme: the README's stage)

pytestmark = pytest.mark.e2e
PROVIDERS = ("lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr")


@pytest.fixture
def closed_url():
    """URLs of loopback ports bound but never listening: refused at once, and no other test can
    take them meanwhile."""
    held: list[socket.socket] = []

    def make() -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        held.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}/v1"

    yield make
    for sock in held:
        sock.close()


def config_file(tmp_path, urls: dict[str, str], closed_url) -> str:
    path = tmp_path / "config.toml"
    path.write_text("".join(f'[providers.{name}]\nbase_url = "{urls.get(name) or closed_url()}"\n'
                            for name in PROVIDERS))
    return str(path)


def installed(folder, *programs: str):
    folder.mkdir(parents=True, exist_ok=True)
    for program in programs:
        path = folder / program
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return folder


def test_the_readme_scripts_unreachable_branch_starts_the_server(readme):  # noqa: F811
    """`case $(lmprep --json | jq -r .state) in ... unreachable) ollama serve & ...`, as the README
    has it, in bash, with nothing running: its `ollama serve` runs (a stub that records it)."""
    block = block_starting("lmprep -q -p ollama -m llama3.2 || exit $?            # nothing printed when all is well")
    lines = block.lines
    case = "\n".join(lines[lines.index(next(line for line in lines if line.startswith("case "))):
                           lines.index("esac") + 1])
    assert "unreachable)  ollama serve & sleep 2 ;;" in case
    result = readme.run(case + "\nwait", servers=frozenset())
    assert result.returncode == 0, str(result)
    assert [(agent["name"], agent["argv"]) for agent in readme.agents()] == [("ollama", ["serve"])]
    assert result.stderr == ""  # not the `*)` branch, which prints the error


def test_nothing_running_names_how_to_start_each_installed_server(tmp_path, isolated_home, closed_url):
    bin_folder = installed(tmp_path / "bin", "ollama", "llama-server")
    lms = installed(isolated_home / ".lmstudio" / "bin", "lms") / "lms"
    env = {"PATH": str(bin_folder), "LMPREP_CONFIG": config_file(tmp_path, {}, closed_url)}
    hint = (f"Start one: `{lms} server start` (LM Studio), `ollama serve` (Ollama), `llama-server -m MODEL.gguf` "
            "(llama.cpp); or point lmprep at one that runs elsewhere with `-p NAME --base-url URL`.")
    # --no-start: without it lmprep starts the first configured server it can (the next test).
    result = run_lmprep("--json", "--no-start", env=env)
    assert result.returncode == 4, result.stderr
    assert (result.json["state"], result.json["exit_code"]) == ("unreachable", 4)
    assert result.json["error"]["message"].startswith("No provider was chosen, and none is running (looked for "
                                                      "LM Studio at http://127.0.0.1:")
    assert result.json["error"]["hint"] == hint
    status = run_lmprep("status", env=env)
    assert status.returncode == 4
    assert hint in status.stderr.replace("\n", " ")


def test_nothing_running_starts_the_first_configured_server_installed(tmp_path, isolated_home, closed_url):
    """Point 2 of issue 19: LM Studio is the config's first entry and its `lms` is here (a stub that
    returns 0 and serves nothing: said, with the command, at once)."""
    bin_folder = installed(tmp_path / "bin", "ollama")
    installed(isolated_home / ".lmstudio" / "bin", "lms")
    env = {"PATH": str(bin_folder), "LMPREP_CONFIG": config_file(tmp_path, {}, closed_url)}
    result = run_lmprep("--json", env=env)
    assert result.returncode == 4, result.stderr
    assert result.json["provider"] == "lmstudio"
    assert result.json["error"]["message"].startswith("lmprep started LM Studio (`lms server start --port ")
    assert "ended with exit status 0 before it answered" in result.json["error"]["message"]


def test_nothing_running_and_nothing_installed_gives_the_usual_commands(tmp_path, closed_url):
    env = {"PATH": str(installed(tmp_path / "bin")), "LMPREP_CONFIG": config_file(tmp_path, {}, closed_url)}
    result = run_lmprep("--json", env=env)
    assert result.returncode == 4
    assert result.json["error"]["hint"] == (
        "Start your server: LM Studio with `lms server start`, Ollama with `ollama serve`, llama.cpp with "
        "`llama-server -m MODEL.gguf`, or point lmprep at one that runs elsewhere with `-p NAME --base-url URL`.")


def test_several_running_names_the_values_to_choose_between(tmp_path, closed_url, lmstudio_emulator,
                                                             llamacpp_emulator):
    env = {"LMPREP_CONFIG": config_file(tmp_path, {"lmstudio": lmstudio_emulator.base_url,
                                                   "llamacpp": llamacpp_emulator.base_url}, closed_url)}
    result = run_lmprep("--json", env=env)
    assert result.returncode == 3, result.stderr
    assert result.json["state"] == "not_configured"
    assert result.json["error"] == {
        "message": f"No provider was chosen, and several are running: LM Studio ({lmstudio_emulator.base_url}) "
                   f"and llama.cpp server ({llamacpp_emulator.base_url}).",
        "hint": "Choose one with `-p lmstudio` or `-p llamacpp` (or LMPREP_PROVIDER), or for good with "
                '`oss_provider = "lmstudio"` or `oss_provider = "llamacpp"` in the config file (`lmprep config '
                "path` shows where).",
    }
    chosen = run_lmprep("-p", "llamacpp", "--warm-up", "off", "--json", env=env)  # the value named works
    assert chosen.returncode == 0, chosen.stderr
    assert json.loads(chosen.stdout)["provider"] == "llamacpp"

"""`lmprep doctor`: every cell says what `lmprep --for AGENT -p SERVER` says for that pair.

The installed lmprep as a user runs it (real processes, real HTTP) against the emulators and the
real llama-server; the agents "installed" are fake programs this file writes into tmp_path."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from e2e import run_lmprep
from emulators.llamacpp import LlamaServerEmulator
from emulators.vllm import VLLMEmulator

pytestmark = pytest.mark.e2e
MODEL = "openai/gpt-oss-20b"
REPO = Path(__file__).resolve().parent.parent

#: What each fake agent prints for `--version`, as the real ones do (seen here, 2026-12-02).
VERSIONS = {"codex": "codex-cli 0.171.0", "claude": "2.1.300 (Claude Code)", "opencode": "1.18.33",
            "aider": "aider 0.86.2"}


def fake_agents(folder: Path, versions: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, output in versions.items():
        program = folder / name
        program.write_text(f"#!/bin/sh\nprintf '%s\\n' '{output}'\n")
        program.chmod(0o755)
    return folder


def write_config(path: Path, servers: dict[str, tuple[str, str]], models: dict[str, str] | None = None) -> Path:
    """``servers``: name → (kind, base URL)."""
    lines = []
    for name, (kind, base_url) in servers.items():
        lines += [f"[providers.{name}]", f'base_url = "{base_url}"']
        if name != kind:
            lines.append(f'kind = "{kind}"')
        if models and name in models:
            lines.append(f'model = "{models[name]}"')
    path.write_text("\n".join(lines) + "\n")
    return path


class Machine:
    """A PATH with only the fake agents (and the system's tools), a config file naming the servers."""

    def __init__(self, tmp_path: Path, config: Path, versions: dict[str, str] = VERSIONS) -> None:
        self.bin = fake_agents(tmp_path / "agents-bin", versions)
        self.config = config
        self.env = {"PATH": f"{self.bin}{os.pathsep}/usr/bin{os.pathsep}/bin"}

    def doctor(self, *args: str, timeout: float = 120):
        return run_lmprep("doctor", "--config", str(self.config), *args, env=self.env, timeout=timeout)

    def ensure(self, server: str, agent: str, *args: str):
        return run_lmprep("--for", agent, "-p", server, "--config", str(self.config), "--json", *args, env=self.env)


def agrees(cell: dict, result) -> None:
    """The doctor's cell is exactly what `lmprep --for AGENT -p SERVER --json` says."""
    said = result.json
    where = f"{cell['server']} for {cell['agent']}"
    assert (cell["state"], cell["exit_code"]) == (said["state"], said["exit_code"]), where
    assert result.returncode == cell["exit_code"], where
    assert cell["error"] == said["error"], where
    assert cell["ok"] is said["ok"], where


def posts(emulator) -> list[str]:
    return [request.path for request in emulator.requests if request.method == "POST"]


LOADS_AND_PULLS = {"/api/v1/models/load", "/api/v1/models/download", "/api/generate", "/api/pull", "/models/load",
                   "/api/v1/load", "/api/v1/pull", "/models/create", "/wake_up"}


# -- (a) every cell agrees with `lmprep --for` -------------------------------------------------

def test_every_cell_agrees_with_lmprep_for_that_pair(tmp_path, lmstudio_emulator, ollama_emulator, unused_port):
    lmstudio_emulator.downloaded = [MODEL]  # on disk, not loaded: a check needs a load
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 65536}  # loaded: checked to the end; 0.13.5 has no Anthropic API
    with LlamaServerEmulator(context=131072, n_ctx_train=131072) as llamacpp, VLLMEmulator() as vllm:
        llamacpp.jinja = False  # refuses tools: every agent with tools is exit 12
        config = write_config(tmp_path / "config.toml", {
            "lmstudio": ("lmstudio", lmstudio_emulator.base_url), "ollama": ("ollama", ollama_emulator.base_url),
            "llamacpp": ("llamacpp", llamacpp.base_url), "vllm": ("vllm", vllm.base_url),
            "gone": ("ollama", f"http://127.0.0.1:{unused_port}/v1")}, {"ollama": "tiny", "gone": "tiny"})
        machine = Machine(tmp_path, config)
        result = machine.doctor("--json")
        report = result.json
        assert [server["name"] for server in report["servers"]] == ["lmstudio", "ollama", "llamacpp", "vllm", "gone"]
        assert [agent["name"] for agent in report["agents"] if agent["installed"]] == [
            "codex", "aider", "claude", "opencode"]
        cells = {(cell["server"], cell["agent"]): cell for cell in report["pairs"]}
        assert len(cells) == 5 * 4
        # (e) nothing was loaded or downloaded to say all this
        for emulator in (lmstudio_emulator, ollama_emulator, llamacpp, vllm):
            assert not LOADS_AND_PULLS & set(posts(emulator)), posts(emulator)
        assert lmstudio_emulator.loaded == {} and lmstudio_emulator.load_count == 0
        assert ollama_emulator.load_count == 0 and ollama_emulator.pull_count == {}

        states = {pair: cell["state"] for pair, cell in cells.items()}
        assert states[("lmstudio", "codex")] == "needs_load"
        assert states[("ollama", "codex")] == "ready" and states[("ollama", "claude")] == "agent_unsupported"
        assert states[("llamacpp", "codex")] == "agent_unsupported" and states[("llamacpp", "aider")] == "ready"
        assert states[("vllm", "codex")] == "context_too_small" and states[("vllm", "aider")] == "ready"
        assert states[("gone", "opencode")] == "unreachable"
        # The exit code is the first failing pair's, in the order shown: ollama for claude.
        assert result.returncode == report["exit_code"] == 12
        assert report["state"] == "agent_unsupported"

        checked = [pair for pair, cell in cells.items() if cell["state"] not in ("needs_load", "needs_download")]
        unchecked = [pair for pair in cells if pair not in checked]
        assert checked and unchecked
        for server, agent in checked:  # these change nothing on the server: compare them first
            agrees(cells[(server, agent)], machine.ensure(server, agent))
        for server, agent in unchecked:  # lmprep --for loads it (or found it loaded by the pair before)
            said = machine.ensure(server, agent).json
            assert said["warm_up"]["status"] in ("ok", "loaded") or said["state"] in (
                "warmup_failed", "context_too_small", "agent_unsupported"), said
        # Now loaded (with the largest window asked for): doctor checks those pairs to the end too.
        again = machine.doctor("--json").json
        for cell in again["pairs"]:
            if (cell["server"], cell["agent"]) in unchecked:
                assert cell["state"] != "needs_load", cell
                agrees(cell, machine.ensure(cell["server"], cell["agent"]))


def test_doctor_load_is_lmprep_for_each_pair(tmp_path, lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml",
                                             {"lmstudio": ("lmstudio", lmstudio_emulator.base_url)}))
    result = machine.doctor("--load", "--for", "codex,claude,aider", "--json")
    assert result.returncode == 0, result.stdout
    pairs = result.json["pairs"]
    assert [(cell["agent"], cell["state"]) for cell in pairs] == [("codex", "ready"), ("claude", "ready"),
                                                                   ("aider", "ready")]
    # One load, at the largest window asked for (Claude Code's), served the other two.
    assert lmstudio_emulator.loaded == {MODEL: 100000}
    assert sorted(cell["warm_up"] for cell in pairs) == ["loaded", "loaded", "ok"]
    for cell in pairs:
        agrees(cell, machine.ensure("lmstudio", cell["agent"]))


@pytest.mark.real_server
def test_against_the_real_llama_server_with_and_without_jinja(tmp_path, llama_server_binary, tiny_128k_gguf):
    from realserver.server import LlamaServer

    with LlamaServer(llama_server_binary, tiny_128k_gguf, context=131072, alias="tiny") as jinja, \
            LlamaServer(llama_server_binary, tiny_128k_gguf, context=131072, alias="tiny",
                        extra_args=["--no-jinja"]) as plain:
        config = write_config(tmp_path / "config.toml", {"llamacpp": ("llamacpp", jinja.base_url),
                                                         "nojinja": ("llamacpp", plain.base_url)})
        machine = Machine(tmp_path, config)
        result = machine.doctor("--for", "codex,claude,opencode,aider,openai", "--json")
        report = result.json
        servers = {server["name"]: server for server in report["servers"]}
        assert servers["llamacpp"]["version"] == servers["nojinja"]["version"]
        assert re.fullmatch(r"b\d+(-\w+)?", servers["llamacpp"]["version"]), servers["llamacpp"]["version"]
        assert servers["llamacpp"]["loaded"] == [{"id": "tiny", "loaded": True, "context_length": 131072,
                                                  "cpu_percent": None}]
        states = {(cell["server"], cell["agent"]): cell["state"] for cell in report["pairs"]}
        assert {agent: states[("llamacpp", agent)] for agent in ("codex", "claude", "opencode", "aider", "openai")} \
            == dict.fromkeys(("codex", "claude", "opencode", "aider", "openai"), "ready")
        assert [agent for agent in ("codex", "claude", "opencode", "openai")
                if states[("nojinja", agent)] == "agent_unsupported"] == ["codex", "claude", "opencode", "openai"]
        assert states[("nojinja", "aider")] == "ready"  # aider sends no tools
        assert result.returncode == 12
        for cell in report["pairs"]:
            agrees(cell, machine.ensure(cell["server"], cell["agent"]))
        text = machine.doctor("--for", "codex,aider")
        assert "HTTP 500: tools param requires --jinja flag" in text.stdout
        assert "Restart llama-server with --jinja" in text.stdout


# -- (b) the JSON object ------------------------------------------------------------------------

def test_json_schema(tmp_path, ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 131072}
    ollama_emulator.version = "0.14.0"  # with the Anthropic API Claude Code speaks
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {"ollama": ("ollama", ollama_emulator.base_url)},
                                             {"ollama": "tiny"}))
    result = machine.doctor("-p", "ollama", "--json")
    report = result.json
    assert result.returncode == 0, report
    assert set(report) == {"schema", "ok", "state", "exit_code", "load", "smoke", "time_limit", "timeout",
                           "config_path", "memory", "servers", "agents", "pairs", "seconds", "error"}
    assert (report["schema"], report["ok"], report["state"], report["exit_code"], report["load"], report["smoke"],
            report["time_limit"], report["timeout"], report["error"]) == (1, True, "ready", 0, False, False, None, 30.0,
                                                                          None)
    assert report["config_path"] == str(machine.config)
    if report["memory"] is not None:  # /proc/meminfo at least, on Linux
        assert set(report["memory"]) == {"free_bytes", "total_bytes", "where", "gpu"}
        assert report["memory"]["free_bytes"] > 0
    (server,) = report["servers"]
    assert server == {"name": "ollama", "kind": "ollama", "label": "Ollama", "state": "ready", "running": True,
                      "base_url": ollama_emulator.base_url, "base_url_source": f"config {machine.config}",
                      "version": "0.14.0", "models": 1,
                      "loaded": [{"id": "tiny:latest", "loaded": True, "context_length": 131072, "cpu_percent": 0}],
                      "error": None}
    codex = next(agent for agent in report["agents"] if agent["name"] == "codex")
    assert codex == {"name": "codex", "label": "Codex", "command": "codex", "installed": True,
                     "path": str(machine.bin / "codex"), "version": "codex-cli 0.171.0", "version_number": "0.171.0",
                     "tested_version": "0.171.0", "tested": True, "install": "npm install -g @openai/codex@0.171.0",
                     "version_error": None}
    claude = next(agent for agent in report["agents"] if agent["name"] == "claude")
    assert (claude["version_number"], claude["tested_version"], claude["tested"]) == ("2.1.300", "2.1.332", False)
    assert [(cell["server"], cell["agent"]) for cell in report["pairs"]] == [
        ("ollama", "codex"), ("ollama", "aider"), ("ollama", "claude"), ("ollama", "opencode")]
    cell = report["pairs"][0]
    assert set(cell) == {"server", "agent", "ok", "state", "exit_code", "model", "context_length", "warm_up",
                         "seconds", "error", "smoke", "smoke_skipped"}
    assert (cell["ok"], cell["state"], cell["model"], cell["context_length"], cell["warm_up"], cell["error"],
            cell["smoke"], cell["smoke_skipped"]) == (True, "ready", "tiny", 131072, "loaded", None, None, None)


def test_text_output_shows_the_facts_the_matrix_and_the_reasons(tmp_path, ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 4096}
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {"ollama": ("ollama", ollama_emulator.base_url)},
                                             {"ollama": "tiny"}), {"codex": "codex-cli 0.171.0"})
    result = machine.doctor("-p", "ollama")
    assert result.returncode == 11, result.stderr
    out = result.stdout
    assert f"  ollama    Ollama 0.13.5 at {ollama_emulator.base_url}: loaded: tiny:latest (context 4096)" in out
    assert "  codex     codex-cli 0.171.0 (the version lmprep is tested with)" in out
    assert re.search(r"\n        codex\nollama  context_too_small\n", out), out
    assert ("ollama for codex: context_too_small: Ollama has 'tiny' loaded with a 4096-token context window; 65536 "
            "are required (from --for codex).") in out


# -- (c) an agent that is not installed ------------------------------------------------------------

def test_an_agent_not_installed_shows_its_install_command(tmp_path, ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 65536}
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {"ollama": ("ollama", ollama_emulator.base_url)},
                                             {"ollama": "tiny"}), {"codex": "codex-cli 0.171.0"})
    text = machine.doctor("-p", "ollama").stdout
    assert "  opencode  not installed: install opencode with `npm install -g opencode-ai@1.18.33`" in text
    assert "  aider     not installed: install aider with `pipx install aider-chat==0.86.2`" in text
    report = machine.doctor("-p", "ollama", "--json").json
    opencode = next(agent for agent in report["agents"] if agent["name"] == "opencode")
    assert (opencode["installed"], opencode["path"], opencode["install"]) == (
        False, None, "npm install -g opencode-ai@1.18.33")
    assert [cell["agent"] for cell in report["pairs"]] == ["codex"]  # only what is installed is checked
    # Named with --for, it is checked all the same (it may run on another machine).
    named = machine.doctor("-p", "ollama", "--for", "opencode", "--json").json
    assert [(cell["agent"], cell["state"]) for cell in named["pairs"]] == [("opencode", "ready")]


def test_the_tested_versions_are_the_ones_ci_installs():
    from lmprep.agents import AGENTS, agent_module, tested_version

    pins = (REPO / ".ci" / "install-agents").read_text()
    for agent in AGENTS:
        version = tested_version(agent)
        install = agent_module(agent).INSTALL
        if version is None:
            assert agent in ("openai", "goose"), agent  # no command; an install script without a version
            continue
        package = re.search(r"(\S+?)(?:@|==)" + re.escape(version) + r"$", install)[1]
        assert f"{package}@{version}" in pins or f"{package}=={version}" in pins, (agent, install)


def test_no_agent_installed_and_none_named_is_exit_3_with_the_install_commands(tmp_path, ollama_emulator):
    ollama_emulator.models = {"tiny": 1}
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {"ollama": ("ollama", ollama_emulator.base_url)},
                                             {"ollama": "tiny"}), {})
    result = machine.doctor("-p", "ollama")
    assert result.returncode == 3
    assert "Error: No coding agent was named with --for, and none is installed here (on PATH)." in result.stderr
    assert "`npm install -g @openai/codex@0.171.0`" in result.stderr
    assert "not installed: install Codex with `npm install -g @openai/codex@0.171.0`" in result.stdout


def test_usage_and_configuration_errors(tmp_path, ollama_emulator):
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {"ollama": ("ollama", ollama_emulator.base_url)}))
    bad = machine.doctor("--for", "codex,nosuch")
    assert bad.returncode == 2 and "'nosuch' is not one of" in bad.stderr
    bad = machine.doctor("--for", "nosuch", "--json")  # --json: its one object, also on a usage error
    assert bad.returncode == 2 and (bad.json["state"], bad.json["exit_code"], bad.json["pairs"]) == (
        "usage_error", 2, [])
    unknown = machine.doctor("-p", "nosuch", "--json")
    assert unknown.returncode == 3 and unknown.json["state"] == "not_configured"
    assert "nosuch" in unknown.json["error"]["message"]


def test_nothing_running_is_exit_4(tmp_path, unused_port):
    config = tmp_path / "config.toml"
    config.write_text("")
    machine = Machine(tmp_path, config)
    env = {**machine.env, "OLLAMA_HOST": f"127.0.0.1:{unused_port}", "CODEX_OSS_PORT": str(unused_port)}
    result = run_lmprep("doctor", "--config", str(config), "--json", env=env)
    assert result.returncode == 4 and result.json["state"] == "unreachable", result.stdout
    assert result.json["pairs"] == []


# -- (d) the deadline ---------------------------------------------------------------------------------

class SlowAnswers(LlamaServerEmulator):
    """Lists its model at once; every POST (the agents' routes) takes a minute."""

    def _answer(self, request):
        self.pause(60)
        return super()._answer(request)


def test_many_pairs_with_a_slow_server_finish_within_the_timeout(tmp_path):
    from lmprep.agents import AGENTS

    with SlowAnswers(context=131072, n_ctx_train=131072) as one, SlowAnswers(context=131072, n_ctx_train=131072) as two, \
            SlowAnswers(context=131072, n_ctx_train=131072) as three:
        config = write_config(tmp_path / "config.toml", {"a": ("llamacpp", one.base_url),
                                                         "b": ("llamacpp", two.base_url),
                                                         "c": ("llamacpp", three.base_url)})
        machine = Machine(tmp_path, config)
        started = time.monotonic()
        run_lmprep("--version")
        start_up = time.monotonic() - started  # the interpreter's start, on a machine that may be busy
        started = time.monotonic()
        result = machine.doctor("--for", ",".join(AGENTS), "--timeout", "2", "--json", timeout=60)
        took = time.monotonic() - started
    report = result.json
    assert report["seconds"] < 2 + 1, report["seconds"]  # measured here: 2.03 s
    assert took < 2 + 1 + start_up, (took, start_up)  # measured here: 2.6 s, 0.5 s of it starting up
    assert len(report["pairs"]) == 3 * len(AGENTS)
    states = {cell["state"] for cell in report["pairs"]}
    assert "timed_out" in states and states <= {"timed_out", "ready"}  # aider/llm on no route: ready at once
    assert result.returncode == 10
    timed_out = next(cell for cell in report["pairs"] if cell["state"] == "timed_out")
    assert timed_out["error"]["message"].startswith("Gave up after 2 s (--timeout) while ")


def test_a_hung_agent_version_is_bounded(tmp_path, monkeypatch):
    from lmprep import doctor
    from lmprep.deadline import Deadline

    program = tmp_path / "hangs"
    program.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 30\n")
    program.chmod(0o755)
    monkeypatch.setattr(doctor, "VERSION_TIMEOUT", 0.5)
    started = time.monotonic()
    version, why = doctor.agent_version(str(program), Deadline(None), "hangs")
    assert time.monotonic() - started < 5
    assert version is None and why == "`hangs --version` did not answer within 0.5 s"
    # Under doctor's deadline it is stopped before the deadline passes: nothing outlives doctor.
    monkeypatch.setattr(doctor, "VERSION_TIMEOUT", 10.0)
    deadline = Deadline(1.5)
    version, why = doctor.agent_version(str(program), deadline, "hangs")
    assert not deadline.expired and version is None
    assert re.fullmatch(r"`hangs --version` did not answer within 0\.9\d? s|`hangs --version` did not answer within 1 s", why)
    with pytest.raises(ProcessLookupError):
        os.kill(int((tmp_path / "pid").read_text()), 0)


def test_an_agents_version_output_is_cleaned_and_bounded(tmp_path):
    from lmprep.doctor import MAX_VERSION_CHARS, agent_version
    from lmprep.deadline import Deadline

    program = tmp_path / "noisy"
    program.write_text("#!/bin/sh\nprintf '\\n\\033]0;title\\007\\033[31m1.2.3\\033[0m \\001beta\\n'\n"
                       "head -c 5000000 /dev/zero | tr '\\0' x\n")
    program.chmod(0o755)
    version, why = agent_version(str(program), Deadline(None), "noisy")
    assert (version, why) == ("1.2.3 beta", None)
    long = tmp_path / "long"
    long.write_text("#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' 7\n")
    long.chmod(0o755)
    version, _ = agent_version(str(long), Deadline(None), "long")
    assert len(version) == MAX_VERSION_CHARS
    failing = tmp_path / "failing"
    failing.write_text("#!/bin/sh\necho 'unknown option' >&2\nexit 2\n")
    failing.chmod(0o755)
    assert agent_version(str(failing), Deadline(None), "failing") == (
        None, "`failing --version` exited with 2: unknown option")


# -- (e) no load and no download without --load ------------------------------------------------------

def test_a_missing_model_needs_a_download_and_none_happens(tmp_path, lmstudio_emulator, ollama_emulator):
    ollama_emulator.pull_catalog = {"tiny": {}}
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {
        "lmstudio": ("lmstudio", lmstudio_emulator.base_url), "ollama": ("ollama", ollama_emulator.base_url)},
        {"ollama": "tiny"}), {"opencode": "1.18.33"})
    result = machine.doctor("--json")
    cells = {cell["server"]: cell for cell in result.json["pairs"]}
    assert cells["ollama"]["state"] == cells["lmstudio"]["state"] == "needs_download"
    assert cells["ollama"]["error"] == {
        "message": f"Ollama at {ollama_emulator.base_url} does not have 'tiny' yet: lmprep would download it, and what "
                   "the agent needs can only be checked after that. It has no model.",
        "hint": "`lmprep doctor --load` downloads and loads it, then checks (as `lmprep --for opencode -p ollama` "
                "does)."}
    assert result.returncode == 13 and result.json["state"] == "needs_download"
    assert ollama_emulator.pull_count == {} and "/api/pull" not in posts(ollama_emulator)
    assert lmstudio_emulator.download_count == {} and "/api/v1/models/download" not in posts(lmstudio_emulator)
    # --offline says it as `lmprep --offline` does.
    offline = machine.doctor("--offline", "-p", "ollama", "--json")
    agrees(offline.json["pairs"][0], machine.ensure("ollama", "opencode", "--offline"))
    assert offline.json["pairs"][0]["state"] == "model_missing"


def test_a_window_too_small_to_reload_needs_a_load_and_none_happens(tmp_path, lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {
        "lmstudio": ("lmstudio", lmstudio_emulator.base_url)}), {"codex": "codex-cli 0.171.0"})
    cell = machine.doctor("--json").json["pairs"][0]
    assert cell["state"] == "needs_load"
    assert cell["error"]["message"] == (
        f"{MODEL} is loaded on LM Studio with 4096 tokens of context: lmprep would reload it with 65536, and only "
        "that load shows that it holds the 65536 tokens of context Codex needs and answers its first request.")
    assert lmstudio_emulator.loaded == {MODEL: 4096} and "/api/v1/models/load" not in posts(lmstudio_emulator)


def test_a_server_that_does_not_say_what_is_loaded_needs_a_load(tmp_path, llamacpp_emulator):
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {
        "generic": ("openai", llamacpp_emulator.base_url)}, {"generic": "tiny"}), {"opencode": "1.18.33"})
    cell = machine.doctor("--json").json["pairs"][0]
    assert (cell["server"], cell["state"], cell["exit_code"]) == ("generic", "needs_load", 13)
    assert cell["error"]["message"].startswith("generic (OpenAI-compatible server) does not say whether tiny is loaded: "
                                               "only a load shows that it holds the 65536 tokens")
    assert "/v1/chat/completions" not in [r.path for r in llamacpp_emulator.requests if r.json]  # no warm-up
    loaded = machine.doctor("--json", "--load").json["pairs"][0]
    agrees(loaded, machine.ensure("generic", "opencode"))


def test_a_provider_chosen_for_lmprep_alone_does_not_hide_the_others(tmp_path, ollama_emulator):
    """LMPREP_PROVIDER (or oss_provider) chooses for `lmprep` alone; doctor still looks everywhere."""
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 65536}
    config = tmp_path / "config.toml"
    config.write_text("")
    machine = Machine(tmp_path, config, {"opencode": "1.18.33"})
    env = {**machine.env, "OLLAMA_HOST": ollama_emulator.origin.removeprefix("http://"),
           "LMPREP_PROVIDER": "lmstudio", "LMPREP_MODEL": "tiny"}
    report = run_lmprep("doctor", "--config", str(config), "--json", env=env).json
    assert "ollama" in [server["name"] for server in report["servers"]], report


def test_a_server_lmprep_would_start_needs_a_start_and_none_happens(tmp_path, unused_port):
    marker = tmp_path / "started"
    server = tmp_path / "fake-server"
    server.write_text(f"#!/bin/sh\ntouch {marker}\nexec sleep 30\n")
    server.chmod(0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.srv]\nkind = "llamacpp"\nbase_url = "http://127.0.0.1:{unused_port}/v1"\n'
                      f'command = ["{server}", "--port", "{unused_port}"]\n')
    machine = Machine(tmp_path, config, {"opencode": "1.18.33"})
    cell = machine.doctor("--json").json["pairs"][0]
    assert (cell["server"], cell["state"], cell["exit_code"]) == ("srv", "needs_start", 13)
    assert cell["error"]["message"] == (
        f"srv (llama.cpp server) is not running at http://127.0.0.1:{unused_port}/v1: lmprep would start it "
        f"(`fake-server --port {unused_port}`), and what the agent needs can only be checked after that.")
    assert not marker.exists()  # nothing was started
    # --no-start: what `lmprep --no-start` says.
    down = machine.doctor("--json", "--no-start").json["pairs"][0]
    assert down["state"] == "unreachable"
    agrees(down, machine.ensure("srv", "opencode", "--no-start"))
    assert not marker.exists()

"""`lmprep doctor --smoke` (issue 21) and the gaps doctor's first version left: each ready pair's
real agent run once (lmprep/smoke.py's smoke(), nothing copied), at most N at once, its result
in the cell and the exit code; no child outliving doctor on Ctrl-C; a row for a server that is
installed but down; the versions of the servers that say one; a matrix that fits 80 columns.

The agents are fake programs this file writes into tmp_path (a Python `aider` that sends one
chat request, as tests/test_smoke.py's does), against the emulators; then the real llm against
the real llama-server (skipped where either is not installed, as tests/test_smoke.py's are).
"""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep
from emulators.llamacpp import LlamaServerEmulator
from test_doctor import Machine, write_config

pytestmark = pytest.mark.e2e

#: An `aider` that says its version, notes when it ran, may wait FAKE_SLEEP seconds, then sends
#: one chat request (with a function tool under FAKE_TOOLS) and fails in litellm's words when
#: the server refuses it.
FAKE_AIDER = """\
#!{python}
import json, os, sys, time, urllib.error, urllib.request
if sys.argv[1:] == ["--version"]:
    print("aider 0.86.2")
    sys.exit(0)
log = os.environ.get("FAKE_LOG")
def note(word):
    if log:
        with open(log, "a") as out:
            out.write(json.dumps({{"event": word, "at": time.monotonic(), "pid": os.getpid(), "cwd": os.getcwd(),
                                  "base": os.environ.get("OPENAI_API_BASE")}}) + "\\n")
note("start")
time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
body = {{"model": os.environ["AIDER_MODEL"].split("/", 1)[1],
        "messages": [{{"role": "user", "content": sys.argv[sys.argv.index("--message") + 1]}}]}}
if os.environ.get("FAKE_TOOLS"):
    body["tools"] = [{{"type": "function", "function": {{"name": "f", "parameters": {{"type": "object"}}}}}}]
request = urllib.request.Request(os.environ["OPENAI_API_BASE"] + "/chat/completions", data=json.dumps(body).encode(),
                                 headers={{"Content-Type": "application/json",
                                          "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}})
try:
    urllib.request.build_opener(urllib.request.ProxyHandler({{}})).open(request, timeout=30).read()
except urllib.error.HTTPError as exc:
    print(f"litellm.APIError: Error code: {{exc.code}} - {{exc.read().decode()}}", file=sys.stderr)
    note("end")
    sys.exit(1)
note("end")
print("ready")
"""


def smoke_machine(tmp_path: Path, servers: dict, versions: dict | None = None) -> Machine:
    """The fake codex (it only says its version: its smoke run sends nothing) and the fake aider above."""
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", servers),
                      {"codex": "codex-cli 0.171.0"} if versions is None else versions)
    aider = machine.bin / "aider"
    aider.write_text(FAKE_AIDER.format(python=sys.executable))
    aider.chmod(0o755)
    machine.log = tmp_path / "runs.jsonl"
    machine.env["FAKE_LOG"] = str(machine.log)
    return machine


def runs(machine: Machine) -> list[dict]:
    return [json.loads(line) for line in machine.log.read_text().splitlines()] if machine.log.exists() else []


# -- --smoke: each ready pair's agent, run once ----------------------------------------------------

def test_smoke_runs_each_ready_pair_and_shows_the_agents_words_and_the_servers_status(tmp_path):
    with LlamaServerEmulator(context=131072, n_ctx_train=131072) as jinja, \
            LlamaServerEmulator(context=131072, n_ctx_train=131072) as plain:
        plain.jinja = False  # refuses a request with tools: HTTP 500
        machine = smoke_machine(tmp_path, {"llamacpp": ("llamacpp", jinja.base_url),
                                           "nojinja": ("llamacpp", plain.base_url)})
        machine.env["FAKE_TOOLS"] = "1"
        result = machine.doctor("--smoke", "--for", "codex,aider", "--json")
        report = result.json
        cells = {(cell["server"], cell["agent"]): cell for cell in report["pairs"]}
        assert (report["smoke"], report["time_limit"]) == (True, 120.0)
        # codex on llamacpp: ready, but the fake codex sends nothing: its run fails, exit 14
        codex = cells[("llamacpp", "codex")]
        assert (codex["state"], codex["exit_code"], codex["ok"]) == ("smoke_failed", 14, False)
        assert codex["smoke"]["reason"] == "Codex exited 0, but the server received no chat request from it."
        assert codex["error"] == {"message": codex["smoke"]["reason"], "hint": codex["smoke"]["hint"]}
        # aider on llamacpp: its request with tools worked
        aider = cells[("llamacpp", "aider")]
        assert (aider["state"], aider["ok"], aider["smoke"]["passed"]) == ("ready", True, True)
        assert [(sent["path"], sent["model"], sent["status"]) for sent in aider["smoke"]["requests"]] == [
            ("/v1/chat/completions", "tiny", 200)]
        # codex on nojinja is refused by lmprep's check (exit 12): run anyway, to show the agent's
        # own words beside the check's verdict, which the cell keeps (this fake codex sends nothing)
        refused_codex = cells[("nojinja", "codex")]
        assert (refused_codex["state"], refused_codex["exit_code"]) == ("agent_unsupported", 12)
        assert refused_codex["smoke"]["passed"] is False and refused_codex["smoke"]["check_refused"]
        # aider on nojinja: ready (lmprep's check sends aider's request, without tools), but this
        # aider sends tools: the server's 500 and the agent's own words
        refused = cells[("nojinja", "aider")]
        assert (refused["state"], refused["exit_code"]) == ("smoke_failed", 14)
        assert [(sent["status"], sent["error"]) for sent in refused["smoke"]["requests"]] == [
            (500, "tools param requires --jinja flag")]
        assert refused["smoke"]["first_error"].startswith("litellm.APIError: Error code: 500")
        # The first pair shown that failed decides: llamacpp for codex, before nojinja's exit 12.
        assert (result.returncode, report["exit_code"], report["state"]) == (14, 14, "smoke_failed")
        # Each run in its own throw-away folder, through a relay, never at the server itself.
        started = [run for run in runs(machine) if run["event"] == "start"]
        assert len(started) == 2 and all(Path(run["cwd"]).name.startswith("lmprep-smoke-") for run in started)  # aider's two
        assert jinja.base_url not in {run["base"] for run in started}

        text = machine.doctor("--smoke", "--for", "codex,aider")
        assert text.returncode == 14
        out = text.stdout
        assert ("\n          codex                                  aider\nllamacpp  failed: no request                     passed\n"
                "nojinja   agent_unsupported, failed: no request  failed: 500\n") in out
        assert "\nnojinja for codex: agent_unsupported: " in out
        assert "nojinja for aider: smoke run failed in " in out and ": aider exited with status 1.\n" in out
        assert "\n  aider said: litellm.APIError: Error code: 500" in out
        assert ("\n  the server received: POST /v1/chat/completions (model tiny) → 500 (tools param requires "
                "--jinja flag)\n") in out
        assert "Smoke run of aider on nojinja" in text.stderr  # progress, on stderr


def test_smoke_passes_is_exit_0_and_an_agent_not_installed_is_not_run(tmp_path, llamacpp_emulator):
    machine = smoke_machine(tmp_path, {"llamacpp": ("llamacpp", llamacpp_emulator.base_url)}, {})
    result = machine.doctor("--smoke", "--for", "aider,opencode,openai", "--json")
    cells = {cell["agent"]: cell for cell in result.json["pairs"]}
    assert result.returncode == 0, result.json
    assert cells["aider"]["smoke"]["passed"] and cells["aider"]["smoke_skipped"] is None
    assert (cells["opencode"]["smoke"], cells["opencode"]["smoke_skipped"]) == (
        None, "opencode is not installed here: `npm install -g opencode-ai@1.18.33` installs it.")
    assert cells["openai"]["smoke_skipped"] == "--for openai is no program of its own: there is nothing to run."
    # Without --smoke nothing is run.
    before = len(runs(machine))
    assert machine.doctor("--for", "aider", "--json").json["pairs"][0]["smoke"] is None
    assert len(runs(machine)) == before


def test_with_load_the_pairs_that_become_ready_are_run_too(tmp_path, llamacpp_emulator):
    """A generic OpenAI server does not say what is loaded: `needs a load` without --load (not
    run), ready after the load with --load, and then run."""
    machine = smoke_machine(tmp_path, {"generic": ("openai", llamacpp_emulator.base_url)}, {})
    machine.config.write_text(machine.config.read_text() + 'model = "tiny"\n')
    unchecked = machine.doctor("--smoke", "--for", "aider", "--json").json["pairs"][0]
    assert (unchecked["state"], unchecked["smoke"], unchecked["smoke_skipped"]) == ("needs_load", None, None)
    assert runs(machine) == []
    loaded = machine.doctor("--smoke", "--load", "--for", "aider", "--json")
    cell = loaded.json["pairs"][0]
    assert (loaded.returncode, cell["state"], cell["warm_up"], cell["smoke"]["passed"]) == (0, "ready", "ok", True)
    assert len([run for run in runs(machine) if run["event"] == "start"]) == 1


def test_at_most_two_smoke_runs_at_once_and_smoke_jobs(tmp_path):
    with LlamaServerEmulator(context=131072, n_ctx_train=131072) as one, \
            LlamaServerEmulator(context=131072, n_ctx_train=131072) as two, \
            LlamaServerEmulator(context=131072, n_ctx_train=131072) as three:
        machine = smoke_machine(tmp_path, {"a": ("llamacpp", one.base_url), "b": ("llamacpp", two.base_url),
                                           "c": ("llamacpp", three.base_url)}, {})
        machine.env["FAKE_SLEEP"] = "1"

        def most_at_once() -> int:
            events = sorted((run["at"], 1 if run["event"] == "start" else -1) for run in runs(machine))
            running = peak = 0
            for _, step in events:
                running += step
                peak = max(peak, running)
            machine.log.unlink()
            return peak

        assert machine.doctor("--smoke", "--for", "aider", "--json").returncode == 0
        assert most_at_once() == 2
        assert machine.doctor("--smoke", "--for", "aider", "--smoke-jobs", "1", "--json").returncode == 0
        assert most_at_once() == 1
    assert run_lmprep("doctor", "--smoke-jobs", "0").returncode == 2
    assert run_lmprep("doctor", "--time-limit", "0").returncode == 2


def test_a_smoke_run_is_bounded_by_its_time_limit_and_by_the_timeout(tmp_path, llamacpp_emulator):
    machine = smoke_machine(tmp_path, {"llamacpp": ("llamacpp", llamacpp_emulator.base_url)}, {})
    machine.env["FAKE_SLEEP"] = "60"
    started = time.monotonic()
    result = machine.doctor("--smoke", "--for", "aider", "--time-limit", "1.5", "--json")
    assert time.monotonic() - started < 30
    cell = result.json["pairs"][0]
    assert (result.returncode, cell["state"], cell["smoke"]["timed_out"]) == (14, "smoke_failed", True)
    assert cell["smoke"]["reason"] == "aider did not finish within 1.5 s."
    # --timeout bounds the whole doctor, its smoke runs too: a run cut by it is stopped a little
    # before the deadline (its own limit is what is left), and no agent outlives doctor.
    started = time.monotonic()
    result = machine.doctor("--smoke", "--for", "aider", "--timeout", "4", "--json")
    assert time.monotonic() - started < 4 + 10
    cell = result.json["pairs"][0]
    # Either the run's own limit (what the deadline left, less half a second) ended it, or, on a
    # busy machine where its clean-up outlasted that half second, the deadline did: the pair is
    # then timed_out. Both are the bound; which one depends on the machine's load.
    if cell["state"] == "smoke_failed":
        assert cell["smoke"]["timed_out"] and cell["smoke"]["time_limit"] < 4, cell
    else:
        assert (cell["state"], cell["exit_code"]) == ("timed_out", 10), cell
        assert "(--smoke)" in cell["error"]["message"]
    assert not any(pid_alive(run["pid"]) for run in runs(machine))


# -- Ctrl-C: no child outlives doctor ------------------------------------------------------------------

def _interrupt_when(path: Path, argv: list[str], env: dict) -> tuple[subprocess.Popen, int | None]:
    process = subprocess.Popen(argv, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() < end and process.poll() is None, process.communicate()
        time.sleep(0.05)
    first = path.read_text().split()[0]
    process.send_signal(signal.SIGINT)
    return process, int(first) if first.isdigit() else None


def test_ctrl_c_stops_a_hung_version_child_at_once(tmp_path, llamacpp_emulator):
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml",
                                             {"llamacpp": ("llamacpp", llamacpp_emulator.base_url)}), {})
    hangs = machine.bin / "codex"
    hangs.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec sleep 30\n")
    hangs.chmod(0o755)
    process, child = _interrupt_when(tmp_path / "pid", [*lmprep_argv(), "doctor", "--config", str(machine.config),
                                                        "--json"], machine.env)
    stopped = time.monotonic()
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130 and json.loads(out)["state"] == "interrupted"
    while pid_alive(child) and time.monotonic() - stopped < 5:
        time.sleep(0.05)
    assert not pid_alive(child)  # before: it slept on for up to 10 s after doctor had gone
    assert time.monotonic() - stopped < 5


def test_ctrl_c_stops_the_agents_of_the_smoke_runs(tmp_path, llamacpp_emulator):
    machine = smoke_machine(tmp_path, {"llamacpp": ("llamacpp", llamacpp_emulator.base_url)}, {})
    machine.env["FAKE_SLEEP"] = "60"
    process, _ = _interrupt_when(machine.log, [*lmprep_argv(), "doctor", "--smoke", "--for", "aider", "--config",
                                               str(machine.config), "--json"], machine.env)
    stopped = time.monotonic()
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 130, out
    agent = runs(machine)[0]["pid"]
    while pid_alive(agent) and time.monotonic() - stopped < 5:
        time.sleep(0.05)
    assert not pid_alive(agent)
    assert not Path(runs(machine)[0]["cwd"]).exists()  # its throw-away folder went with it
    assert time.monotonic() - stopped < 8


# -- the matrix fits the terminal ----------------------------------------------------------------------

def test_the_matrix_of_all_13_agents_fits_80_columns(tmp_path, llamacpp_emulator):
    from lmprep.agents import AGENTS

    assert len(AGENTS) == 13
    machine = Machine(tmp_path, write_config(tmp_path / "config.toml", {
        "llamacpp": ("llamacpp", llamacpp_emulator.base_url), "second": ("llamacpp", llamacpp_emulator.base_url)}), {})
    narrow = run_lmprep("doctor", "--config", str(machine.config), "--for", ",".join(AGENTS),
                        env={**machine.env, "COLUMNS": "80"})
    out = narrow.stdout
    block = out[out.index("\nllamacpp:\n"):]
    block = block[:block.find("\n\n", block.index("\nsecond:\n") + 1) % (len(block) + 1)]
    assert all(len(line) <= 80 for line in block.splitlines()), block
    assert "\nllamacpp:\n  openai    ready\n  codex     ready\n  aider     ready\n" in block
    assert block.count("\n  cline     ready") == 2
    wide = run_lmprep("doctor", "--config", str(machine.config), "--for", ",".join(AGENTS),
                      env={**machine.env, "COLUMNS": "250"}).stdout
    assert "\n          openai  codex  aider  claude" in wide and "\nllamacpp  ready   ready  ready  ready" in wide
    few = run_lmprep("doctor", "--config", str(machine.config), "--for", "codex,aider",
                     env={**machine.env, "COLUMNS": "80"}).stdout
    assert "\n          codex  aider\nllamacpp  ready  ready\nsecond    ready  ready\n" in few + "\n"


def test_render_doctor_at_a_given_width():
    from types import SimpleNamespace

    from lmprep.doctor import Cell
    from lmprep.views import render_doctor

    agents = ["codex", "claude", "opencode", "qwen", "aider", "goose", "llm", "copilot", "kilo", "pi", "droid",
              "cline", "openai"]
    cells = [Cell("box", agent, "agent_unsupported", 12, "no", None) for agent in agents]
    status = SimpleNamespace(name="box", label="llama.cpp server", running=True, state="ready", base_url="http://x/v1",
                             models=[], error=None)
    report = SimpleNamespace(servers=[SimpleNamespace(name="box", status=status, version=None, loaded=[])],
                             memory=None, agents=[], cells=cells, columns=agents,
                             cell=lambda server, agent: next(c for c in cells if c.agent == agent))
    text = render_doctor(report, width=80)
    assert "\nbox:\n  codex     agent_unsupported\n" in text
    assert max(len(line) for line in text[:text.index("\nbox for ")].splitlines()) <= 80
    assert "box  agent_unsupported  agent_unsupported" in render_doctor(report, width=None)


# -- a server installed here but down, and not configured: it gets a row ----------------------------

DEFAULT_PORTS = (1234, 11434, 8080, 8000, 13305, 12434)


@pytest.mark.xdist_group("default_ports")
def test_a_server_installed_but_down_and_not_configured_needs_a_start(fake_programs, tmp_path):
    """Nothing configured, nothing running, Ollama installed (a fake on PATH): `lmprep` alone would
    start it, so doctor gives it a row, `needs_start` as for a configured one, and starts nothing."""
    from test_start_e2e import _bindable, answers

    if any(answers(f"http://127.0.0.1:{port}/") or not _bindable(port) for port in DEFAULT_PORTS):
        pytest.skip("a default port is in use on this machine")
    fake_programs.install("ollama", ollama={"models": {"gpt-oss:20b": 1}})
    config = tmp_path / "config.toml"
    config.write_text("")
    env = {"PATH": fake_programs.path_env()}
    result = run_lmprep("doctor", "--config", str(config), "--for", "codex", "--json", env=env)
    report = result.json
    assert [server["name"] for server in report["servers"]] == ["ollama"], report
    (cell,) = report["pairs"]
    assert (cell["state"], cell["exit_code"], result.returncode) == ("needs_start", 13, 13)
    assert cell["error"]["message"].startswith("Ollama is not running at http://localhost:11434/v1: lmprep would "
                                               "start it (`ollama serve`)")
    assert fake_programs.invocations() == []  # nothing was started
    # as `lmprep --no-start` says it: nothing to start, no row
    down = run_lmprep("doctor", "--config", str(config), "--for", "codex", "--no-start", "--json", env=env)
    assert down.returncode == 4 and down.json["servers"] == []


# -- the servers' versions --------------------------------------------------------------------------------

def test_the_servers_that_say_a_version_show_it(tmp_path):
    from emulators.dmr import DockerModelRunnerEmulator
    from emulators.lemonade import LemonadeEmulator
    from emulators.litellm import Deployment, LiteLLMEmulator
    from emulators.llamaswap import LlamaSwapEmulator
    from emulators.lmstudio import LMStudioEmulator

    from lmprep.doctor import doctor

    key = "sk-master-1"
    with LemonadeEmulator(downloaded=["Qwen3-0.6B-GGUF"]) as lemonade, DockerModelRunnerEmulator(
            models={"ai/smollm2:latest": 8192}) as dmr, \
            LiteLLMEmulator(master_key=key, deployments={"tiny": Deployment(api_base="http://127.0.0.1:9/v1")}) \
            as litellm, LlamaSwapEmulator(token="swap-key") as swap, LMStudioEmulator() as lmstudio:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[providers.lemonade]\nbase_url = "{lemonade.base_url}"\nmodel = "Qwen3-0.6B-GGUF"\n'
            f'[providers.dmr]\nbase_url = "{dmr.base_url}"\n'
            f'[providers.litellm]\nbase_url = "{litellm.base_url}"\napi_key_env = "LITELLM_KEY"\n'
            f'[providers.llamaswap]\nbase_url = "{swap.base_url}"\napi_key_env = "SWAP_KEY"\n'
            f'[providers.lmstudio]\nbase_url = "{lmstudio.base_url}"\n')
        report = doctor(config_path=str(config), agents="aider", env={**os.environ, "LITELLM_KEY": key,
                                                                      "SWAP_KEY": "swap-key"})
        versions = {server.name: server.version for server in report.servers}
        assert versions == {"lemonade": "10.0.0", "dmr": "v1.1.2", "litellm": "1.106.12", "llamaswap": "v235",
                            "lmstudio": None}
        assert any(request.path == "/health/readiness/details" and request.header("authorization") == f"Bearer {key}"
                   for request in litellm.requests)
        # A runner from before its /version route (404) shows none, as does one whose answer is not a version.
        dmr.version = {"no": "string"}
        again = doctor(config_path=str(config), provider="dmr", agents="aider")
        assert again.servers[0].version is None


# -- a real agent against the real llama-server ---------------------------------------------------------

@pytest.mark.real_agent
@pytest.mark.real_server
def test_doctor_smoke_with_the_real_llm_against_the_real_llama_server(tmp_path, llama_server_binary, tiny_128k_gguf):
    """llm 0.36 (fast: ~2 s) takes no token from lmprep: a server without one, whose grammar makes
    the tiny model say "Hi." and stop (as tests/test_smoke.py runs it)."""
    from realagents.agents import find, install_report
    from realserver.server import LlamaServer

    agent = find("llm")
    if agent.program is None:
        pytest.skip(f"llm is not installed ({install_report()})")
    extra = ["-n", "16", "--repeat-penalty", "1.5", "--grammar", 'root ::= "Hi."']
    with LlamaServer(llama_server_binary, tiny_128k_gguf, context=131072, alias="tiny", extra_args=extra) as server:
        config = write_config(tmp_path / "config.toml", {"box": ("llamacpp", f"{server.origin}/v1")})
        env = {"PATH": f"{agent.program.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"}
        started = time.monotonic()
        result = run_lmprep("doctor", "--smoke", "--for", "llm", "--config", str(config), "--json", env=env,
                            timeout=300)
        took = time.monotonic() - started
    report = result.json
    assert result.returncode == 0, report
    (cell,) = report["pairs"]
    assert (cell["state"], cell["smoke"]["passed"]) == ("ready", True), cell
    assert [(sent["model"], sent["status"]) for sent in cell["smoke"]["requests"]
            if sent["path"].endswith("/chat/completions")] == [("tiny", 200)]
    assert re.fullmatch(r"b\d+(-\w+)?", report["servers"][0]["version"])
    assert took < 120, took  # measured here: ~4 s, 2 s of it llm's run

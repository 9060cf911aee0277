"""`lmprep status`: every provider side by side, GET requests only, exit code of the chosen one."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
from click.testing import CliRunner

from e2e import run_lmprep, wait_for, warm_up_states
from lmprep.cli import cli
from lmprep.errors import NotConfiguredError, UnreachableError
from lmprep.status_report import ModelInfo, ProviderStatus, StatusReport, WarmUpRecord
from lmprep.views import render_status
from lmprep.warmup import state_file_for, write_state

MODEL = "openai/gpt-oss-20b"
ROW_KEYS = ["name", "kind", "label", "state", "running", "rtt_ms", "base_url", "base_url_source", "model", "model_source",
            "model_present", "model_loaded", "models", "last_warm_up", "last_bench", "started", "error"]
TOP_KEYS = ["schema", "ok", "state", "exit_code", "chosen", "chosen_source", "config_path", "config_loaded",
            "providers", "error"]


def closed_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@pytest.fixture
def config(tmp_path, monkeypatch):
    """Points every built-in provider at a URL of the test's choosing (a closed port unless
    given), so that nothing on this machine's default ports can answer."""

    def write(**base_urls) -> str:
        ports = iter(closed_ports(4))
        lines = []
        for name in ("lmstudio", "ollama", "llamacpp", "vllm"):
            url = base_urls.get(name) or f"http://127.0.0.1:{next(ports)}/v1"
            lines += [f"[providers.{name}]", f'base_url = "{url}"']
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n")
        monkeypatch.setenv("LMPREP_CONFIG", str(path))
        return str(path)

    return write


def run(*args, env=None):
    return CliRunner().invoke(cli, ["status", *args], env=env, catch_exceptions=False)


def rows(payload) -> dict:
    return {row["name"]: row for row in payload["providers"]}


def test_json_is_one_documented_object(lmstudio_emulator, config):
    lmstudio_emulator.downloaded = [MODEL, "qwen/qwen3-8b"]
    lmstudio_emulator.loaded = {"qwen/qwen3-8b": 8192}
    path = config(lmstudio=lmstudio_emulator.base_url)
    result = run("-p", "lmstudio", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    payload = json.loads(result.stdout)
    assert list(payload) == TOP_KEYS
    assert payload["schema"] == 1 and payload["ok"] is True and payload["state"] == "ready"
    assert (payload["chosen"], payload["chosen_source"]) == ("lmstudio", "--local-provider")
    assert (payload["config_path"], payload["config_loaded"], payload["error"]) == (path, True, None)
    assert [row["name"] for row in payload["providers"]] == ["lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai"]
    assert all(list(row) == ROW_KEYS for row in payload["providers"])
    lms = rows(payload)["lmstudio"]
    assert isinstance(lms["rtt_ms"], float) and 0 < lms["rtt_ms"] < 5000
    assert lms == {
        "name": "lmstudio", "kind": "lmstudio", "label": "LM Studio", "state": "ready", "running": True,
        "rtt_ms": lms["rtt_ms"],
        "base_url": lmstudio_emulator.base_url, "base_url_source": f"config {path}",
        "model": MODEL, "model_source": "default", "model_present": True, "model_loaded": False,
        "models": [
            {"id": MODEL, "loaded": False, "context_length": None, "cpu_percent": None},
            {"id": "qwen/qwen3-8b", "loaded": True, "context_length": 8192, "cpu_percent": None},
        ],
        "last_warm_up": None, "last_bench": None, "started": None, "error": None,
    }
    ollama = rows(payload)["ollama"]
    assert (ollama["state"], ollama["running"], ollama["models"], ollama["rtt_ms"]) == ("unreachable", False, None, None)
    assert ollama["error"]["message"].startswith("Ollama is not responding at http://127.0.0.1:")
    assert rows(payload)["openai"]["state"] == "not_configured"
    assert rows(payload)["openai"]["error"]["message"] == "OpenAI-compatible server has no base URL."


def test_status_has_no_side_effects(lmstudio_emulator, ollama_emulator, config, isolated_home):
    lmstudio_emulator.downloaded = ["other/model"]  # the configured model is missing: nothing is downloaded
    ollama_emulator.models = {}
    config(lmstudio=lmstudio_emulator.base_url, ollama=ollama_emulator.base_url)
    result = run("-p", "ollama", "--json")
    assert result.exit_code == 6
    for emulator in (lmstudio_emulator, ollama_emulator):
        assert emulator.requests, "probed"
        assert {request.method for request in emulator.requests} == {"GET"}
    assert not ollama_emulator.pull_count and not lmstudio_emulator.loaded and not ollama_emulator.loaded
    assert not (isolated_home / ".local" / "state" / "lmprep").exists()
    assert not (isolated_home / ".cache" / "lmprep").exists()


def test_exit_code_is_the_chosen_providers_state(lmstudio_emulator, config):
    lmstudio_emulator.downloaded = ["other/model"]
    config(lmstudio=lmstudio_emulator.base_url)
    result = run("-p", "lmstudio")
    assert result.exit_code == 6
    assert result.stderr == (
        f"Error: LM Studio at {lmstudio_emulator.base_url} does not have '{MODEL}'. It has 'other/model'.\n"
        "Run `lmprep` to download it.\n"
    )
    assert run("-p", "ollama").exit_code == 4
    assert run("-p", "lmstudio", "-m", "other/model").exit_code == 0


def test_model_and_base_url_flags_apply_to_the_chosen_provider_only(lmstudio_emulator, config):
    lmstudio_emulator.downloaded = ["other/model"]
    config()
    payload = json.loads(run("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "other/model",
                             "--json").stdout)
    assert payload["ok"] is True
    lms, ollama = rows(payload)["lmstudio"], rows(payload)["ollama"]
    assert (lms["base_url"], lms["base_url_source"], lms["model_source"]) == (
        lmstudio_emulator.base_url, "--base-url", "--model")
    assert ollama["base_url"] != lmstudio_emulator.base_url and ollama["model"] == "gpt-oss:20b"


def test_the_only_running_provider_is_auto_detected(ollama_emulator, config):
    ollama_emulator.models = {"gpt-oss:20b": 1}
    ollama_emulator.loaded = {"gpt-oss:20b": 16384}
    config(ollama=ollama_emulator.base_url)
    payload = json.loads(run("--json").stdout)
    assert (payload["ok"], payload["chosen"], payload["chosen_source"]) == (True, "ollama", "auto-detected")
    ollama = rows(payload)["ollama"]
    assert (ollama["model_present"], ollama["model_loaded"]) == (True, True)
    assert ollama["models"] == [{"id": "gpt-oss:20b", "loaded": True, "context_length": 16384, "cpu_percent": 0}]


def test_nothing_running_and_nothing_chosen_is_exit_4(config):
    """The same state and words as `lmprep` itself: unreachable, with how to start a server."""
    config()
    result = run()
    assert result.exit_code == 4
    assert result.stderr.startswith("Error: No provider was chosen, and none is running (looked for LM Studio at "
                                    "http://127.0.0.1:")
    assert "ollama serve" in result.stderr and "--base-url" in result.stderr
    payload = json.loads(run("--json").stdout)
    assert (payload["ok"], payload["state"], payload["exit_code"], payload["chosen"]) == (
        False, "unreachable", 4, None)
    assert payload["error"]["message"].startswith("No provider was chosen, and none is running")


def test_several_running_and_nothing_chosen_is_exit_3(lmstudio_emulator, ollama_emulator, config):
    config(lmstudio=lmstudio_emulator.base_url, ollama=ollama_emulator.base_url)
    result = run()
    assert result.exit_code == 3
    assert f"several are running: LM Studio ({lmstudio_emulator.base_url}) and Ollama" in result.stderr
    assert "Choose one with `-p lmstudio` or `-p ollama`" in result.stderr


def test_config_choice_decides(ollama_emulator, tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text(f'oss_provider = "ollama"\n[providers.ollama]\nbase_url = "{ollama_emulator.base_url}"\n')
    monkeypatch.setenv("LMPREP_CONFIG", str(config))
    payload = json.loads(run("--json").stdout)
    assert (payload["chosen"], payload["chosen_source"], payload["state"]) == (
        "ollama", f"config {config}", "model_missing")


def test_auth_failure_still_counts_as_running_for_detection(lmstudio_emulator, config):
    lmstudio_emulator.token = "sk-local"
    config(lmstudio=lmstudio_emulator.base_url)
    result = run("--json", env={"LM_API_TOKEN": None})
    payload = json.loads(result.stdout)
    assert result.exit_code == 5
    assert (payload["chosen"], payload["state"]) == ("lmstudio", "auth_failed")
    assert rows(payload)["lmstudio"]["running"] is True
    allowed = run("--json", env={"LM_API_TOKEN": "sk-local"})
    assert allowed.exit_code == 6  # the token works; the default model is just not there
    assert "sk-local" not in allowed.stdout + allowed.stderr


def test_last_warm_up_comes_from_the_state_file(lmstudio_emulator, config):
    lmstudio_emulator.downloaded = [MODEL]
    config(lmstudio=lmstudio_emulator.base_url)
    write_state(state_file_for("lmstudio", lmstudio_emulator.base_url, MODEL), {
        "provider": "lmstudio", "base_url": lmstudio_emulator.base_url, "model": MODEL, "status": "ok",
        "started_at": 1_700_000_000.0, "finished_at": 1_700_000_012.5, "seconds": 12.5, "error": None,
        "pid": os.getpid(),
    })
    payload = json.loads(run("-p", "lmstudio", "--json").stdout)
    assert rows(payload)["lmstudio"]["last_warm_up"] == {
        "model": MODEL, "status": "ok", "seconds": 12.5, "started_at": "2023-11-14T22:13:20Z",
        "finished_at": "2023-11-14T22:13:32Z", "error": None,
    }
    assert rows(payload)["ollama"]["last_warm_up"] is None


def test_a_warm_up_whose_process_died_is_abandoned(lmstudio_emulator, config):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    config(lmstudio=lmstudio_emulator.base_url)
    write_state(state_file_for("lmstudio", lmstudio_emulator.base_url, MODEL), {
        "provider": "lmstudio", "base_url": lmstudio_emulator.base_url, "model": MODEL, "status": "running",
        "started_at": time.time(), "pid": int(dead.stdout),
    })
    payload = json.loads(run("-p", "lmstudio", "--json").stdout)
    assert rows(payload)["lmstudio"]["last_warm_up"]["status"] == "abandoned"


def test_table_on_stdout_and_the_verdict(lmstudio_emulator, config):
    lmstudio_emulator.downloaded = [MODEL]
    config(lmstudio=lmstudio_emulator.base_url)
    result = run("-p", "lmstudio")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PROVIDER", "STATE", "RTT", "BASE", "URL", "FROM", "MODEL", "PRESENT", "LOADED", "LAST",
                                "WARM-UP"]
    assert lines[1].split()[:3] == ["*", "lmstudio", "ready"]
    assert f"lmstudio models: {MODEL}" in lines
    assert lines[-1] == "Chosen: lmstudio (--local-provider): ready"
    assert "\x1b" not in result.stdout  # not a terminal: no colour
    assert result.stderr == ""


def test_render_status_exactly():
    report = StatusReport(
        providers=[
            ProviderStatus(
                name="lmstudio", kind="lmstudio", label="LM Studio", state="ready", running=True,
                base_url="http://127.0.0.1:1234/v1", base_url_source="default", model=MODEL, model_source="default",
                model_present=True, model_loaded=True, rtt_ms=38.4,
                models=[ModelInfo(MODEL, True, 4096), ModelInfo("qwen/qwen3-8b", False, None)],
                last_warm_up=WarmUpRecord(MODEL, "ok", 12.34, 1000.0, 1012.34, None),
            ),
            ProviderStatus(
                name="ollama", kind="ollama", label="Ollama", state="unreachable",
                base_url="http://localhost:11434/v1", base_url_source="OLLAMA_HOST", model="gpt-oss:20b",
                model_source="default", error=UnreachableError("Ollama is not responding.", None),
            ),
            ProviderStatus(name="openai", kind="openai", label="OpenAI-compatible server",
                           error=NotConfiguredError("no base URL", None)),
        ],
        chosen="lmstudio", chosen_source="auto-detected", config_path="/c.toml", config_loaded=False,
    )
    assert render_status(report, now=1000.0 + 12.34 + 180) == (
        "  PROVIDER STATE          RTT   BASE URL                  FROM        MODEL              PRESENT LOADED"
        " LAST WARM-UP\n"
        "* lmstudio ready          38 ms http://127.0.0.1:1234/v1  default     openai/gpt-oss-20b yes     yes   "
        " ok in 12.3 s, 3 min ago (openai/gpt-oss-20b)\n"
        "  ollama   unreachable    -     http://localhost:11434/v1 OLLAMA_HOST gpt-oss:20b        -       -      -\n"
        "  openai   not_configured -     -                         -           -                  -       -      -\n"
        "\n"
        "lmstudio models: openai/gpt-oss-20b (loaded, context 4096), qwen/qwen3-8b\n"
        "\n"
        "Chosen: lmstudio (auto-detected): ready"
    )
    coloured = render_status(report, colour=True, now=0)
    assert "\x1b[32mready" in coloured and "\x1b[31m" not in coloured


def test_bad_config_is_exit_3_also_as_json(tmp_path, monkeypatch):
    bad = tmp_path / "bad.toml"
    bad.write_text("oss_provider = \n")
    monkeypatch.setenv("LMPREP_CONFIG", str(bad))
    result = run()
    assert result.exit_code == 3
    assert result.stdout == ""
    assert f"Error: The config file {bad} is invalid at line 1" in result.stderr
    payload = json.loads(run("--json").stdout)
    assert (payload["state"], payload["exit_code"], payload["providers"], payload["config_path"]) == (
        "not_configured", 3, [], str(bad))


def test_unknown_provider_is_exit_3():
    result = run("-p", "lmstuido")
    assert result.exit_code == 3
    assert "Did you mean 'lmstudio'?" in result.stderr


def test_python_api_status(lmstudio_emulator, config):
    import lmprep

    lmstudio_emulator.downloaded = [MODEL]
    config(lmstudio=lmstudio_emulator.base_url)
    report = lmprep.status("lmstudio")
    assert isinstance(report, lmprep.StatusReport)
    assert report.ok and report.exit_code == 0 and report.decisive.model_present is True
    assert report.to_dict()["providers"][0]["name"] == "lmstudio"


@pytest.mark.e2e
def test_e2e_status_shows_the_background_warm_up_that_landed(lmstudio_emulator, ollama_emulator, config,
                                                             isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    ollama_emulator.models = {"llama3:latest": 1}
    config(lmstudio=lmstudio_emulator.base_url, ollama=ollama_emulator.base_url)
    ready = run_lmprep("-p", "lmstudio", "-q")
    assert ready.returncode == 0, ready.stderr
    wait_for(lambda: [s for s in warm_up_states(isolated_home) if s["status"] == "ok"], timeout=15)
    result = run_lmprep("status", "-p", "lmstudio", "--json")
    assert result.returncode == 0, result.stderr
    payload = result.json
    lms, ollama = rows(payload)["lmstudio"], rows(payload)["ollama"]
    assert (lms["state"], lms["model_loaded"]) == ("ready", True)
    assert lms["last_warm_up"]["status"] == "ok" and lms["last_warm_up"]["model"] == MODEL
    assert (ollama["state"], ollama["model_present"]) == ("model_missing", False)
    assert [m["id"] for m in ollama["models"]] == ["llama3:latest"]
    text = run_lmprep("status")  # both running and none chosen: exit 3, with the table
    assert text.returncode == 3
    assert "PROVIDER" in text.stdout and "several are running" in text.stderr


@pytest.mark.real_server
def test_real_llama_server_status_shows_its_one_loaded_model(llama_server):
    result = run_lmprep("status", "-p", "llamacpp", "--base-url", llama_server.base_url, "--json")
    assert result.returncode == 0, result.stderr
    row = rows(result.json)["llamacpp"]
    assert (row["state"], row["model"], row["model_source"], row["model_loaded"]) == ("ready", "tiny", "served", True)
    assert row["models"] == [{"id": "tiny", "loaded": True, "context_length": 2048, "cpu_percent": None}]


def test_state_files_with_nonsense_start_times_are_still_read(isolated_home):
    from lmprep.warmup import read_states, state_dir, write_state

    write_state(state_dir() / "a.json", {"model": "a", "status": "ok", "started_at": "yesterday"})
    write_state(state_dir() / "b.json", {"model": "b", "status": "ok", "started_at": 5.0})
    assert [record["model"] for record in read_states()] == ["b", "a"]


@pytest.mark.e2e
def test_e2e_a_model_whose_last_load_failed_is_warmup_failed_not_ready(lmstudio_emulator, config, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.fail_load = {MODEL: "Failed to load model: out of memory"}
    config(lmstudio=lmstudio_emulator.base_url)
    started = run_lmprep("-p", "lmstudio", "-q")  # the background load fails after lmprep returned
    assert started.returncode == 0, started.stderr
    wait_for(lambda: [s for s in warm_up_states(isolated_home) if s["status"] == "error"], timeout=15)

    result = run_lmprep("status", "-p", "lmstudio", "--json")
    assert result.returncode == 9, result.stderr
    payload = result.json
    assert (payload["ok"], payload["state"], payload["exit_code"]) == (False, "warmup_failed", 9)
    lms = rows(payload)["lmstudio"]
    assert (lms["state"], lms["model_present"], lms["model_loaded"]) == ("warmup_failed", True, False)
    assert lms["last_warm_up"]["status"] == "error"
    message = lms["error"]["message"]
    assert message.startswith(f"The last load of {MODEL!r} on LM Studio failed: ")
    assert "out of memory" in message
    assert payload["error"] == lms["error"]  # the deciding provider's reason, also at the top

    table = run_lmprep("status", "-p", "lmstudio")
    assert table.returncode == 9
    assert table.stdout.splitlines()[1].split()[:3] == ["*", "lmstudio", "warmup_failed"]
    assert table.stdout.splitlines()[-1] == "Chosen: lmstudio (--local-provider): warmup_failed"
    assert table.stderr.startswith(f"Error: The last load of {MODEL!r} on LM Studio failed: ")
    assert f"lmstudio: The last load of {MODEL!r} on LM Studio failed: " in table.stdout  # in full, once
    assert table.stdout.count("out of memory") == 1

    lmstudio_emulator.fail_load = {}  # loaded since: ready again
    assert run_lmprep("-p", "lmstudio", "-q", "--warm-up", "wait").returncode == 0
    again = run_lmprep("status", "-p", "lmstudio", "--json")
    assert (again.returncode, again.json["state"], again.json["error"]) == (0, "ready", None)


def test_the_top_level_error_is_the_chosen_providers_when_it_is_not_ready(config):
    config()
    result = run("-p", "ollama", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 4 and payload["state"] == "unreachable"
    assert payload["error"] == rows(payload)["ollama"]["error"] and payload["error"]["message"]

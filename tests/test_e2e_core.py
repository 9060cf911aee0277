"""The installed lmprep against LM Studio/Ollama emulators and a fake `lms` (real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep, wait_for, warm_up_states
from emulators import read_invocations

pytestmark = pytest.mark.e2e
MODEL = "openai/gpt-oss-20b"


def test_ready_with_background_warm_up_that_lands_after_exit(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 1.0
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["warm_up"] == {"mode": "background", "status": "started", "seconds": None}
    # lmprep has exited; the detached child now sends the load request and records it.
    request = lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)
    assert request.json == {"model": MODEL, "input": "", "max_output_tokens": 1}
    state = wait_for(lambda: [s for s in warm_up_states(isolated_home) if s["status"] == "ok"], timeout=15)[0]
    assert state["model"] == MODEL and state["seconds"] >= 1.0 and state["error"] is None


def test_json_pipeline_returns_while_the_model_is_still_loading(lmstudio_emulator, isolated_home):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.load_seconds = 60
    producer = subprocess.Popen(lmprep_argv() + ["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json"],
                                stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    consumer = subprocess.run(["cat"], stdin=producer.stdout, capture_output=True, text=True, timeout=30)
    producer.stdout.close()
    assert producer.wait(timeout=30) == 0
    assert json.loads(consumer.stdout)["ok"] is True
    # `cat` saw end-of-file although the warm-up child is still waiting for the 60 s load:
    # the child holds none of lmprep's stdio.
    lmstudio_emulator.wait_for_request("POST", "/v1/responses", timeout=15)
    assert [s["status"] for s in warm_up_states(isolated_home)] == ["running"]
    assert MODEL not in lmstudio_emulator.loaded


def test_download_through_lms_found_only_in_lmstudio_home(lmstudio_emulator, fake_lms, isolated_home, tmp_path):
    lmstudio_emulator.catalog = {MODEL: {"steps": 5, "step_seconds": 0.01}}
    log = tmp_path / "lms.log"
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                        env={"FAKE_LMS_LOG": str(log)})
    assert result.returncode == 0, result.stderr
    assert fake_lms.parent == isolated_home / ".lmstudio" / "bin"
    assert read_invocations(log) == [["get", "--yes", MODEL]]
    assert lmstudio_emulator.download_count[MODEL] == 1
    # Not a terminal: lms's \r/ANSI redraws became clean lines, and its stderr status is shown.
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert "Download completed." in result.stderr
    assert result.stderr.rstrip().endswith(f"Ready: {MODEL} on LM Studio at {lmstudio_emulator.base_url}; downloaded just now")


def test_lms_found_through_the_home_pointer(lmstudio_emulator, isolated_home, tmp_path):
    from emulators import install_fake_lms

    custom_home = tmp_path / "elsewhere"
    install_fake_lms(custom_home / "bin", lmstudio_emulator.origin)
    (isolated_home / ".lmstudio-home-pointer").write_text(str(custom_home))
    lmstudio_emulator.catalog = {MODEL: {"steps": 1}}
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["downloaded"] is True


def test_lms_failure_is_exit_7_with_its_stderr(lmstudio_emulator, fake_lms):
    lmstudio_emulator.catalog = {MODEL: {"steps": 0, "error": "Cannot find variant q4_k_m."}}
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert result.returncode == 7
    assert (f"Error: `lms get --yes {MODEL}` failed with exit status 1: Error: Cannot find variant q4_k_m."
            in result.stderr)


def test_lms_via_lmprep_lms_variable(lmstudio_emulator, tmp_path):
    from emulators import install_fake_lms

    lms = install_fake_lms(tmp_path / "somewhere", lmstudio_emulator.origin)
    lmstudio_emulator.catalog = {MODEL: {"steps": 1}}
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                        env={"LMPREP_LMS": str(lms)})
    assert result.returncode == 0, result.stderr


def test_jit_off_model_still_missing_after_lms_is_exit_6(lmstudio_emulator, fake_lms):
    lmstudio_emulator.jit = False
    lmstudio_emulator.downloaded = [MODEL]
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert result.returncode == 6
    assert "Model already downloaded" in result.stderr
    assert f"LM Studio still does not list '{MODEL}' after the download." in result.stderr
    assert f"lms load {MODEL}" in result.stderr


def test_ctrl_c_during_lms_get_stops_lms_and_exits_130(lmstudio_emulator, fake_lms, tmp_path):
    lmstudio_emulator.catalog = {MODEL: {"steps": 1000, "step_seconds": 0.1}}
    pidfile = tmp_path / "lms.pid"
    process = subprocess.Popen(
        lmprep_argv() + ["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
        env={**os.environ, "FAKE_LMS_PIDFILE": str(pidfile)},
    )
    lms_pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=20))
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert json.loads(stdout)["state"] == "interrupted"
    assert not pid_alive(lms_pid)
    assert lmstudio_emulator.download_count[MODEL] == 0


def test_ollama_pull_then_wait_warm_up(ollama_emulator):
    ollama_emulator.pull_catalog = {"llama3": {"layers": [1000, 20], "chunks": 3}}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "llama3",
                        "--warm-up", "wait", "--json")
    assert result.returncode == 0, result.stderr
    payload = result.json
    assert payload["downloaded"] is True and payload["warm_up"]["status"] == "ok"
    assert ollama_emulator.pull_count["llama3:latest"] == 1
    assert ollama_emulator.requests_to("POST", "/api/generate")


def test_ollama_already_present_by_name_rules(ollama_emulator):
    ollama_emulator.models = {"llama3:latest": 1}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "library/llama3",
                        "--warm-up", "off", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["downloaded"] is False
    assert not ollama_emulator.requests_to("POST", "/api/pull")


def test_ollama_in_band_pull_error_is_exit_7(ollama_emulator):
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "no-such-model")
    assert result.returncode == 7
    assert "Error: Ollama could not pull 'no-such-model': pull model manifest: file does not exist." in result.stderr


def test_ollama_pull_that_ends_without_success_is_exit_7(ollama_emulator):
    ollama_emulator.pull_catalog = {"llama3": {"end_without_success": True}}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "llama3")
    assert result.returncode == 7
    assert "ended before it said `success`" in result.stderr


def test_ollama_host_variable_is_honoured(ollama_emulator):
    ollama_emulator.models = {"gpt-oss:20b": 1}
    result = run_lmprep("-p", "ollama", "--warm-up", "off", "--json",
                        env={"OLLAMA_HOST": f"0.0.0.0:{ollama_emulator.port}"})
    assert result.returncode == 0, result.stderr
    assert result.json["base_url"] == f"http://127.0.0.1:{ollama_emulator.port}/v1"


def test_auto_detect_finds_the_running_provider(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    result = run_lmprep("--warm-up", "off", "--json", env={"CODEX_OSS_PORT": str(lmstudio_emulator.port)})
    assert result.returncode == 0, result.stderr
    assert (result.json["provider"], result.json["provider_source"]) == ("lmstudio", "auto-detected")


def test_warm_up_wait_failure_is_exit_9(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.fail_load = {MODEL: "Failed to load model: insufficient memory"}
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "wait")
    assert result.returncode == 9
    assert "Failed to load model: insufficient memory" in result.stderr


def test_warm_up_falls_back_on_old_lm_studio(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.responses_supported = False
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "wait")
    assert result.returncode == 0, result.stderr
    assert lmstudio_emulator.requests_to("POST", "/v1/chat/completions")


def test_token_is_sent_and_a_missing_one_is_exit_5(lmstudio_emulator):
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.token = "sk-local"
    denied = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off")
    assert denied.returncode == 5
    assert "$LM_API_TOKEN" in denied.stderr
    allowed = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                         env={"LM_API_TOKEN": "sk-local"})
    assert allowed.returncode == 0, allowed.stderr
    assert "sk-local" not in allowed.stderr + allowed.stdout


def test_html_answer_is_exit_8(lmstudio_emulator):
    lmstudio_emulator.models_body_override = b"<html><body>proxy login</body></html>"
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url)
    assert result.returncode == 8
    assert "not JSON" in result.stderr


def test_server_that_never_answers_hits_the_timeout_exit_10(lmstudio_emulator):
    lmstudio_emulator.hang = True
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--timeout", "1", "--json")
    assert result.returncode == 10
    assert result.json["state"] == "timed_out"


def test_server_that_accepts_and_says_nothing_is_exit_4_after_the_read_timeout(lmstudio_emulator):
    """Without --timeout, a silent server costs --read-timeout (default 10 s), and the hint names
    the option that changes it (not --timeout, which only caps)."""
    lmstudio_emulator.hang = True
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--read-timeout", "1.5")
    assert result.returncode == 4
    assert result.stderr.splitlines()[-2:] == [
        f"Error: LM Studio at {lmstudio_emulator.base_url} accepted the connection but did not answer in time "
        "while listing models (lmprep waits 1.5 s for an answer).",
        "The server may be stuck or overloaded: restart it, or give it longer to answer with --read-timeout S "
        "(`read_timeout` in the config file).",
    ]


def test_read_timeout_from_the_config_file(lmstudio_emulator, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("read_timeout = 1\n")
    lmstudio_emulator.hang = True
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--config", str(config), "--json")
    assert (result.returncode, result.json["state"]) == (4, "unreachable")
    assert "(lmprep waits 1 s for an answer)" in result.json["error"]["message"]


def test_closed_port_is_exit_4(unused_port):
    result = run_lmprep("-p", "ollama", "--base-url", f"http://127.0.0.1:{unused_port}/v1")
    assert result.returncode == 4
    assert f"Ollama is not responding at http://127.0.0.1:{unused_port}/v1 (connection refused)." in result.stderr


def test_offline_missing_model_is_exit_6(ollama_emulator):
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "--offline")
    assert result.returncode == 6
    assert not ollama_emulator.requests_to("POST", "/api/pull")


def test_bad_config_is_exit_3(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("oss_provider = lmstudio\n")
    result = run_lmprep(env={"LMPREP_CONFIG": str(config)})
    assert result.returncode == 3
    assert f"{config} is invalid at line 1, column 16" in result.stderr


def test_python_dash_m_works(lmstudio_emulator):
    import sys

    lmstudio_emulator.downloaded = [MODEL]
    completed = subprocess.run([sys.executable, "-m", "lmprep", "-p", "lmstudio", "--base-url",
                                lmstudio_emulator.base_url, "--warm-up", "off", "-q"], capture_output=True)
    assert completed.returncode == 0


def test_pull_stream_that_goes_silent_is_exit_7(ollama_emulator, tmp_path):
    ollama_emulator.pull_catalog = {"llama3": {"chunks": 3, "chunk_seconds": 5}}
    config = tmp_path / "config.toml"
    config.write_text("stall_timeout = 0.5\n")
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "llama3",
                        "--config", str(config))
    assert result.returncode == 7
    assert "did not answer in time while pulling llama3" in result.stderr


def test_dead_proxy_does_not_break_a_local_server(lmstudio_emulator, unused_port):
    lmstudio_emulator.downloaded = [MODEL]
    dead = f"http://127.0.0.1:{unused_port}"
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                        env={"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead, "http_proxy": dead})
    assert result.returncode == 0, result.stderr

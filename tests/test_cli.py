"""The command line surface, through click's CliRunner, against pytest-httpx."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from click.testing import CliRunner

from helpers import lmstudio_native, refuse
from lmprep.cli import cli
from lmprep.errors import ExitCode

LMS = "http://localhost:1234"
OLLAMA = "http://localhost:11434"
JSON_KEYS = ["schema", "ok", "state", "exit_code", "provider", "provider_source", "base_url", "model",
             "model_source", "agent", "downloaded", "warm_up", "context_length", "cpu_percent", "rtt_ms", "passed_over",
             "timings_ms", "started", "error"]


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def lmstudio_lists(httpx_mock, *ids):
    httpx_mock.add_response(url=f"{LMS}/v1/models", json={"data": [{"id": i, "object": "model", "owned_by": "organization_owner"}
                                                                     for i in ids]})


def test_ready_path_prints_one_line_on_stderr_and_nothing_on_stdout(httpx_mock):
    lmstudio_lists(httpx_mock, "openai/gpt-oss-20b")
    result = run("-p", "lmstudio", "--warm-up", "off")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == (
        "Checking LM Studio at http://localhost:1234/v1\n"
        "Ready: openai/gpt-oss-20b on LM Studio at http://localhost:1234/v1\n"
    )


def test_ensure_subcommand_is_the_default(httpx_mock):
    lmstudio_lists(httpx_mock, "openai/gpt-oss-20b")
    result = run("ensure", "-p", "lmstudio", "--warm-up", "off", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")


def test_json_ready_is_exactly_one_object(httpx_mock):
    lmstudio_lists(httpx_mock, "qwen/qwen3-8b")
    result = run("--json", "-p", "lmstudio", "-m", "qwen/qwen3-8b", "--warm-up", "off")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1
    payload = json.loads(result.stdout)
    assert list(payload) == JSON_KEYS
    assert payload["schema"] == 1 and payload["ok"] is True and payload["state"] == "ready"
    assert (payload["provider"], payload["provider_source"]) == ("lmstudio", "--local-provider")
    assert (payload["model"], payload["model_source"]) == ("qwen/qwen3-8b", "--model")
    assert payload["warm_up"] == {"mode": "off", "status": "off", "seconds": None}
    assert payload["error"] is None
    assert set(payload["timings_ms"]) >= {"resolve", "probe", "total"}


def test_unreachable_is_exit_4_with_what_to_do(httpx_mock):
    refuse(httpx_mock, f"{LMS}/v1/models")
    result = run("-p", "lmstudio")
    assert result.exit_code == ExitCode.UNREACHABLE == 4
    assert result.stderr.endswith(
        "Error: LM Studio is not responding at http://localhost:1234/v1 (connection refused).\n"
        "Start it with `lms server start`, or install it from https://lmstudio.ai/download.\n"
    )


def test_json_failure_still_one_object_and_never_the_token(httpx_mock):
    httpx_mock.add_response(url=f"{LMS}/v1/models", status_code=401,
                            json={"error": {"code": "invalid_api_key", "message": "token tok-XYZ is invalid"}})
    result = run("--json", "-p", "lmstudio", env={"LM_API_TOKEN": "tok-XYZ"})
    assert result.exit_code == 5
    payload = json.loads(result.stdout)
    assert (payload["ok"], payload["state"], payload["exit_code"]) == (False, "auth_failed", 5)
    assert payload["warm_up"]["status"] == "not_started"
    # The server's own words are kept, but not the token it echoed: no output shows a token.
    assert "tok-XYZ" not in result.stdout and "token *** is invalid" in payload["error"]["message"]
    assert "LM_API_TOKEN" in payload["error"]["hint"]


def test_token_itself_is_never_printed(httpx_mock):
    httpx_mock.add_response(url=f"{LMS}/v1/models", status_code=401, json={"error": {"message": "bad token"}})
    result = run("--json", "-p", "lmstudio", env={"LM_API_TOKEN": "tok-SECRET"})
    assert result.exit_code == 5
    assert "tok-SECRET" not in result.stdout + result.stderr


def test_protocol_error_is_exit_8(httpx_mock):
    httpx_mock.add_response(url=f"{LMS}/v1/models", json={"error": "Unexpected endpoint or method. (GET /v1/models)"})
    httpx_mock.add_response(url=f"{LMS}/", status_code=404)  # not Ollama either: the error is the listing's own
    result = run("-p", "lmstudio", "-q")
    assert result.exit_code == 8
    assert "Unexpected endpoint or method" in result.stderr


def test_another_server_on_lm_studios_default_port_is_exit_8_naming_it(httpx_mock):
    """Something else holds port 1234: what it is, and where LM Studio's address goes."""
    httpx_mock.add_response(url=f"{LMS}/v1/models", json={"object": "list", "data": [
        {"id": "qwen3:8b", "object": "model", "owned_by": "library"}]})
    result = run("-p", "lmstudio", "--json")
    assert result.exit_code == 8
    assert json.loads(result.stdout)["error"] == {
        "message": "http://localhost:1234/v1 answers like Ollama, not LM Studio (its /models entries are owned by "
                   "'library').",
        "hint": "If it is the server you meant, use `-p ollama` for it; otherwise give LM Studio's own address with "
                "--base-url.",
    }


def test_missing_model_offline_is_exit_6(httpx_mock):
    lmstudio_lists(httpx_mock, "other/model")
    result = run("-p", "lmstudio", "--offline", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 6
    assert payload["error"] == {
        "message": "LM Studio at http://localhost:1234/v1 does not have 'openai/gpt-oss-20b', "
                   "and --offline forbids downloading it. It has 'other/model'.",
        "hint": "Run lmprep without --offline to download it.",
    }


def test_lms_not_found_and_no_rest_download_is_exit_7(httpx_mock, isolated_home, monkeypatch):
    """Without `lms`, LM Studio before 0.4 (no REST download: its 200 "Unexpected endpoint") cannot download."""
    monkeypatch.setenv("PATH", str(isolated_home))
    lmstudio_lists(httpx_mock)
    httpx_mock.add_response(url=f"{LMS}/lmstudio-greeting", json={"lmstudio": True})  # nothing listed: it says who it is
    httpx_mock.add_response(method="POST", url="http://localhost:1234/api/v1/models/download",
                            json={"error": "Unexpected endpoint or method. (POST /api/v1/models/download)"})
    result = run("-p", "lmstudio")
    assert result.exit_code == 7
    assert ("Error: LM Studio at http://localhost:1234/v1 has no download route (POST /api/v1/models/download, "
            "LM Studio 0.4 and later), and `lms` was not found on this machine.") in result.stderr
    # LM Studio has just answered: what is missing is its `lms`, not LM Studio.
    assert ("`lms` comes with LM Studio: run `~/.lmstudio/bin/lms bootstrap` once to put it on PATH, or set "
            "LMPREP_LMS (or `lms_path` in the config file) to where it is.") in result.stderr
    assert "Install LM Studio" not in result.stderr


def test_ollama_pull_error_is_exit_7_with_the_server_text(httpx_mock):
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": []})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/pull",
                            content=b'{"status":"pulling manifest"}\n{"error":"pull model manifest: file does not exist"}\n')
    result = run("-p", "ollama", "-m", "nope")
    assert result.exit_code == 7
    assert "Error: Ollama could not pull 'nope': pull model manifest: file does not exist.\n" in result.stderr


def test_ollama_pull_then_ready_with_wait(httpx_mock):
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": []})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/pull", content=(
        b'{"status":"pulling manifest"}\n{"status":"pulling 1","digest":"d","total":10,"completed":10}\n'
        b'{"status":"success"}\n'))
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": [{"name": "llama3:latest"}]})
    httpx_mock.add_response(url=f"{OLLAMA}/api/ps", json={"models": []})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/show", json={"model_info": {"llama.context_length": 131072}})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/generate", json={"done": True, "done_reason": "load"})
    httpx_mock.add_response(url=f"{OLLAMA}/api/ps", json={"models": [{"name": "llama3:latest", "context_length": 8192}]})
    result = run("-p", "ollama", "-m", "llama3", "--warm-up", "wait", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 0, result.stderr
    assert payload["downloaded"] is True
    assert payload["warm_up"]["mode"] == "wait" and payload["warm_up"]["status"] == "ok"
    assert isinstance(payload["warm_up"]["seconds"], float)
    assert payload["context_length"] == 8192  # read back after the load


def test_plain_progress_has_no_carriage_returns_or_colour(httpx_mock):
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": []})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/pull", content=(
        b'{"status":"pulling 1","digest":"d","total":10,"completed":5}\n'
        b'{"status":"pulling 1","digest":"d","total":10,"completed":10}\n{"status":"success"}\n'))
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": [{"name": "llama3:latest"}]})
    result = run("-p", "ollama", "-m", "llama3", "--warm-up", "off")
    assert result.exit_code == 0
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    assert "Pulling llama3: 10 B of 10 B (100%)" in result.stderr


def test_still_missing_after_download_is_exit_6(httpx_mock):
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": []})
    httpx_mock.add_response(method="POST", url=f"{OLLAMA}/api/pull", content=b'{"status":"success"}\n')
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": []})
    result = run("-p", "ollama", "-m", "llama3")
    assert result.exit_code == 6
    assert "Error: Ollama still does not list 'llama3' after the download." in result.stderr


def test_warm_up_wait_failure_is_exit_9(httpx_mock):
    lmstudio_lists(httpx_mock, "openai/gpt-oss-20b")
    lmstudio_native(httpx_mock)
    httpx_mock.add_response(method="POST", url=f"{LMS}/v1/responses", status_code=500,
                            json={"error": {"message": "Failed to load model: out of memory"}})
    result = run("-p", "lmstudio", "--warm-up", "wait")
    assert result.exit_code == 9
    assert "Failed to load model: out of memory" in result.stderr


def test_overall_timeout_is_exit_10(httpx_mock):
    def slow_listing(request):
        time.sleep(0.4)
        return httpx.Response(200, json={"models": []})

    httpx_mock.add_callback(slow_listing, url=f"{OLLAMA}/api/tags")
    result = run("-p", "ollama", "--timeout", "0.2", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 10
    assert payload["state"] == "timed_out"
    # The listing itself outlived the deadline: it is the step named, not a later one.
    assert payload["error"]["message"].startswith("Gave up after 0.2 s (--timeout) while listing models")


def test_unknown_provider_is_exit_3_with_did_you_mean():
    result = run("-p", "lmstuido")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: Unknown provider 'lmstuido' (from --local-provider).\n"
        "Did you mean 'lmstudio'? Valid providers: lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai.\n"
    )


def nothing_else_listens(httpx_mock):
    # 8080 twice: llama-server and llama-swap share that port, and each kind looks for itself.
    for url in ("http://localhost:8080/v1/models", "http://localhost:8080/v1/models", "http://localhost:8000/v1/models",
                "http://localhost:13305/api/v1/models", "http://localhost:12434/engines/v1/models"):
        refuse(httpx_mock, url)


def test_nothing_chosen_and_nothing_running_is_exit_4(httpx_mock, isolated_home, monkeypatch):
    """Nothing answers: unreachable, as a script's `unreachable) ollama serve &` branch expects."""
    monkeypatch.setenv("PATH", str(isolated_home))  # no server program installed: the usual commands
    refuse(httpx_mock, f"{LMS}/lmstudio-greeting")
    refuse(httpx_mock, f"{OLLAMA}/")
    nothing_else_listens(httpx_mock)
    result = run()
    assert result.exit_code == 4
    assert result.stderr == (
        "Error: No provider was chosen, and none is running (looked for LM Studio at http://localhost:1234/v1, "
        "Ollama at http://localhost:11434/v1, llama.cpp server at http://localhost:8080/v1, "
        "vLLM at http://localhost:8000/v1, Lemonade Server at http://localhost:13305/api/v1, "
        "Docker Model Runner at http://localhost:12434/engines/v1, llama-swap at http://localhost:8080/v1).\n"
        "Start your server: LM Studio with `lms server start`, Ollama with `ollama serve`, llama.cpp with "
        "`llama-server -m MODEL.gguf`, or point lmprep at one that runs elsewhere with `-p NAME --base-url URL`.\n"
    )


def test_auto_detect_picks_the_one_that_answers(httpx_mock):
    refuse(httpx_mock, f"{LMS}/lmstudio-greeting")
    httpx_mock.add_response(url=f"{OLLAMA}/", text="Ollama is running")
    nothing_else_listens(httpx_mock)
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": [{"name": "gpt-oss:20b"}]})
    result = run("--json", "--warm-up", "off")
    payload = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (payload["provider"], payload["provider_source"]) == ("ollama", "auto-detected")


def test_auto_detection_says_what_it_found_in_one_line(httpx_mock):
    refuse(httpx_mock, f"{LMS}/lmstudio-greeting")
    httpx_mock.add_response(url=f"{OLLAMA}/", text="Ollama is running")
    nothing_else_listens(httpx_mock)
    httpx_mock.add_response(url=f"{OLLAMA}/api/tags", json={"models": [{"name": "gpt-oss:20b"}]})
    result = run("--warm-up", "off")
    assert result.exit_code == 0
    assert result.stderr == (  # not "Found Ollama at ..." and then "Checking Ollama at ..." for one step
        "Found Ollama at http://localhost:11434/v1\n"
        "Ready: gpt-oss:20b on Ollama at http://localhost:11434/v1\n"
    )


def test_both_running_is_exit_3_naming_the_values_to_choose_between(httpx_mock):
    httpx_mock.add_response(url=f"{LMS}/lmstudio-greeting", json={"lmstudio": True})
    httpx_mock.add_response(url=f"{OLLAMA}/", text="Ollama is running")
    nothing_else_listens(httpx_mock)
    result = run()
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: No provider was chosen, and several are running: LM Studio (http://localhost:1234/v1) and Ollama "
        "(http://localhost:11434/v1).\n"
        "Choose one with `-p lmstudio` or `-p ollama` (or LMPREP_PROVIDER), or for good with "
        '`oss_provider = "lmstudio"` or `oss_provider = "ollama"` in the config file (`lmprep config path` shows '
        "where).\n"
    )


def test_bad_config_file_is_exit_3_naming_line_and_column(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text('oss_provider = "lmstudio"\n[providers.lmstudio]\nmodel = \n')
    result = run("--config", str(config))
    assert result.exit_code == 3
    assert f"Error: The config file {config} is invalid at line 3, column 9" in result.stderr


@pytest.mark.parametrize("args, env", [
    (["-m", "--help-me"], {}),
    ([], {"LMPREP_MODEL": "-rf"}),
])
def test_model_starting_with_dash_is_refused(args, env):
    result = run("-p", "lmstudio", *args, env=env)
    assert result.exit_code == 3
    assert "starts with '-'" in result.stderr


def test_usage_error_is_exit_2():
    result = run("--warm-up", "later")
    assert result.exit_code == 2
    assert "Invalid value for '--warm-up'" in result.stderr


def test_negative_timeout_is_a_usage_error():
    assert run("--timeout", "-1").exit_code == 2


def test_unexpected_exception_is_exit_1_asking_for_a_report(httpx_mock, monkeypatch):
    from lmprep.providers.lmstudio import LMStudio

    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(LMStudio, "list_models", broken)
    result = run("-p", "lmstudio", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 1
    assert payload["state"] == "internal_error"
    assert payload["error"]["message"] == "Unexpected error: RuntimeError: boom"
    assert payload["error"]["hint"] == (  # no URL that does not exist: the project has none to give yet
        "This is a bug in lmprep: please report it to lmprep's maintainers, where you got lmprep, with "
        "the command you ran, `lmprep --version` and the traceback (run it again with LMPREP_DEBUG=1).")
    assert "http" not in payload["error"]["hint"]


def test_ctrl_c_is_exit_130(monkeypatch):
    from lmprep.providers.lmstudio import LMStudio

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(LMStudio, "list_models", interrupted)
    result = run("-p", "lmstudio", "--json")
    payload = json.loads(result.stdout)
    assert result.exit_code == 130
    assert (payload["state"], payload["error"]["message"]) == ("interrupted", "Interrupted.")


def test_unknown_config_key_is_a_warning_not_an_error(httpx_mock, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('[providers.lmstudio]\nmodle = "x"\n')
    lmstudio_lists(httpx_mock, "openai/gpt-oss-20b")
    result = run("-p", "lmstudio", "--warm-up", "off", "--config", str(config))
    assert result.exit_code == 0
    assert (f"warning: {config}:2: unknown key `providers.lmstudio.modle` (ignored); "
            "did you mean `providers.lmstudio.model`?\n") in result.stderr

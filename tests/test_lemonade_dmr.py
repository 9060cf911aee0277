"""Lemonade Server and Docker Model Runner, end to end against emulators built from their sources."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.dmr import DockerModelRunnerEmulator
from emulators.lemonade import LemonadeEmulator

pytestmark = pytest.mark.e2e
QWEN = "Qwen3-0.6B-GGUF"


def test_lemonade_pulls_loads_with_the_window_and_reports_it():
    with LemonadeEmulator(catalog={QWEN: 400_000_000}) as lemonade:
        result = run_lmprep("-p", "lemonade", "--base-url", lemonade.base_url, "-m", QWEN, "--min-context", "16384",
                            "--warm-up", "wait", "--json")
        assert result.returncode == 0, result.stderr
        assert (result.json["downloaded"], result.json["context_length"]) == (True, 16384)
        assert lemonade.requests_to("POST", "/api/v1/load")[-1].json == {"model_name": QWEN, "ctx_size": 16384}
        status = run_lmprep("status", "-p", "lemonade", "--base-url", lemonade.base_url, "-m", QWEN)
        assert f"lemonade models: {QWEN} (loaded, context 16384)" in status.stdout


def test_lemonade_is_auto_detected_and_an_unknown_model_is_exit_7():
    with LemonadeEmulator(downloaded=[QWEN]) as lemonade:
        found = run_lmprep("--base-url", lemonade.base_url, "-m", QWEN, "--warm-up", "off", "--json")
        assert (found.json["provider"], found.json["provider_source"]) == ("lemonade", "auto-detected")
        missing = run_lmprep("-p", "lemonade", "--base-url", lemonade.base_url, "-m", "Nope-GGUF")
        assert missing.returncode == 7
        assert "Error: Lemonade refused to pull 'Nope-GGUF' (HTTP 400: Model Nope-GGUF is not in the registry)." \
            in missing.stderr


def test_dmr_pulls_through_its_api_and_loads_on_the_first_request():
    with DockerModelRunnerEmulator(catalog={"ai/smollm2:latest": 270_000_000}) as dmr:
        result = run_lmprep("-p", "dmr", "--base-url", dmr.base_url, "-m", "ai/smollm2", "--warm-up", "wait",
                            "--json")
        assert result.returncode == 0, result.stderr
        assert (result.json["downloaded"], result.json["warm_up"]["status"]) == (True, "ok")
        assert dmr.requests_to("POST", "/models/create")[0].json == {"from": "ai/smollm2"}
        assert "ai/smollm2:latest" in dmr.loaded
        again = run_lmprep("-p", "dmr", "--base-url", dmr.base_url, "-m", "ai/smollm2", "--json")
        assert again.json["warm_up"]["status"] == "loaded"


def test_dmr_window_where_it_reports_one_and_auto_detection():
    with DockerModelRunnerEmulator(models={"ai/qwen3:latest": 8192}) as dmr:
        dmr.loaded = {"ai/qwen3:latest": 8192}
        result = run_lmprep("--base-url", dmr.base_url, "--min-context", "32768")
        assert result.returncode == 11
        assert "has 'ai/qwen3:latest' loaded with a 8192-token context window" in result.stderr
        assert "docker model configure --context-size 32768" in result.stderr
        missing = run_lmprep("-p", "dmr", "--base-url", dmr.base_url, "-m", "ai/nothing", "--offline")
        assert missing.returncode == 6
        assert "Run lmprep without --offline to download it." in missing.stderr


# -- issue 17: their pulls honour stall_timeout, and bound what they keep ----------------------

from hostile import HostileServer, answer, pull_lines  # noqa: E402

LEMONADE_STALLED = {"/api/v1/models": answer({"data": []}), "/api/v1/pull": pull_lines(
    [], repeat=b'event: progress\ndata: {"bytes_downloaded": 5, "bytes_total": 100}\n\n')}
DMR_STALLED = {"/engines/v1/models": answer({"object": "list", "data": []}), "/models/create": pull_lines(
    [], repeat=b'{"type": "progress", "total": 100, "layer": {"id": "a", "size": 100, "current": 5}}\n')}


@pytest.mark.parametrize("kind, routes, path, model", [("lemonade", LEMONADE_STALLED, "/api/v1", "x"),
                                                       ("dmr", DMR_STALLED, "/engines/v1", "ai/x")])
def test_a_pull_that_repeats_its_progress_stalls_after_stall_timeout(kind, routes, path, model, tmp_path):
    """Issue 17: Lemonade's and DMR's pulls ran on for as long as the server repeated itself."""
    config = tmp_path / "config.toml"
    config.write_text("stall_timeout = 1\n")
    with HostileServer(routes) as server:
        result = run_lmprep("-p", kind, "--base-url", server.origin + path, "-m", model, "--json",
                            "--config", str(config), timeout=30)
    assert (result.returncode, result.json["state"]) == (7, "download_failed"), result.stdout
    assert "made no progress for 1 s" in result.json["error"]["message"]
    assert "stall_timeout" in result.json["error"]["hint"]

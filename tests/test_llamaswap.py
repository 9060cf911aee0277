"""llama-swap, end to end against an emulator (tests/emulators/llamaswap.py) checked against the
real llama-swap v235 and built from its source at v235 and v250, that really starts and proxies
to a llama-server emulator per model. The real program itself: tests/test_llamaswap_real.py."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from e2e import run_lmprep
from emulators.llamaswap import LlamaSwapEmulator

pytestmark = pytest.mark.e2e


def _agents_first_request(swap: LlamaSwapEmulator, model: str) -> int:
    """What Codex sends first: POST /v1/responses, as the agent would after lmprep returned."""
    parts = urlsplit(swap.origin)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("POST", "/v1/responses", body=json.dumps({"model": model, "input": "hi"}),
                           headers={"Content-Type": "application/json"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_lmprep_does_the_cold_start_so_the_agents_first_request_finds_the_upstream_running(tmp_path):
    with LlamaSwapEmulator({"tiny": 131072}, start_seconds=0.5) as swap:
        result = run_lmprep("--for", "codex", "-p", "llamaswap", "--base-url", swap.base_url,
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert "Starting tiny's upstream through llama-swap (GET /upstream/tiny/health" in result.stdout + result.stderr
        # lmprep's own request paid the start; then the window was read from the running upstream.
        assert swap.arrivals[0] == ("/upstream/tiny/health", "tiny", "stopped")
        assert ("/upstream/tiny/props", "tiny", "ready") in swap.arrivals
        assert "context window 131072 tokens" in result.stdout + result.stderr
        swap.arrivals.clear()
        assert _agents_first_request(swap, "tiny") == 200
        assert swap.arrivals == [("/v1/responses", "tiny", "ready")]
        assert swap.starts == ["tiny"]


def test_a_running_upstream_is_loaded_and_its_window_comes_from_its_props(tmp_path):
    # v250 lists each model's aliases (meta.llamaswap.aliases, from v241): `coder` names `big`.
    with LlamaSwapEmulator({"tiny": 8192, "big": 65536}, aliases={"big": ["coder"]}, version="v250") as swap:
        first = run_lmprep("-p", "llamaswap", "--base-url", swap.base_url, "-m", "coder", "--warm-up", "wait",
                           "--json", env={"HOME": str(tmp_path)})
        assert first.returncode == 0, first.stderr
        assert (first.json["model"], first.json["warm_up"]["status"], first.json["context_length"]) == \
            ("coder", "ok", 65536)
        again = run_lmprep("-p", "llamaswap", "--base-url", swap.base_url, "-m", "coder", "--json",
                           env={"HOME": str(tmp_path)})
        assert (again.json["warm_up"]["status"], again.json["context_length"]) == ("loaded", 65536)
        assert swap.starts == ["big"]  # the alias names the configured id; `tiny` never started
        status = run_lmprep("status", "-p", "llamaswap", "--base-url", swap.base_url, env={"HOME": str(tmp_path)})
        assert "big (loaded, context 65536)" in status.stdout


def test_a_failed_start_quotes_the_upstreams_log_and_never_says_start_the_server(tmp_path):
    with LlamaSwapEmulator({"tiny": 8192}, fail_start={"tiny"}, start_seconds=0.2) as swap:
        result = run_lmprep("--for", "codex", "-p", "llamaswap", "--base-url", swap.base_url,
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 9, result.stderr
        assert "llama-swap could not start 'tiny''s upstream (GET /upstream/tiny/health: HTTP 500: " \
               "unspecific error: upstream command exited prematurely)." in result.stderr
        assert "failed to allocate buffer" in result.stderr  # from GET /logs/stream/tiny
        assert "healthCheckTimeout" in result.stderr
        assert "Start it with" not in result.stderr


def test_an_upstream_with_too_small_a_window_is_exit_11_with_the_cmd_to_change(tmp_path):
    with LlamaSwapEmulator({"tiny": 4096}) as swap:
        result = run_lmprep("--for", "codex", "-p", "llamaswap", "--base-url", swap.base_url,
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 11, result.stderr
        assert "loaded with a 4096-token context window" in result.stderr
        assert "llama-server: `-c 65536`" in result.stderr


def test_llama_swap_is_detected_by_its_listing_and_its_api_key_is_sent(tmp_path):
    with LlamaSwapEmulator({"tiny": 8192}, token="sk-swap-secret") as swap:
        config = tmp_path / "config.toml"
        config.write_text(f'[providers.box]\nkind = "llamaswap"\nbase_url = "{swap.base_url}"\n'
                          'api_key_env = "SWAP_KEY"\n')
        refused = run_lmprep("-p", "box", "--config", str(config), "--warm-up", "off", env={"HOME": str(tmp_path)})
        assert refused.returncode == 5
        found = run_lmprep("-p", "box", "--config", str(config), "--warm-up", "wait", "--json",
                           env={"HOME": str(tmp_path), "SWAP_KEY": "sk-swap-secret"})
        assert found.returncode == 0, found.stderr
        assert "sk-swap-secret" not in found.stdout + found.stderr
    with LlamaSwapEmulator({"tiny": 8192}) as swap:
        detected = run_lmprep("--base-url", swap.base_url, "--warm-up", "off", "--json", env={"HOME": str(tmp_path)})
        assert (detected.json["provider"], detected.json["provider_source"]) == ("llamaswap", "auto-detected")
        assert swap.starts == []  # looking never starts an upstream


@pytest.mark.parametrize("include_aliases_in_list", [False, True])
def test_an_alias_v235_does_not_list_is_asked_of_llama_swap_and_its_window_read_after_the_start(
        tmp_path, include_aliases_in_list):
    """Before v241 the listing names no aliases (or, with includeAliasesInList, lists each as an id
    of its own): llama-swap itself says whether it takes the name (GET /upstream/NAME: 301), and the
    window is read from the upstream lmprep's own cold start got running."""
    with LlamaSwapEmulator({"tiny": 8192, "big": 65536}, aliases={"big": ["coder"]},
                           include_aliases_in_list=include_aliases_in_list) as swap:
        result = run_lmprep("--for", "codex", "-p", "llamaswap", "--base-url", swap.base_url, "-m", "coder",
                            "--json", env={"HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert (result.json["model"], result.json["warm_up"]["status"], result.json["context_length"]) == \
            ("coder", "ok", 65536)
        assert swap.starts == ["big"]
        assert ("/upstream/coder/props", "big", "ready") in swap.arrivals
        missing = run_lmprep("-p", "llamaswap", "--base-url", swap.base_url, "-m", "nope", env={"HOME": str(tmp_path)})
        assert missing.returncode == 6
        assert "does not have 'nope'" in missing.stderr
        assert swap.starts == ["big"]  # asking for a name starts nothing
        # /upstream/tiny/x would be tiny's own path /x (a start): such a name is not asked about
        nested = run_lmprep("-p", "llamaswap", "--base-url", swap.base_url, "-m", "tiny/x", env={"HOME": str(tmp_path)})
        assert nested.returncode == 6
        assert swap.starts == ["big"]


def test_starting_another_model_swaps_out_the_one_that_ran(tmp_path):
    with LlamaSwapEmulator({"small": 8192, "tiny": 131072}) as swap:
        first = run_lmprep("-p", "llamaswap", "--base-url", swap.base_url, "-m", "small", "--warm-up", "wait",
                           "--json", env={"HOME": str(tmp_path)})
        assert first.returncode == 0, first.stderr
        second = run_lmprep("--for", "claude", "-p", "llamaswap", "--base-url", swap.base_url, "-m", "tiny",
                            "--json", env={"HOME": str(tmp_path)})
        assert second.returncode == 0, second.stderr
        assert second.json["context_length"] == 131072
        assert swap.starts == ["small", "tiny"]
        assert swap.states == {"tiny": "ready"}

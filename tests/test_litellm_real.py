"""lmprep through the real LiteLLM proxy (litellm[proxy] 1.106.12, from .ci/install-litellm) in
front of the real llama-server with the tiny model (128k training context, `-c 131072`, as the
agents' tests have it): `--for codex|claude|opencode -p litellm` through the gateway, a routed
model whose upstream is down, and LiteLLM's answers to a missing and a wrong key.

The proxy runs without a database, with a master key: the setup of a shared box that has not
set up virtual keys. Where litellm is not installed these tests skip with the reason, except on
CI with LMPREP_REQUIRE_REAL_SERVER=1, where they fail (as the real llama-server's do).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from e2e import run_lmprep
from realserver.fixtures import REQUIRE_ENV, real_server_required
from realserver.server import LlamaServer, _die_with_parent, free_port, http_request

pytestmark = [pytest.mark.real_server, pytest.mark.xdist_group("litellm")]
REPO = Path(__file__).resolve().parent.parent
MASTER_KEY = "sk-lmprep-litellm-master-5c1e"
#: LiteLLM needs ~8 s to start on a quiet machine, several times that on a loaded one.
START_TIMEOUT = 240.0


def find_litellm() -> Path | None:
    given = os.environ.get("LMPREP_LITELLM")
    if given:
        return Path(given)
    installed = REPO / ".ci-litellm" / "bin" / "litellm"
    return installed if installed.exists() else None


def litellm_config(upstream: str, down: str) -> str:
    # `tiny` says its window and tool support as an operator would (LiteLLM's price map does not
    # know a local model: null for both); `small` is the same upstream declared with 4096 tokens;
    # `down` routes to a port nothing listens on.
    return f"""\
model_list:
  - model_name: tiny
    litellm_params: {{model: openai/tiny, api_base: "{upstream}", api_key: none}}
    model_info: {{max_input_tokens: 131072, supports_function_calling: true}}
  - model_name: small
    litellm_params: {{model: openai/tiny, api_base: "{upstream}", api_key: none}}
    model_info: {{max_input_tokens: 4096}}
  - model_name: down
    litellm_params: {{model: openai/tiny, api_base: "{down}", api_key: none}}
general_settings:
  master_key: {MASTER_KEY}
"""


@contextlib.contextmanager
def litellm_proxy(binary: Path, config_text: str):
    """The proxy on a free 127.0.0.1 port, ready (GET /health/readiness 200); yields its /v1 URL."""
    with tempfile.TemporaryDirectory(prefix="lmprep-litellm-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(config_text)
        log = Path(folder) / "litellm.log"
        port = free_port()
        # Its price map from the package, not the network; no telemetry.
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False",
               "NO_PROXY": "127.0.0.1,localhost"}
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [str(binary), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, cwd=folder, env=env,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            started = time.monotonic()
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"litellm exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(OSError):
                    if http_request("GET", f"http://127.0.0.1:{port}/health/readiness", timeout=2).status == 200:
                        break
                if time.monotonic() - started > START_TIMEOUT:
                    raise RuntimeError(f"litellm not ready after {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def litellm_binary() -> Path:
    binary = find_litellm()
    if binary is None:
        reason = "litellm not found: run .ci/install-litellm, or set $LMPREP_LITELLM to its `litellm` program"
        report = REPO / ".ci-litellm" / "installed.txt"
        if report.exists():
            reason += f" (.ci/install-litellm said: {report.read_text().strip()})"
        if real_server_required():
            pytest.fail(f"{reason} (required because CI and {REQUIRE_ENV}=1)", pytrace=False)
        pytest.skip(reason)
    return binary


@pytest.fixture(scope="module")
def gateway(llama_server_binary, litellm_binary, tmp_path_factory):
    from realserver.tiny_gguf import write_tiny_gguf

    model = write_tiny_gguf(tmp_path_factory.mktemp("litellm") / "tiny128k.gguf", context_length=131072)
    upstream = LlamaServer(llama_server_binary, model, context=131072, alias="tiny",
                           extra_args=["-n", "16", "--repeat-penalty", "1.5"])
    with upstream:
        down = f"http://127.0.0.1:{free_port()}/v1"
        with litellm_proxy(litellm_binary, litellm_config(upstream.base_url, down)) as base_url:
            yield base_url, down


def lmprep(base_url: str, *args: str, key: str | None = MASTER_KEY):
    return run_lmprep("-p", "litellm", "--base-url", base_url, *args,
                      env={"LITELLM_PROXY_API_KEY": key or "", "NO_COLOR": "1"}, timeout=300)


@pytest.mark.parametrize("agent, label, route", [
    ("codex", "Codex", "the Responses API"),
    ("claude", "Claude Code", "the Anthropic Messages API"),
    ("opencode", "opencode", "the Chat Completions API"),
])
def test_an_agent_is_ready_through_the_gateway(gateway, agent, label, route):
    base_url, _ = gateway
    result = lmprep(base_url, "--for", agent, "-m", "tiny")
    assert result.returncode == 0, result.stderr
    assert f"Checking that LiteLLM proxy serves {route}, as {label} needs" in result.stderr
    assert f"Ready for {label}: tiny on LiteLLM proxy at {base_url}" in result.stderr, result.stderr
    assert MASTER_KEY not in result.stderr + result.stdout
    # The window is LiteLLM's model_info, the one the agent is told.
    payload = lmprep(base_url, "--for", agent, "-m", "tiny", "--json").json
    assert (payload["ok"], payload["provider"], payload["context_length"]) == (True, "litellm", 131072)


def test_a_model_whose_upstream_is_down_is_unreachable_naming_the_upstream(gateway):
    base_url, down = gateway
    result = lmprep(base_url, "--for", "codex", "-m", "down")
    assert result.returncode == 4, result.stderr
    assert f"Error: LiteLLM proxy at {base_url} routes 'down' to {down}, which is not answering" in result.stderr
    assert f"Start the server at {down}" in result.stderr


def test_a_window_the_gateway_declares_too_small_is_exit_11(gateway):
    base_url, _ = gateway
    result = lmprep(base_url, "--for", "codex", "-m", "small")
    assert result.returncode == 11, result.stderr
    assert "has 'small' loaded with a 4096-token context window; 65536 are required" in result.stderr
    assert "model_info: {max_input_tokens: 65536}" in result.stderr


def test_a_missing_key_is_an_auth_failure_not_a_server_error(gateway):
    base_url, _ = gateway
    result = lmprep(base_url, "-m", "tiny", key=None)
    assert result.returncode == 5, result.stderr
    assert "answered HTTP 500 ('Internal Server Error') to a request without a key" in result.stderr
    assert "set $LITELLM_PROXY_API_KEY" in result.stderr


def test_a_key_the_proxy_does_not_know_is_an_auth_failure(gateway):
    base_url, _ = gateway
    result = lmprep(base_url, "-m", "tiny", key="sk-not-the-master-key")
    assert result.returncode == 5, result.stderr
    assert "refused the key in $LITELLM_PROXY_API_KEY (HTTP 400: No connected db.)" in result.stderr
    assert "sk-not-the-master-key" not in result.stderr


def test_doctor_shows_the_proxys_version(gateway, tmp_path):
    """litellm 1.106.12 says its version in /health/readiness/details, with the key; the public
    /health/readiness has only `status` and `db` (by default)."""
    base_url, _ = gateway
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.litellm]\nbase_url = "{base_url}"\nmodel = "tiny"\n')
    result = run_lmprep("doctor", "-p", "litellm", "--for", "aider", "--config", str(config), "--json",
                        env={"LITELLM_PROXY_API_KEY": MASTER_KEY}, timeout=120)
    (server,) = result.json["servers"]
    assert server["version"] == "1.106.12", result.json
    assert MASTER_KEY not in result.stdout

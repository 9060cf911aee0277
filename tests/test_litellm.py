"""The `litellm` kind against an emulator of LiteLLM's proxy (tests/emulators/litellm.py, from
what the real 1.106.12 answered; tests/test_litellm_real.py runs the real proxy)."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.litellm import Deployment, LiteLLMEmulator
from emulators.llamacpp import LlamaServerEmulator

KEY = "sk-litellm-emulated-master-2b9d"
UPSTREAM = "http://gpu-box.lan:8080/v1"
DOWN = "http://gpu-box.lan:8081/v1"


@pytest.fixture
def gateway():
    with LiteLLMEmulator(master_key=KEY, deployments={
        "coder": Deployment(UPSTREAM, max_input_tokens=131072, supports_function_calling=True),
        "unknown-window": Deployment(UPSTREAM),
        "no-tools": Deployment(UPSTREAM, max_input_tokens=131072, supports_function_calling=False),
        "down": Deployment(DOWN, max_input_tokens=131072, up=False),
    }) as emulator:
        yield emulator


def lmprep(gateway, *args: str, key: str = KEY):
    return run_lmprep("-p", "litellm", "--base-url", gateway.base_url, *args, env={"LITELLM_PROXY_API_KEY": key})


def test_ready_for_codex_with_the_window_the_gateway_declares(gateway):
    result = lmprep(gateway, "--for", "codex", "-m", "coder", "--json")
    assert result.returncode == 0, result.stderr
    assert (result.json["provider"], result.json["context_length"]) == ("litellm", 131072)
    # The warm-up's non-streamed /v1/responses answer carries `"error": null`: no error.
    assert gateway.requests_to("POST", "/v1/responses")
    assert all(r.header("authorization") == f"Bearer {KEY}" for r in gateway.requests if r.path.startswith("/v1/"))
    assert KEY not in result.stdout + result.stderr


def test_a_window_the_gateway_does_not_declare_is_a_warning(gateway):
    result = lmprep(gateway, "--for", "opencode", "-m", "unknown-window")
    assert result.returncode == 0, result.stderr
    assert "LiteLLM proxy does not say which window unknown-window is loaded with" in result.stderr


def test_a_model_the_gateway_says_takes_no_tools_is_exit_12(gateway):
    result = lmprep(gateway, "--for", "claude", "-m", "no-tools")
    assert result.returncode == 12, result.stderr
    assert "LiteLLM proxy says 'no-tools' does not support tools" in result.stderr
    assert not gateway.requests_to("POST", "/v1/messages") or all(
        r.json == {} for r in gateway.requests_to("POST", "/v1/messages"))


def test_a_down_upstream_is_unreachable_naming_it(gateway):
    result = lmprep(gateway, "--for", "codex", "-m", "down")
    assert result.returncode == 4, result.stderr
    assert (f"Error: LiteLLM proxy at {gateway.base_url} routes 'down' to {DOWN}, which is not answering "
            "(litellm.InternalServerError: InternalServerError: OpenAIException - Connection error.).") in result.stderr
    assert "stack trace" not in result.stderr
    assert gateway.requests_to("GET", "/health")[0].query == "model=down"


def test_a_down_upstream_is_named_from_model_info_for_a_key_that_is_not_admin(gateway):
    gateway.admin = False  # LiteLLM strips api_base from /health for other keys
    result = lmprep(gateway, "--for", "codex", "-m", "down", "--warm-up", "wait")
    assert result.returncode == 4, result.stderr
    assert f"routes 'down' to {DOWN}, which is not answering" in result.stderr


@pytest.mark.parametrize("key, said", [
    ("", "answered HTTP 500 ('Internal Server Error') to a request without a key ($LITELLM_PROXY_API_KEY is not set)"),
    ("sk-a-virtual-key-without-db", "refused the key in $LITELLM_PROXY_API_KEY (HTTP 400: No connected db.)"),
])
def test_litellms_answers_to_a_missing_or_unknown_key_are_auth_failures(gateway, key, said):
    result = lmprep(gateway, "-m", "coder", key=key)
    assert result.returncode == 5, result.stderr
    assert said in result.stderr
    assert "sk-a-virtual-key-without-db" not in result.stderr


def test_the_proxy_is_told_apart_by_its_readiness_route(gateway):
    from lmprep.config import resolve_settings
    from lmprep.providers import open_provider

    with LlamaServerEmulator() as llama:
        for base_url, expected in ((gateway.base_url, True), (llama.base_url, False)):
            settings = resolve_settings(env={"LMPREP_BASE_URL": base_url, "LMPREP_PROVIDER": "litellm"})
            with open_provider(settings.provider_settings("litellm")) as provider:
                assert provider.identify() is expected


def test_it_is_not_auto_detected():
    from lmprep.providers import AUTO_DETECT_KINDS

    assert "litellm" not in AUTO_DETECT_KINDS

"""LM Studio's HTTP exchanges, against pytest-httpx."""

from __future__ import annotations

import json

import httpx
import pytest

from helpers import provider_settings, refuse
from lmprep.errors import AuthFailedError, ProtocolError, UnreachableError, WarmupFailedError
from lmprep.providers.lmstudio import LMStudio

BASE = "http://localhost:1234/v1"
MODELS_URL = f"{BASE}/models"


def lmstudio(env=None, **flags):
    return LMStudio(provider_settings("lmstudio", env, **flags))


def test_lists_model_ids(httpx_mock):
    httpx_mock.add_response(url=MODELS_URL, json={
        "data": [{"id": "openai/gpt-oss-20b", "object": "model", "owned_by": "organization_owner"},
                 {"id": "qwen/qwen3-8b", "object": "model"}], "object": "list"})
    with lmstudio() as provider:
        listing = provider.list_models()
    assert listing == ["openai/gpt-oss-20b", "qwen/qwen3-8b"]
    assert provider.has_model("OpenAI/GPT-OSS-20B", listing)
    assert not provider.has_model("openai/gpt-oss-120b", listing)


@pytest.mark.parametrize("body, fragment", [
    (b'{"error": "Unexpected endpoint or method. (GET /v1/models)"}', "Unexpected endpoint or method"),
    (b"<html><body>Welcome to nginx</body></html>", "not JSON"),
    (b'{"object": "list"}', "without a `data` list"),
    (b'{"data": {"id": "x"}}', "without a `data` list"),
])
def test_answer_that_is_not_lm_studio_is_a_protocol_error(httpx_mock, body, fragment):
    httpx_mock.add_response(url=MODELS_URL, content=body)
    with lmstudio() as provider, pytest.raises(ProtocolError) as caught:
        provider.list_models()
    assert fragment in caught.value.message
    assert caught.value.exit_code == 8


def test_sends_bearer_token_from_lm_api_token(httpx_mock):
    httpx_mock.add_response(url=MODELS_URL, json={"data": []}, match_headers={"Authorization": "Bearer s3cret"})
    with lmstudio(env={"LM_API_TOKEN": "s3cret"}) as provider:
        assert provider.list_models() == []


def test_token_variable_can_be_renamed_with_api_key_env(httpx_mock, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[providers.lmstudio]\napi_key_env = "MY_LMS_TOKEN"\n')
    httpx_mock.add_response(url=MODELS_URL, json={"data": []}, match_headers={"Authorization": "Bearer abc"})
    with lmstudio(env={"MY_LMS_TOKEN": "abc", "LM_API_TOKEN": "ignored"}, config_path=str(config)) as provider:
        provider.list_models()


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_auth_failed(httpx_mock, status):
    httpx_mock.add_response(url=MODELS_URL, status_code=status, json={"error": {
        "type": "invalid_request", "code": "invalid_api_key",
        "message": "An LM Studio API token is required to make requests to this server."}})
    with lmstudio() as provider, pytest.raises(AuthFailedError) as caught:
        provider.list_models()
    error = caught.value
    assert error.exit_code == 5
    assert isinstance(error, PermissionError)
    assert "An LM Studio API token is required" in error.message
    assert error.hint == "The server wants an API token: set $LM_API_TOKEN."


def test_wrong_token_hint_names_the_variable_but_never_the_token(httpx_mock):
    httpx_mock.add_response(url=MODELS_URL, status_code=401, json={"error": {"message": "Invalid token"}})
    with lmstudio(env={"LM_API_TOKEN": "tok-123"}) as provider, pytest.raises(AuthFailedError) as caught:
        provider.list_models()
    assert "LM_API_TOKEN" in caught.value.hint
    assert "tok-123" not in str(caught.value)


@pytest.mark.parametrize("exception, reason", [
    (httpx.ConnectError("[Errno 111] Connection refused"), "connection refused"),
    (httpx.ConnectTimeout("timed out"), "connection timed out after 5 s"),
])
def test_no_server_is_unreachable_with_the_lms_hint(httpx_mock, exception, reason):
    refuse(httpx_mock, MODELS_URL, exception=exception)
    with lmstudio() as provider, pytest.raises(UnreachableError) as caught:
        provider.list_models()
    assert caught.value.message == f"LM Studio is not responding at {BASE} ({reason})."
    assert caught.value.hint == "Start it with `lms server start`, or install it from https://lmstudio.ai/download."
    assert isinstance(caught.value, ConnectionError)


def test_server_that_accepts_but_never_answers_is_unreachable(httpx_mock):
    httpx_mock.add_exception(httpx.ReadTimeout("timed out"), url=MODELS_URL)
    with lmstudio() as provider, pytest.raises(UnreachableError) as caught:
        provider.list_models()
    assert "accepted the connection but did not answer in time" in caught.value.message


def test_identify_by_greeting(httpx_mock):
    httpx_mock.add_response(url="http://localhost:1234/lmstudio-greeting", json={"lmstudio": True})
    with lmstudio() as provider:
        assert provider.identify()


@pytest.mark.parametrize("response", [
    {"json": {"lmstudio": False}}, {"content": b"nope"}, {"status_code": 404, "json": {"lmstudio": True}},
])
def test_identify_rejects_other_servers(httpx_mock, response):
    httpx_mock.add_response(url="http://localhost:1234/lmstudio-greeting", **response)
    with lmstudio() as provider:
        assert not provider.identify()


def test_identify_is_false_when_nothing_listens(httpx_mock):
    refuse(httpx_mock, "http://localhost:1234/lmstudio-greeting")
    with lmstudio() as provider:
        assert not provider.identify()


def _sent_json(request):
    return json.loads(request.content)


def test_warm_up_posts_one_token_to_responses(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/responses", json={"id": "resp_1", "output": []})
    with lmstudio() as provider:
        provider.warm_up("openai/gpt-oss-20b")
    [request] = httpx_mock.get_requests()
    assert _sent_json(request) == {"model": "openai/gpt-oss-20b", "input": "", "max_output_tokens": 1}


def test_warm_up_falls_back_to_chat_completions_before_0_3_29(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/responses",
                            json={"error": "Unexpected endpoint or method. (POST /v1/responses)"})
    httpx_mock.add_response(method="POST", url=f"{BASE}/chat/completions",
                            json={"id": "c", "choices": [{"message": {"content": "H"}}]})
    with lmstudio() as provider:
        provider.warm_up("m")
    chat = httpx_mock.get_requests()[1]
    assert _sent_json(chat)["max_tokens"] == 1
    assert _sent_json(chat)["model"] == "m"


def test_warm_up_of_unknown_model_fails_with_the_server_text(httpx_mock):
    httpx_mock.add_response(method="POST", url=f"{BASE}/responses", status_code=404, json={"error": {
        "message": "Invalid model identifier \"nope\".", "type": "invalid_request_error",
        "param": "model", "code": "model_not_found"}})
    with lmstudio() as provider, pytest.raises(WarmupFailedError) as caught:
        provider.warm_up("nope")
    assert caught.value.exit_code == 9
    assert 'Invalid model identifier "nope".' in caught.value.message
    assert "lms get nope" in caught.value.hint


def test_warm_up_with_jit_off_reports_no_models_loaded(httpx_mock):
    text = "No models loaded. Please load a model in the developer page or use the 'lms load' command."
    httpx_mock.add_response(method="POST", url=f"{BASE}/responses", status_code=400, json={"error": {"message": text}})
    with lmstudio() as provider, pytest.raises(WarmupFailedError) as caught:
        provider.warm_up("m")
    assert text in caught.value.message


def test_warm_up_read_timeout_is_warmup_failed(httpx_mock):
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), method="POST", url=f"{BASE}/responses")
    with lmstudio() as provider, pytest.raises(WarmupFailedError):
        provider.warm_up("m", read_timeout=1)

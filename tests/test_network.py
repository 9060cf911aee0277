"""Network hygiene: localhost falling back to 127.0.0.1, proxies, tokens over plain HTTP."""

from __future__ import annotations

import socket

import httpx
import pytest
from click.testing import CliRunner

from helpers import provider_settings
from lmprep.cli import cli
from lmprep.providers.lmstudio import LMStudio


def test_localhost_that_refuses_on_ipv6_is_retried_on_127_0_0_1(lmstudio_emulator, monkeypatch):
    lmstudio_emulator.downloaded = ["m"]
    real_getaddrinfo = socket.getaddrinfo

    def localhost_is_ipv6_only(host, *args, **kwargs):
        if host == "localhost":
            return real_getaddrinfo("::1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", localhost_is_ipv6_only)
    url = f"http://localhost:{lmstudio_emulator.port}/v1"
    with LMStudio(provider_settings("lmstudio", base_url=url)) as provider:
        assert provider.list_models() == ["m"]
        provider.warm_up("m")  # later requests go straight to 127.0.0.1
    assert len(lmstudio_emulator.requests_to("GET", "/v1/models")) == 1
    assert len(lmstudio_emulator.requests_to("POST", "/v1/responses")) == 1


def test_other_hosts_are_not_rewritten(httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("refused"), url="http://127.0.0.2:1234/v1/models")
    with LMStudio(provider_settings("lmstudio", base_url="http://127.0.0.2:1234/v1")) as provider:
        with pytest.raises(ConnectionError, match="127.0.0.2"):
            provider.list_models()


def test_token_over_plain_http_to_another_host_is_warned_about(httpx_mock):
    httpx_mock.add_response(url="http://gpu-box.example:8000/v1/models",
                            json={"data": [{"id": "m", "owned_by": "organization_owner"}]})
    result = CliRunner().invoke(
        cli, ["-p", "lmstudio", "--base-url", "http://gpu-box.example:8000/v1", "-m", "m", "--warm-up", "off"],
        env={"LM_API_TOKEN": "tok-1"},
    )
    assert result.exit_code == 0
    assert ("warning: The API token from $LM_API_TOKEN goes to http://gpu-box.example:8000/v1 unencrypted; "
            "use https:// for servers on other machines.") in result.stderr
    assert "tok-1" not in result.stderr


def test_no_warning_for_loopback_or_https(httpx_mock):
    for url in ("http://127.0.0.1:1234/v1", "https://gpu-box.example/v1"):
        httpx_mock.add_response(url=f"{url}/models", json={"data": [{"id": "m", "owned_by": "organization_owner"}]})
        result = CliRunner().invoke(cli, ["-p", "lmstudio", "--base-url", url, "-m", "m", "--warm-up", "off"],
                                    env={"LM_API_TOKEN": "tok-1"})
        assert result.exit_code == 0
        assert "warning" not in result.stderr

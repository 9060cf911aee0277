"""LM Studio: `lms get` for a server on this machine when `lms` is found; otherwise (no `lms`, or
a server on another machine) the REST download with progress; never the local `lms` for a remote
server. The default base URL from http-server.json; LM_STUDIO_BASE_URL and LM_STUDIO_API_KEY."""

from __future__ import annotations

import json

import pytest

import lmprep.providers.lmstudio
from e2e import run_lmprep
from emulators.fake_lms import install_fake_lms
from emulators.lmstudio import LMStudioEmulator
from lmprep.config import Flags, resolve_settings
from lmprep.errors import DownloadFailedError
from lmprep.events import Transfer
from lmprep.providers import open_provider

MODEL = "qwen/qwen3-8b"


@pytest.fixture
def lmstudio():
    with LMStudioEmulator(catalog={MODEL: {"steps": 4, "size_bytes": 4_000_000}}) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setattr(lmprep.providers.lmstudio, "DOWNLOAD_POLL_INTERVAL", 0.01)


def provider_for(base_url: str, env: dict | None = None, events: list | None = None):
    settings = resolve_settings(Flags(provider="lmstudio", base_url=base_url), env or {"HOME": "/nonexistent"})
    return open_provider(settings.providers["lmstudio"], report=(events.append if events is not None else print))


def test_without_lms_a_local_server_downloads_through_rest_with_progress(lmstudio, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    events: list = []
    with provider_for(lmstudio.base_url, events=events) as provider:
        provider.download(MODEL)
    assert MODEL in lmstudio.downloaded
    transfers = [e for e in events if isinstance(e, Transfer)]
    assert transfers[0] == Transfer(f"Downloading {MODEL}", 1_000_000, 4_000_000, 50_000_000.0)
    assert transfers[-1] == Transfer(f"Downloading {MODEL}", 4_000_000, 4_000_000)
    assert [r.json for r in lmstudio.requests_to("POST", "/api/v1/models/download")] == [{"model": MODEL}]


def test_a_remote_server_never_gets_the_local_lms(lmstudio, tmp_path, monkeypatch):
    """A server on another machine: the local `lms` would download to this one."""
    lms = install_fake_lms(tmp_path / "bin", lmstudio.origin)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(lmprep.providers.lmstudio, "is_loopback_url", lambda url: False)
    with provider_for(lmstudio.base_url, events=[]) as provider:
        provider.download(MODEL)
    assert lms.exists() and lmstudio.requests_to("POST", "/api/v1/models/download")
    assert MODEL in lmstudio.downloaded


def test_no_route_and_no_lms_is_exit_7_with_a_hint(lmstudio, monkeypatch):
    lmstudio.rest_download = False
    monkeypatch.setenv("PATH", "/nonexistent")
    with provider_for(lmstudio.base_url, events=[]) as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download(MODEL)
    assert caught.value.message == (
        f"LM Studio at {lmstudio.base_url} has no download route (POST /api/v1/models/download, LM Studio 0.4 and "
        "later), and `lms` was not found on this machine.")
    assert "Or update LM Studio to 0.4 or later." in caught.value.hint


def test_no_route_on_a_remote_server_names_the_way_out_there(lmstudio, monkeypatch):
    lmstudio.rest_download = False
    monkeypatch.setattr(lmprep.providers.lmstudio, "is_loopback_url", lambda url: False)
    with provider_for(lmstudio.base_url, events=[]) as provider, pytest.raises(DownloadFailedError) as caught:
        provider.download(MODEL)
    assert "the `lms` on this machine cannot download to another machine" in caught.value.message
    assert caught.value.hint == f"Update LM Studio on that machine to 0.4 or later, or run `lms get {MODEL}` there."


def test_a_failed_job_and_an_unknown_model_are_exit_7(lmstudio, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    lmstudio.catalog["bad/model"] = {"error": "disk full", "steps": 4}
    with provider_for(lmstudio.base_url, events=[]) as provider:
        with pytest.raises(DownloadFailedError, match=r"could not download 'bad/model' \(HTTP 200: status failed\)"):
            provider.download("bad/model")
        with pytest.raises(DownloadFailedError, match="Invalid model identifier"):
            provider.download("nobody/nothing")


def test_already_downloaded(lmstudio, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    lmstudio.downloaded.append(MODEL)
    with provider_for(lmstudio.base_url, events=[]) as provider:
        provider.download(MODEL)
    assert lmstudio.jobs == {}


@pytest.mark.e2e
def test_end_to_end_without_lms(lmstudio, tmp_path):
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", MODEL, "--warm-up", "off",
                        "--json", env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert result.json["downloaded"] is True
    plain = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", MODEL, "--warm-up", "off")
    assert plain.returncode == 0


@pytest.mark.e2e
def test_end_to_end_progress_lines(tmp_path):
    with LMStudioEmulator(catalog={MODEL: {"steps": 3, "size_bytes": 3_000_000}}) as lmstudio:
        result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", MODEL, "--warm-up", "off",
                            env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert f"Downloading {MODEL} through LM Studio's REST API (POST /api/v1/models/download)" in result.stderr
    assert f"Downloading {MODEL}: 3.0 MB of 3.0 MB (100%)" in result.stderr


def test_the_default_base_url_is_the_port_lm_studio_wrote(tmp_path):
    internal = tmp_path / ".lmstudio" / ".internal"
    internal.mkdir(parents=True)
    (internal / "http-server.json").write_text(json.dumps({"port": 41343, "host": "127.0.0.1"}))
    settings = resolve_settings(Flags(), {"HOME": str(tmp_path)})
    entry = settings.providers["lmstudio"]
    assert entry.base_url == ("http://localhost:41343/v1", str(internal / "http-server.json"))
    (internal / "http-server.json").write_text('{"port": "nope"}')
    assert resolve_settings(Flags(), {"HOME": str(tmp_path)}).providers["lmstudio"].base_url.source == "default"


def test_lm_studio_base_url_and_api_key(tmp_path):
    env = {"HOME": str(tmp_path), "LM_STUDIO_BASE_URL": "ws://gpu-box:1234", "LM_STUDIO_API_KEY": "sk-lm-secret"}
    entry = resolve_settings(Flags(), env).providers["lmstudio"]
    assert entry.base_url == ("http://gpu-box:1234/v1", "LM_STUDIO_BASE_URL")
    assert (entry.token, entry.api_key_env.value) == ("sk-lm-secret", "LM_STUDIO_API_KEY")
    # Codex's variable and LM_API_TOKEN come first.
    env.update(CODEX_OSS_BASE_URL="http://other:9/v1", LM_API_TOKEN="first")
    entry = resolve_settings(Flags(), env).providers["lmstudio"]
    assert entry.base_url.source == "CODEX_OSS_BASE_URL"
    assert (entry.token, entry.api_key_env.value) == ("first", "LM_API_TOKEN")
    assert resolve_settings(Flags(), {"LM_STUDIO_BASE_URL": "http://h:5/v1"}).providers["lmstudio"].base_url.value \
        == "http://h:5/v1"
    with pytest.raises(Exception, match="LM_STUDIO_BASE_URL"):
        resolve_settings(Flags(provider="lmstudio"), {"LM_STUDIO_BASE_URL": "ftp://x"}).provider_settings("lmstudio")


@pytest.mark.parametrize("entry", [{"size_bytes": 10**400}, {"bytes_per_second": 5e-324}, {"bytes_per_second": 10**400}],
                         ids=["huge-size", "tiny-rate", "huge-rate"])
def test_a_rest_download_with_absurd_numbers_is_no_internal_error(entry, monkeypatch):
    """Issue 17: a 400-digit size, or a rate of 5e-324, made the progress maths overflow (exit 1)."""
    with LMStudioEmulator(catalog={MODEL: {"steps": 3, **entry}}) as emulator:
        result = run_lmprep("-p", "lmstudio", "--base-url", emulator.base_url, "-m", MODEL, "--warm-up", "off",
                            env={"PATH": "/nonexistent"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and f"Downloading {MODEL}" in result.stderr

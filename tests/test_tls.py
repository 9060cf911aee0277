"""A shared box over https with a private CA: a real TLS server on 127.0.0.1 whose certificate a
CA generated here (with the openssl command) signed."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from e2e import run_lmprep
from emulators.llamacpp import LlamaServerEmulator

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")]

TOKEN = "sk-box-7f3a9c2e51"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Path:
    """ca.pem (the private CA), server.pem/server.key (for 127.0.0.1 and localhost, signed by
    it) and other-ca.pem (a CA that signed nothing here)."""
    folder = tmp_path_factory.mktemp("tls")
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
                 "-days", "2", "-subj", f"/CN=lmprep test {name}", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=gpu-box", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName = IP:127.0.0.1, DNS:localhost\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "server.pem", "-days", "2", "-extfile", "san.ext", cwd=folder)
    return folder


@pytest.fixture
def box(certificates):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    emulator = LlamaServerEmulator(alias="tiny", context=65536, n_ctx_train=65536)
    emulator.token = TOKEN
    emulator.tls = context
    with emulator:
        yield emulator


def _config(tmp_path: Path, base_url: str, ca_cert: Path | None = None) -> Path:
    path = tmp_path / "config.toml"
    line = f'ca_cert = "{ca_cert}"\n' if ca_cert else ""
    path.write_text(f'[providers.box]\nkind = "llamacpp"\nbase_url = "{base_url}"\napi_key_env = "BOX_TOKEN"\n{line}')
    return path


def _run(tmp_path: Path, config: Path, *args: str, **env: str):
    return run_lmprep("-p", "box", "--config", str(config), *args,
                      env={"HOME": str(tmp_path), "BOX_TOKEN": TOKEN, "SSL_CERT_FILE": "", "SSL_CERT_DIR": "", **env})


def test_a_certificate_from_an_unknown_ca_is_its_own_error_with_the_ca_hint(tmp_path, box):
    result = _run(tmp_path, _config(tmp_path, box.base_url), "--for", "codex")
    assert result.returncode == 4, result.stderr
    assert f"Error: box (llama.cpp server) at {box.base_url} presented a TLS certificate that could not be " \
           "verified (" in result.stderr
    assert 'set `ca_cert = "/path/to/ca.pem"` under [providers.box] in the config file, or ' \
           "SSL_CERT_FILE=/path/to/ca.pem" in result.stderr
    assert "llama-server -m" not in result.stderr and "Start" not in result.stderr
    assert TOKEN not in result.stdout + result.stderr


def test_ca_cert_in_the_config_verifies_the_box_and_the_token_reaches_it(tmp_path, box, certificates):
    result = _run(tmp_path, _config(tmp_path, box.base_url, certificates / "ca.pem"), "--for", "codex", "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["context_length"] == 65536
    assert isinstance(result.json["rtt_ms"], float) and result.json["rtt_ms"] > 0
    assert all(request.header("authorization") == f"Bearer {TOKEN}" for request in box.requests)
    assert TOKEN not in result.stdout + result.stderr
    # The agent gets the token as over http: `lmprep env` exports it for the agent, to the https URL.
    env = run_lmprep("env", "-p", "box", "--config", str(_config(tmp_path, box.base_url, certificates / "ca.pem")),
                     "--for", "openai", "--format", "dotenv",
                     env={"HOME": str(tmp_path), "BOX_TOKEN": TOKEN, "SSL_CERT_FILE": "", "SSL_CERT_DIR": ""})
    assert env.returncode == 0, env.stderr
    assert f"='{TOKEN}'\n" in env.stdout and box.base_url in env.stdout


def test_a_ca_cert_that_did_not_sign_it_says_to_check_that_file(tmp_path, box, certificates):
    result = _run(tmp_path, _config(tmp_path, box.base_url, certificates / "other-ca.pem"), "--warm-up", "off")
    assert result.returncode == 4
    assert f"check that {certificates / 'other-ca.pem'} (ca_cert, from config " in result.stderr


def test_ssl_cert_file_trusts_the_private_ca_also_for_loopback(tmp_path, box, certificates):
    # httpx trusts no environment for loopback hosts (no proxy may capture them): the CA still counts.
    localhost = box.base_url.replace("127.0.0.1", "localhost")
    result = _run(tmp_path, _config(tmp_path, localhost), "--warm-up", "off",
                  SSL_CERT_FILE=str(certificates / "ca.pem"))
    assert result.returncode == 0, result.stderr
    folder = _run(tmp_path, _config(tmp_path, box.base_url), "--warm-up", "off", SSL_CERT_DIR=str(certificates))
    assert folder.returncode == 4  # a folder needs OpenSSL's hashed names (c_rehash): ca.pem alone is not found


def test_an_unreadable_ca_cert_is_exit_3(tmp_path, box):
    result = _run(tmp_path, _config(tmp_path, box.base_url, tmp_path / "missing.pem"), "--warm-up", "off")
    assert result.returncode == 3
    assert f"Cannot read the CA certificates in {tmp_path / 'missing.pem'} (from ca_cert)" in result.stderr


def test_the_ready_line_shows_the_round_trip_to_a_box_elsewhere_only():
    from lmprep.cli import success_line
    from lmprep.pipeline import Readiness

    remote = Readiness(provider="box", kind="llamacpp", base_url="https://gpu-box.lan:8443/v1", model="tiny",
                       rtt_ms=38.4)
    assert success_line(remote) == "Ready: tiny on box at https://gpu-box.lan:8443/v1; 38 ms round trip"
    local = Readiness(provider="llamacpp", kind="llamacpp", base_url="http://localhost:8080/v1", model="tiny",
                      rtt_ms=0.7)
    assert success_line(local) == "Ready: tiny on llama.cpp server at http://localhost:8080/v1"

"""A shared box over https with a private CA: a real TLS server on 127.0.0.1 whose certificate a
CA generated here (with the openssl command) signed."""

from __future__ import annotations

import json
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


# -- the CA handed on to the agent (env, exec) ----------------------------------------------------

@pytest.fixture
def big_box(certificates):
    """The TLS box with a window every agent takes (Claude Code needs 100k)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
    emulator = LlamaServerEmulator(alias="tiny", context=131072, n_ctx_train=131072)
    emulator.token = TOKEN
    emulator.tls = context
    with emulator:
        yield emulator


def _env_json(tmp_path: Path, config: Path, agent: str, **env: str):
    result = run_lmprep("env", "-p", "box", "--config", str(config), "--for", agent, "--format", "json",
                        env={"HOME": str(tmp_path), "BOX_TOKEN": TOKEN, "SSL_CERT_FILE": "", "SSL_CERT_DIR": "",
                             "NODE_EXTRA_CA_CERTS": "", "REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "",
                             "CODEX_CA_CERTIFICATE": "", "SSL_VERIFY": "", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


def _certificates_in(text: str) -> int:
    return text.count("-----BEGIN CERTIFICATE-----")


CA_NAMES = {"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CODEX_CA_CERTIFICATE"}


@pytest.mark.parametrize("agent, added, bundled", [
    ("claude", {"NODE_EXTRA_CA_CERTS"}, set()),  # Bun: added to its roots, the CA file itself
    ("qwen", {"NODE_EXTRA_CA_CERTS"}, set()),
    ("opencode", {"NODE_EXTRA_CA_CERTS"}, set()),
    ("copilot", {"NODE_EXTRA_CA_CERTS"}, set()),
    ("codex", set(), {"CODEX_CA_CERTIFICATE"}),  # in place of its roots: the CA and the public roots
    ("aider", set(), {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}),
    ("llm", set(), {"SSL_CERT_FILE"}),
    ("openai", {"NODE_EXTRA_CA_CERTS"}, {"SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"}),
])
def test_env_hands_the_private_ca_on_in_the_variables_the_agents_runtime_reads(tmp_path, big_box, certificates,
                                                                                agent, added, bundled):
    import certifi

    ca = certificates / "ca.pem"
    variables, _ = _env_json(tmp_path, _config(tmp_path, big_box.base_url, ca), agent)
    assert {name for name in CA_NAMES if name in variables} == added | bundled
    for name in added:
        assert variables[name] == str(ca)
    public = _certificates_in(certifi.contents())
    for name in bundled:
        bundle = Path(variables[name])
        assert bundle.parent.parts[-2:] == ("lmprep", "agents")  # lmprep's own state directory
        text = bundle.read_text()
        assert text.startswith(ca.read_text()) and _certificates_in(text) == 1 + public
    if len(bundled) > 1:
        assert len({variables[name] for name in bundled}) == 1  # one bundle file


def test_the_handed_ca_lets_node_and_python_clients_verify_the_box(tmp_path, big_box, certificates):
    """Not only the variable's name: a Node fetch and an httpx request in the agent's place
    (lmprep exec, with --for an agent of that runtime) verify the box with what lmprep gave them."""
    config = _config(tmp_path, big_box.base_url, certificates / "ca.pem")
    base = {"HOME": str(tmp_path), "BOX_TOKEN": TOKEN, "SSL_CERT_FILE": "", "SSL_CERT_DIR": "",
            "NODE_EXTRA_CA_CERTS": "", "REQUESTS_CA_BUNDLE": "", "HTTPS_PROXY": "", "https_proxy": ""}
    python = ("import httpx, os; print(httpx.get(os.environ['OPENAI_BASE_URL'] + '/models', "
              "headers={'authorization': 'Bearer ' + os.environ['OPENAI_API_KEY']}).json()['data'][0]['id'])")
    import sys

    result = run_lmprep("exec", "-p", "box", "--config", str(config), "--for", "openai", "--", sys.executable,
                        "-c", python, env=base)
    assert (result.returncode, result.stdout) == (0, "tiny\n"), result.stderr
    # SSL_CERT_FILE holds the public roots too: the agent's other https hosts still verify.
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node here")
    script = ("fetch(process.env.OPENAI_BASE_URL + '/models', {headers: {authorization: 'Bearer ' + "
              "process.env.OPENAI_API_KEY}}).then(r => r.json()).then(j => console.log(j.data[0].id), "
              "e => { console.error(String(e.cause || e)); process.exit(3) })")
    result = run_lmprep("exec", "-p", "box", "--config", str(config), "--for", "qwen", "--", node, "-e", script, env=base)
    assert (result.returncode, result.stdout) == (0, "tiny\n"), result.stderr
    # The user's own NODE_EXTRA_CA_CERTS wins, even one that cannot verify the box: then node fails.
    mine = run_lmprep("exec", "-p", "box", "--config", str(config), "--for", "qwen", "--", node, "-e", script,
                      env={**base, "NODE_EXTRA_CA_CERTS": str(certificates / "other-ca.pem")})
    assert mine.returncode == 3 and "certificate" in mine.stderr.lower(), mine.stderr
    assert "note: Qwen Code verifies the server with your NODE_EXTRA_CA_CERTS (" in mine.stderr
    assert "unless that holds the CA in" in mine.stderr and "or unset NODE_EXTRA_CA_CERTS for lmprep" in mine.stderr


def test_the_users_own_ca_variables_win(tmp_path, big_box, certificates):
    config = _config(tmp_path, big_box.base_url, certificates / "ca.pem")
    variables, stderr = _env_json(tmp_path, config, "aider", SSL_CERT_FILE=str(certificates / "ca.pem"))
    assert "SSL_CERT_FILE" not in variables and "REQUESTS_CA_BUNDLE" in variables  # requests does not read it
    assert "note: aider verifies the server" not in stderr  # that file holds the CA: nothing to say
    bundle = tmp_path / "system-and-other.pem"  # a system bundle without the box's CA
    bundle.write_text((certificates / "other-ca.pem").read_text())
    variables, stderr = _env_json(tmp_path, config, "aider", SSL_CERT_FILE=str(bundle))
    assert "SSL_CERT_FILE" not in variables
    assert f"note: aider verifies the server with your SSL_CERT_FILE ({bundle}), which lmprep leaves as it is" in stderr
    variables, _ = _env_json(tmp_path, config, "codex", SSL_CERT_FILE=str(certificates / "ca.pem"))
    assert "CODEX_CA_CERTIFICATE" not in variables  # Codex reads SSL_CERT_FILE when CODEX_CA_CERTIFICATE is unset
    variables, _ = _env_json(tmp_path, config, "aider", SSL_VERIFY="False")
    assert "SSL_CERT_FILE" not in variables  # litellm reads SSL_VERIFY first
    variables, _ = _env_json(tmp_path, config, "claude", NODE_EXTRA_CA_CERTS="/etc/my-ca.pem")
    assert "NODE_EXTRA_CA_CERTS" not in variables


def test_no_ca_is_handed_on_without_ca_cert_or_over_http(tmp_path, big_box, certificates):
    # Trusted through the user's SSL_CERT_FILE: the agent inherits that variable; lmprep adds nothing.
    variables, _ = _env_json(tmp_path, _config(tmp_path, big_box.base_url), "claude",
                             SSL_CERT_FILE=str(certificates / "ca.pem"))
    assert not CA_NAMES & set(variables)
    with LlamaServerEmulator(alias="tiny", context=131072, n_ctx_train=131072) as plain:
        variables, _ = _env_json(tmp_path, _config(tmp_path, plain.base_url, certificates / "ca.pem"), "aider")
    assert not CA_NAMES & set(variables)


def test_a_ca_folder_is_handed_on_as_one_file(tmp_path, big_box, certificates):
    folder = tmp_path / "cas"
    folder.mkdir()
    hashed = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(certificates / "ca.pem")],
                            capture_output=True, text=True, check=True).stdout.strip()
    (folder / f"{hashed}.0").write_text((certificates / "ca.pem").read_text())  # as c_rehash names it
    (folder / "README").write_text("not a certificate\n")
    variables, _ = _env_json(tmp_path, _config(tmp_path, big_box.base_url, folder), "claude")
    handed = Path(variables["NODE_EXTRA_CA_CERTS"])
    assert handed.parent.name == "agents" and handed.read_text() == (certificates / "ca.pem").read_text()


#: Every runtime: Rust (codex), Bun (claude, opencode, kilo), Node (qwen, pi), Node with a native
#: client (copilot), litellm (aider), httpx (llm). Not here: Cline (Bun) takes no token without a
#: file lmprep would write, and this box wants one; Droid 0.215.0 (Bun) sends its request again and
#: again on the emulator's answer and never exits, over plain http too.
REAL_OVER_TLS = ["codex", "claude", "opencode", "kilo", "qwen", "pi", "copilot", "aider", "llm"]
#: Every variable through which this machine (or a CI image) might already name a CA.
NO_CA_OF_THE_USERS = {"SSL_CERT_FILE": "", "SSL_CERT_DIR": "", "NODE_EXTRA_CA_CERTS": "", "REQUESTS_CA_BUNDLE": "",
                      "CURL_CA_BUNDLE": "", "CODEX_CA_CERTIFICATE": "", "SSL_VERIFY": ""}


@pytest.mark.real_agent
@pytest.mark.parametrize("name", REAL_OVER_TLS)
def test_the_real_agent_trusts_the_private_ca_lmprep_hands_it(name, tmp_path, big_box, certificates):
    """The agent's own request reaches the https box: it verified the certificate with what lmprep
    gave it. (Claude Code 2.1.332 exits 1 on the emulator's answer, "unrecognized_model": its
    request arrived all the same, which is what is checked here.)"""
    import os

    from realagents.agents import find, install_report

    agent = find(name)
    if agent.program is None:
        pytest.skip(f"{name} is not installed ({install_report()})")
    config = _config(tmp_path, big_box.base_url, certificates / "ca.pem")
    command = agent.command() + (["--key", TOKEN] if name == "llm" else [])
    workdir = tmp_path / "work"
    workdir.mkdir()
    environ = {"HOME": str(tmp_path), "BOX_TOKEN": TOKEN, **NO_CA_OF_THE_USERS,
               "PATH": f"{agent.program.parent}:{os.environ['PATH']}"}
    from realagents.offline_proxy import RefusingProxy

    with RefusingProxy() as internet:  # no internet here: hosts beyond loopback are refused at once, not waited on
        environ.update(internet.environ())
        result = run_lmprep("exec", "--for", name, "-p", "box", "--config", str(config), "--", *command,
                            env=environ, timeout=300, cwd=workdir)
    mine = [r for r in big_box.requests if r.method == "POST" and r.path.split("?")[0] == agent.route
            and b"say hi" in r.raw_body]
    assert mine, result.stderr[-3000:]
    assert all(r.header("authorization") == f"Bearer {TOKEN}" for r in mine)
    if name != "claude":
        assert result.returncode == 0, result.stderr[-3000:]
    if name == "qwen":  # the control: with the user's own CA variable (not the box's CA), no request arrives
        big_box.requests.clear()
        with RefusingProxy() as internet:
            refused = run_lmprep("exec", "--for", name, "-p", "box", "--config", str(config), "--", *command,
                                 env={**environ, **internet.environ(),
                                      "NODE_EXTRA_CA_CERTS": str(certificates / "other-ca.pem")},
                                 timeout=300, cwd=workdir)
        assert not [r for r in big_box.requests if b"say hi" in r.raw_body], refused.stderr[-2000:]
        assert "verifies the server with your NODE_EXTRA_CA_CERTS" in refused.stderr
        assert "UNABLE_TO_VERIFY_LEAF_SIGNATURE" in refused.stderr  # Qwen Code 0.24.4's words for it

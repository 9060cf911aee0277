"""No secret in any output or file; no server text raw on a terminal; no name from the config
file choosing a path. The installed lmprep, real emulators."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from e2e import run_lmprep, wait_for, warm_up_states

pytestmark = pytest.mark.e2e

PASSWORD = "hunter2-pw"
TOKEN = "sk-very-secret-token-123"


def every_file_under(folder: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file())


def runs_of_every_command(common: list[str], env: dict) -> list:
    return [
        run_lmprep(*common, env=env),
        run_lmprep(*common, "--json", env=env),
        run_lmprep("status", *common, env=env),
        run_lmprep("status", *common, "--json", env=env),
        run_lmprep("config", "show", *common, env=env),
        run_lmprep("config", "show", *common, "--json", env=env),
        run_lmprep("env", *common, env=env),
    ]


@pytest.mark.parametrize("secret", ["password", "token"])
def test_a_url_password_or_a_token_appears_in_no_output_and_no_file(lmstudio_emulator, secret):
    """(A URL with userinfo makes httpx send Basic auth, so the two are tried apart.)"""
    lmstudio_emulator.downloaded = ["m"]
    home = Path(os.environ["HOME"])
    url, env, hidden = lmstudio_emulator.base_url, {}, PASSWORD
    if secret == "password":
        url = url.replace("http://", f"http://alice:{PASSWORD}@")
    else:
        lmstudio_emulator.token, env, hidden = TOKEN, {"LM_API_TOKEN": TOKEN}, TOKEN
    runs = runs_of_every_command(["-p", "lmstudio", "--base-url", url, "-m", "m"], env)
    assert [r.returncode for r in runs] == [0] * len(runs), [r.stderr for r in runs]
    wait_for(lambda: any(s.get("status") == "ok" for s in warm_up_states(home)), timeout=20)
    for run in runs[:-1]:
        assert hidden not in run.stdout + run.stderr
    env_run = runs[-1]
    assert hidden not in env_run.stderr
    assert hidden in env_run.stdout  # the variables themselves are for the agent, which needs them
    assert hidden not in every_file_under(home / ".local")
    if secret == "password":
        assert f"alice:***@127.0.0.1:{lmstudio_emulator.port}" in runs[0].stderr  # Ready: ... at the redacted URL


@pytest.mark.parametrize("token", ["secret-value\r", "secret\nvalue", "sécret-value"])
def test_a_token_no_header_can_carry_is_exit_3_and_never_shown(lmstudio_emulator, token):
    for args in (["--json"], []):
        result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "m", *args,
                            env={"LM_API_TOKEN": token})
        assert result.returncode == 3
        assert "secret" not in (result.stdout + result.stderr).replace("secret-value", "") \
            or "secret" not in result.stdout + result.stderr
        assert token.strip() not in result.stdout + result.stderr
        assert "$LM_API_TOKEN contains" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr
    status = run_lmprep("status", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--json",
                        env={"LM_API_TOKEN": token})
    assert status.returncode == 3 and token.strip() not in status.stdout


def test_a_bad_token_for_lm_studio_does_not_stop_ollama(ollama_emulator):
    ollama_emulator.models = {"llama3": 1}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "llama3", "--warm-up", "off",
                        env={"LM_API_TOKEN": "bad\r"})
    assert result.returncode == 0, result.stderr


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x9b"


def test_model_ids_from_the_server_reach_the_terminal_clean(lmstudio_emulator):
    evil = f"evil{ESCAPES}model"
    lmstudio_emulator.downloaded = [evil, "other"]
    ready = run_lmprep("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "other", "--warm-up", "off")
    status = run_lmprep("status", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "other")
    assert ready.returncode == 0, ready.stderr
    for text in (ready.stderr, status.stdout, status.stderr):
        assert not any(ch in text for ch in "\x1b\x07\x9b")
    assert "evil" in status.stdout  # listed, cleaned
    # Served as the only model, such an id is never passed on: exit 8, shown cleaned.
    lmstudio_emulator.downloaded = [evil]
    served = run_lmprep("-p", "openai", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off")
    assert served.returncode == 8 and not any(ch in served.stderr for ch in "\x1b\x07\x9b")


def test_a_provider_name_from_the_config_file_never_chooses_a_path(lmstudio_emulator, tmp_path):
    lmstudio_emulator.downloaded = ["m"]
    target = tmp_path / "x"
    name = f"../../../../../../../../..{target}/evil"
    config = tmp_path / "config.toml"
    config.write_text(f'[providers."{name}"]\nkind = "lmstudio"\nbase_url = "{lmstudio_emulator.base_url}"\n'
                      f'model = "m"\n')
    result = run_lmprep("--config", str(config), "-p", name, "--json")
    assert result.returncode == 0, result.stdout
    home = Path(os.environ["HOME"])
    wait_for(lambda: warm_up_states(home), timeout=20)
    assert not target.exists()
    written = [p for p in home.rglob("*") if p.is_file()]
    assert written and all(str(p).startswith(str(home)) for p in written)


LOOPBACK_SPELLINGS = ["0.0.0.0", "127.1", "[::ffff:127.0.0.1]", "localhost.", "0x7f.0.0.1", "2130706433", "[::1]"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_a_proxy_from_the_environment_never_carries_a_loopback_request(lmstudio_emulator, host):
    """Every spelling of loopback is loopback: none of them goes through $HTTP_PROXY, which
    would see the bearer token (the proxy here records every connection it gets)."""
    import hostile as h

    if host == "[::1]":
        pytest.importorskip("socket").socket(__import__("socket").AF_INET6).close()
    lmstudio_emulator.downloaded = ["m"]
    lmstudio_emulator.token = TOKEN
    with h.HostileServer(default=h.answer({"error": "proxy"}, "502 Bad Gateway")) as proxy:
        env = {"LM_API_TOKEN": TOKEN, **{name: proxy.origin for name in
                                         ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY")}}
        url = f"http://{host}:{lmstudio_emulator.port}/v1"
        runs = [run_lmprep("-p", "lmstudio", "--base-url", url, "-m", "m", "--warm-up", "off", env=env),
                run_lmprep("status", "-p", "lmstudio", "--base-url", url, "-m", "m", "--json", env=env)]
        assert proxy.connections == 0, proxy.requests
    if host != "[::1]":  # the emulator listens on 127.0.0.1 only
        assert [r.returncode for r in runs] == [0, 0], [r.stderr for r in runs]
    for run in runs:
        assert TOKEN not in run.stdout + run.stderr and "Traceback" not in run.stderr


def test_a_user_and_password_in_a_loopback_url_are_sent_as_basic_auth_and_never_shown():
    """httpx and curl send a URL's userinfo as Basic auth; over the plain loopback socket it
    went missing, and a server that wants it answered 401 (a misleading exit 5)."""
    import base64

    import hostile as h

    listing = h.answer({"object": "list", "data": [{"id": "m", "object": "model"}]})
    with h.HostileServer({"/v1/models": listing}) as server:
        url = server.base_url.replace("http://", f"http://alice:{PASSWORD}@")
        result = run_lmprep("-p", "openai", "--base-url", url, "-m", "m", "--warm-up", "off", "--json")
        heads = list(server.heads)
    assert result.returncode == 0, result.stdout
    expected = b"Authorization: Basic " + base64.b64encode(f"alice:{PASSWORD}".encode())
    assert heads and all(expected in head.split(b"\r\n") for head in heads), heads
    assert PASSWORD not in result.stdout + result.stderr
    assert not any(PASSWORD.encode() in head for head in heads)  # never in the clear (not in the Host line)


LONG_TOKEN = "sk-live-0123456789abcdefghijklmnopqrstu"  # 40 characters


@pytest.mark.parametrize(("token", "page"), [
    # lmprep quotes 160 characters of a page: the token straddles the cut, 38 of its 40 shown.
    (LONG_TOKEN, ("x" * 121 + " " + LONG_TOKEN + " is not a valid key").encode()),
    # A JSON error message is cut at 500 characters.
    (LONG_TOKEN, json.dumps({"error": {"message": "y" * 470 + " bad key " + LONG_TOKEN}}).encode()),
    # The server quotes a piece of the token only.
    (LONG_TOKEN, f"key {LONG_TOKEN[5:30]}... was refused".encode()),
    # A short token, quoted as a word.
    ("ab12", b"invalid api key: ab12 (expected a key of 32 characters)"),
])
def test_a_refusal_quoting_the_token_shows_no_part_of_it(token, page):
    import hostile as h

    with h.HostileServer(default=h.answer(page, "401 Unauthorized")) as server:
        runs = [run_lmprep(*command, "-p", "lmstudio", "--base-url", server.base_url, "-m", "m", *json_flag,
                           env={"LM_API_TOKEN": token})
                for command in ([], ["status"]) for json_flag in ([], ["--json"])]
    for run in runs:
        assert run.returncode == 5, run.stdout + run.stderr
        shown = run.stdout + run.stderr
        assert token not in shown
        if len(token) > 8:
            assert not any(token[i:i + 8] in shown for i in range(len(token) - 7)), shown
        else:
            assert f" {token} " not in shown, shown


def test_a_url_password_holding_an_at_sign_is_masked_whole(lmstudio_emulator):
    """urlsplit (and curl) end the userinfo at the authority's last "@": so does the mask."""
    lmstudio_emulator.downloaded = ["m"]
    url = lmstudio_emulator.base_url.replace("http://", "http://admin:p@ss@secret99@")
    runs = [run_lmprep(*command, "-p", "lmstudio", "--base-url", url, "-m", "m", *flags)
            for command in (["--warm-up", "off"], ["status"], ["config", "show"]) for flags in ([], ["--json"])]
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
        assert "secret99" not in run.stdout + run.stderr and "p@ss" not in run.stdout + run.stderr
    assert f"admin:***@127.0.0.1:{lmstudio_emulator.port}" in runs[0].stderr


DASH_ID = "--dangerously-bypass-approvals-and-sandbox"


@pytest.mark.parametrize("command", [["env", "--for", "llm"], ["env", "--for", "codex"], ["--for", "codex"],
                                     ["status"], []])
def test_a_served_model_id_starting_with_a_dash_never_reaches_an_agent(command):
    """The same rule as for `-m`: an id that an agent's command line would read as an option is
    refused, whether the user gave it or the server serves it (as its only model)."""
    import hostile as h

    listing = h.answer({"object": "list", "data": [{"id": DASH_ID, "object": "model", "owned_by": "x"}]})
    json_flag = [] if command[:1] == ["env"] else ["--json"]
    with h.HostileServer({"/v1/models": listing}) as server:
        served = run_lmprep(*command, "-p", "openai", "--base-url", server.base_url, *json_flag)
        given = run_lmprep(*command, "-p", "openai", "--base-url", server.base_url, "-m", DASH_ID, *json_flag)
    assert given.returncode == 3, given.stdout + given.stderr
    assert served.returncode == 8, served.stdout + served.stderr
    assert "starts with '-'" in served.stdout + served.stderr
    if command[:1] == ["env"]:
        # No variable, no model for the agent: only the statement that fails when evaluated.
        assert served.stdout.startswith("(exit 8)") and "=" not in served.stdout.split("#")[0]
    elif command != ["status"]:  # (status lists what the server serves, as data)
        assert served.json["model"] is None
    assert "Traceback" not in served.stderr


def test_redact_masks_pieces_of_a_token_and_short_tokens_as_words(monkeypatch):
    import lmprep.redact as redact_module
    from lmprep.redact import redact, register_secret

    for name in ("_secrets", "_short_secrets"):
        monkeypatch.setattr(redact_module, name, set())
    monkeypatch.setattr(redact_module, "_fragments", {})
    register_secret(LONG_TOKEN)
    register_secret("ab12")
    assert redact(f"key {LONG_TOKEN[:38]}") == "key ***"
    assert redact(f"key {LONG_TOKEN[3:20]} refused") == "key *** refused"
    assert redact(f"cut {LONG_TOKEN[:5]}… here") == "cut ***… here"
    assert redact(f"{LONG_TOKEN[-7:]} ends it") == "*** ends it"
    assert redact("ab12 and xab12 and ab123 and (ab12)") == "*** and xab12 and ab123 and (***)"
    assert redact("sk-l is an ordinary ending") == "sk-l is an ordinary ending"
    assert redact("http://admin:p@ss@secret99@host:1/v1 and http://u@h/") == "http://admin:***@host:1/v1 and http://***@h/"

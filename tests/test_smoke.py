"""`lmprep smoke --for AGENT` (lmprep/smoke.py, relay.py, cli/smoke.py): the real agent run once,
its own words and what the server received.

First with a fake agent (a Python script this file writes, named like aider, so that lmprep
hands it aider's variables) against the llama-server emulator: every way a run ends. Then the
real agents CI installs (tests/realagents) against the real llama-server with the tiny model,
whose answers need not make sense: a pass is about the request working. The real server wants
a token, so a pass also shows that the relay passes the agent's token on.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from e2e import run_lmprep
from lmprep import relay as relay_module
from lmprep.agents import SMOKE_PROMPT, agent_module
from lmprep.config import Flags
from lmprep.errors import NotConfiguredError, UnreachableError
from lmprep.relay import Relay
from lmprep.smoke import _Output, first_error_line, smoke

FAKE_AIDER = """\
#!{python}
import json, os, sys, time, urllib.error, urllib.request
mode = os.environ.get("FAKE_MODE", "ok")
with open(os.environ["FAKE_LOG"], "w") as log:
    json.dump({{"cwd": os.getcwd(), "argv": sys.argv, "stdin": sys.stdin.read(), "home": os.environ.get("HOME"),
               "env": {{k: v for k, v in os.environ.items() if k.startswith(("AIDER_", "OPENAI_", "NO_PROXY"))}}}}, log)
if mode == "sleep":
    time.sleep(60)
if mode == "litter":
    os.makedirs("ro/deeper")
    open("ro/deeper/file", "w").close()
    os.chmod("ro/deeper", 0o500)
    os.chmod("ro", 0o500)
if mode != "silent":
    body = {{"model": os.environ["AIDER_MODEL"].split("/", 1)[1], "stream": mode == "stream",
            "messages": [{{"role": "user", "content": sys.argv[sys.argv.index("--message") + 1]}}]}}
    if mode == "tools":
        body["tools"] = [{{"type": "function", "function": {{"name": "f", "parameters": {{"type": "object"}}}}}}]
    request = urllib.request.Request(os.environ["OPENAI_API_BASE"] + "/chat/completions",
                                     data=json.dumps(body).encode(),
                                     headers={{"Content-Type": "application/json",
                                              "Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    try:
        answer = opener.open(request, timeout=30).read().decode()
    except urllib.error.HTTPError as exc:
        print("\\x1b[33mWarning: retrying is off\\x1b[0m", file=sys.stderr)
        print(f"litellm.APIError: Error code: {{exc.code}} - {{exc.read().decode()}}", file=sys.stderr)
        sys.exit(1)
    print(answer.strip().splitlines()[-1])
    with open(os.environ["FAKE_LOG"] + ".answer", "w") as kept:
        kept.write(answer)
if mode == "fail":
    print("warning: could not read .aider.conf.yml", file=sys.stderr)
    print("Error: boom", file=sys.stderr)
    sys.exit(3)
"""


@pytest.fixture
def fake_aider(tmp_path):
    """A fake `aider` on a PATH of its own, and the environment to run smoke() with."""
    folder = tmp_path / "bin"
    folder.mkdir()
    program = folder / "aider"
    program.write_text(FAKE_AIDER.format(python=sys.executable))
    program.chmod(0o755)
    log = tmp_path / "fake.json"
    environ = {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}", "FAKE_LOG": str(log)}
    return environ, log


def flags_for(emulator) -> Flags:
    return Flags(provider="llamacpp", base_url=emulator.base_url)


def test_a_fake_agent_passes_and_the_relay_notes_what_the_server_received(llamacpp_emulator, fake_aider, tmp_path):
    environ, log = fake_aider
    events = []
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, report=events.append, environ=environ)
    assert result.passed, result
    assert (result.exit_code, result.state, result.returncode) == (0, "ready", 0)
    assert [(sent.method, sent.path, sent.model, sent.status) for sent in result.requests] == [
        ("POST", "/v1/chat/completions", "tiny", 200)]
    assert result.first_error is None and result.reason is None
    seen = json.loads(log.read_text())
    # aider's own headless form, with the one-line prompt; stdin closed; a throw-away folder, gone now
    assert seen["argv"][1:] == list(agent_module("aider").SMOKE_ARGV)
    assert SMOKE_PROMPT in seen["argv"]
    assert seen["stdin"] == ""
    assert Path(seen["cwd"]).name.startswith("lmprep-smoke-") and not Path(seen["cwd"]).exists()
    assert seen["home"] == environ["HOME"]  # what the agent writes under HOME goes where exec's would
    # exec's hand-off (lmprep.handoff), pointed at the relay instead of the server
    variables = seen["env"]
    assert variables["AIDER_MODEL"] == "openai/tiny"
    assert variables["OPENAI_API_BASE"].startswith("http://127.0.0.1:")
    assert variables["OPENAI_API_BASE"] != llamacpp_emulator.base_url
    assert Path(variables["AIDER_MODEL_METADATA_FILE"]).parent.name == "agents"
    assert "127.0.0.1" in variables["NO_PROXY"]
    # the server got the agent's request itself, through the relay (its key too)
    chats = [r for r in llamacpp_emulator.requests if r.path == "/v1/chat/completions"
             and SMOKE_PROMPT.encode() in r.raw_body]
    assert len(chats) == 1 and chats[0].header("authorization") == "Bearer lmprep-no-key"
    assert any("throw-away folder" in getattr(event, "message", "") for event in events)


def test_what_the_agent_leaves_in_its_folder_goes_with_it(llamacpp_emulator, fake_aider):
    environ, log = fake_aider
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, environ={**environ, "FAKE_MODE": "litter"})
    assert result.passed, result
    assert not Path(json.loads(log.read_text())["cwd"]).exists()


def test_a_streamed_answer_passes_through_the_relay_whole(llamacpp_emulator, fake_aider):
    environ, log = fake_aider
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, environ={**environ, "FAKE_MODE": "stream"})
    assert result.passed, result
    assert result.requests[0].status == 200
    answer = Path(str(log) + ".answer").read_text()
    assert answer.count("data: ") > 2 and answer.rstrip().endswith("data: [DONE]")  # every event, in order


def test_the_agents_own_first_error_line_is_shown_and_the_run_fails_with_14(llamacpp_emulator, fake_aider):
    environ, _ = fake_aider
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, environ={**environ, "FAKE_MODE": "fail"})
    assert not result.passed
    assert (result.exit_code, result.state, result.returncode) == (14, "smoke_failed", 3)
    assert result.first_error == "Error: boom"  # a strong word before a warning's weak one
    assert result.reason == "aider exited with status 3."
    assert result.requests[0].status == 200  # its request worked: the failure is the agent's own
    error = result.as_error()
    assert (error.state, error.exit_code, error.message) == ("smoke_failed", 14, "aider exited with status 3.")


def test_a_request_the_server_refuses_is_shown_with_its_status_and_reason(llamacpp_emulator, fake_aider):
    environ, _ = fake_aider
    llamacpp_emulator.jinja = False  # --no-jinja: a request with tools is HTTP 500
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, environ={**environ, "FAKE_MODE": "tools"})
    assert not result.passed and result.exit_code == 14
    (sent,) = result.chat_requests
    assert (sent.status, sent.error) == (500, "tools param requires --jinja flag")
    assert result.first_error.startswith("litellm.APIError: Error code: 500")  # cleaned: no escape codes
    assert "\x1b" not in result.first_error
    assert "500: tools param requires --jinja flag" in result.hint


def test_an_agent_that_outlives_the_time_limit_is_stopped(llamacpp_emulator, fake_aider):
    environ, _ = fake_aider
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=1.5, environ={**environ, "FAKE_MODE": "sleep"})
    assert not result.passed and result.timed_out and result.returncode is None
    assert result.exit_code == 14
    assert result.seconds < 15
    assert result.reason == "aider did not finish within 1.5 s."


def test_an_agent_that_exits_0_without_asking_the_server_fails(llamacpp_emulator, fake_aider):
    environ, _ = fake_aider
    result = smoke(flags_for(llamacpp_emulator), "aider", time_limit=30, environ={**environ, "FAKE_MODE": "silent"})
    assert not result.passed and result.returncode == 0 and result.exit_code == 14
    assert result.requests == ()
    assert "received no chat request" in result.reason


def test_an_agent_not_installed_is_127_with_its_install_command_before_any_request(llamacpp_emulator, tmp_path):
    environ = {**os.environ, "PATH": str(tmp_path)}
    result = smoke(flags_for(llamacpp_emulator), "codex", time_limit=30, environ=environ)
    assert not result.passed and not result.started
    assert result.exit_code == 127
    assert agent_module("codex").INSTALL in result.hint
    assert result.as_error().exit_code == 127
    assert llamacpp_emulator.requests == []  # no probe, no load for an agent that cannot run


def test_the_generic_variables_have_no_program_to_run(llamacpp_emulator):
    with pytest.raises(NotConfiguredError, match="no program of its own"):
        smoke(flags_for(llamacpp_emulator), "openai", time_limit=30)


def test_a_server_that_is_not_ready_fails_as_ensure_does(fake_aider, unused_port):
    environ, log = fake_aider
    with pytest.raises(UnreachableError):
        smoke(Flags(provider="llamacpp", base_url=f"http://127.0.0.1:{unused_port}/v1"), "aider", time_limit=30,
              environ=environ)
    assert not log.exists()  # the agent never started


def test_lmprep_smoke_on_the_command_line(llamacpp_emulator, fake_aider):
    environ, _ = fake_aider
    run = run_lmprep("smoke", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                     env=environ, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("Smoke run of aider: passed in ")
    assert "the server received: POST /v1/chat/completions (model tiny) → 200" in run.stdout
    failed = run_lmprep("smoke", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                        "--json", env={**environ, "FAKE_MODE": "fail"}, timeout=60)
    assert failed.returncode == 14, failed.stderr
    outcome = failed.json
    assert (outcome["ok"], outcome["state"], outcome["exit_code"]) == (False, "smoke_failed", 14)
    assert outcome["error"]["message"] == "aider exited with status 3."
    assert outcome["smoke"]["first_error"] == "Error: boom"
    assert outcome["smoke"]["requests"][0]["status"] == 200
    text = run_lmprep("smoke", "--for", "aider", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                      env={**environ, "FAKE_MODE": "fail"}, timeout=60)
    assert text.returncode == 14 and text.stdout == ""
    assert "aider said: Error: boom" in text.stderr


def test_the_command_line_refuses_a_time_limit_of_zero_and_the_generic_agent():
    assert run_lmprep("smoke", "--for", "aider", "--time-limit", "0").returncode == 2
    assert run_lmprep("smoke", "--for", "openai").returncode == 2


# -- the relay on its own ----------------------------------------------------------------------

def _post(url: str, body: bytes, headers: dict | None = None):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with opener.open(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_the_relay_says_when_the_server_gave_no_answer(unused_port):
    with Relay(f"http://127.0.0.1:{unused_port}/v1", connect_timeout=2) as relay:
        status, body = _post(relay.base_url + "/chat/completions", b'{"model": "m"}')
    assert status == 502 and b"no answer from the server" in body
    (sent,) = relay.exchanges
    assert (sent.path, sent.model, sent.status) == ("/v1/chat/completions", "m", None)
    assert sent.error and not sent.ok


def test_the_relay_bounds_what_it_reads_and_keeps(llamacpp_emulator, monkeypatch):
    monkeypatch.setattr(relay_module, "MAX_REQUEST_BYTES", 1000)
    monkeypatch.setattr(relay_module, "MAX_RECORDS", 2)
    with Relay(llamacpp_emulator.base_url) as relay:
        assert relay.base_url.endswith("/v1")
        status, _ = _post(relay.base_url + "/chat/completions", b"{" + b" " * 2000 + b"}")
        assert status == 413
        for _ in range(3):
            status, _ = _post(relay.base_url + "/chat/completions",
                              json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}).encode())
            assert status == 200
    assert [sent.status for sent in relay.exchanges] == [413, 200]
    assert relay.dropped == 2
    assert not any(r.path == "/v1/chat/completions" and len(r.raw_body) > 1000 for r in llamacpp_emulator.requests)


def test_the_relay_keeps_a_model_name_from_the_server_clean(llamacpp_emulator):
    with Relay(llamacpp_emulator.base_url) as relay:
        _post(relay.base_url + "/chat/completions", json.dumps({"model": "\x1b[2Jx" * 100, "messages": []}).encode())
    (sent,) = relay.exchanges
    assert "\x1b" not in sent.model and len(sent.model) <= 200


def test_the_relay_reaches_a_server_named_localhost(llamacpp_emulator):
    with Relay(llamacpp_emulator.base_url.replace("127.0.0.1", "localhost")) as relay:
        status, _ = _post(relay.base_url + "/chat/completions",
                          json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}]}).encode())
    assert status == 200 and relay.exchanges[0].ok


def test_the_first_error_line_prefers_a_real_error_over_a_warning_and_is_bounded():
    output = _Output()
    output(b"(node:1) ExperimentalWarning: fetch is experimental\n", "stderr")
    output(b"WARNING: could not create PATH aliases\r\n", "stderr")
    output(b"\x1b[31mERROR: " + b"x" * 1000 + b"\x1b[0m\n", "stderr")
    line = first_error_line(output)
    assert line.startswith("ERROR: xxx") and len(line) <= 300 and "\x1b" not in line
    only_warnings = _Output()
    only_warnings(b"WARNING: could not create PATH aliases\n", "stderr")
    assert first_error_line(only_warnings) == "WARNING: could not create PATH aliases"
    nothing = _Output()
    assert first_error_line(nothing) is None
    plain = _Output()
    plain(b"some words\nlast words\n", "stdout")
    assert first_error_line(plain) == "last words"


# -- the real agents against the real llama-server ---------------------------------------------

TOKEN = "lmprep-smoke-token-51c2"
#: Cline (3.0.65) takes an answer cut at the token cap for a failure and reads a key only from its
#: settings file; llm takes a token only as --key on its command line, which lmprep never adds: a
#: server without a token whose grammar makes the model write "Hi." and stop.
WITHOUT_TOKEN = {"cline", "llm"}
#: The agents CI installs that run headless, and the time limit each gets on 2 busy cores with the tiny
#: model (measured here: 2-36 s; Qwen Code's 28k-token first request is the slowest to prefill).
REAL = ["codex", "claude", "opencode", "qwen", "aider", "llm", "pi", "copilot", "droid", "kilo", "cline"]
TIME_LIMIT = 240


def _real_server(binary, model, *extra):
    from realserver.server import LlamaServer

    with LlamaServer(binary, model, context=131072, alias="tiny",
                     extra_args=["-n", "16", "--repeat-penalty", "1.5", *extra]) as server:
        yield server


@pytest.fixture(scope="module")
def smoke_server(llama_server_binary, tiny_128k_gguf):
    yield from _real_server(llama_server_binary, tiny_128k_gguf, "--api-key", TOKEN)


@pytest.fixture(scope="module")
def smoke_open_server(llama_server_binary, tiny_128k_gguf):
    yield from _real_server(llama_server_binary, tiny_128k_gguf, "--grammar", 'root ::= "Hi."')


@pytest.fixture(scope="module")
def no_jinja_server(llama_server_binary, tiny_128k_gguf):
    yield from _real_server(llama_server_binary, tiny_128k_gguf, "--no-jinja", "--api-key", TOKEN)


def _real_run(name, server, tmp_path, *, token, time_limit=TIME_LIMIT):
    from realagents.agents import find, install_report

    agent = find(name)
    if agent.program is None:
        pytest.skip(f"{name} is not installed ({install_report()})")
    config = tmp_path / "lmprep.toml"
    config.write_text(f'[providers.box]\nkind = "llamacpp"\nbase_url = "{server.origin}/v1"\n'
                      + ('api_key_env = "BOX_TOKEN"\n' if token else ""))
    environ = {**os.environ, "PATH": f"{agent.program.parent}{os.pathsep}{os.environ['PATH']}", "BOX_TOKEN": TOKEN}
    return smoke(Flags(provider="box", config_path=str(config)), name, time_limit=time_limit, environ=environ)


@pytest.mark.real_agent
@pytest.mark.real_server
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xdist_group(f"smoke_{i % 2}"))
                                  for i, name in enumerate(REAL)])
def test_the_real_agent_passes_its_smoke_run(name, request, tmp_path):
    token = name not in WITHOUT_TOKEN
    server = request.getfixturevalue("smoke_server" if token else "smoke_open_server")
    result = _real_run(name, server, tmp_path, token=token)
    assert result.passed, (result.reason, result.first_error, result.requests, result.hint)
    assert any(sent.model == "tiny" and sent.ok for sent in result.chat_requests)
    request.node.user_properties.append(("smoke_seconds", f"{name} {result.seconds:.1f} s"))


@pytest.mark.real_agent
@pytest.mark.real_server
@pytest.mark.xdist_group("smoke_0")
def test_a_real_agent_fails_with_its_own_words_against_a_no_jinja_server(no_jinja_server, tmp_path):
    """llama-server --no-jinja refuses every request with tools (HTTP 500): lmprep's --for check says so,
    and the agent is run all the same; pi 0.74.2 gives up after its retries (~25 s), in its own words."""
    result = _real_run("pi", no_jinja_server, tmp_path, token=True, time_limit=120)
    assert not result.passed and result.exit_code == 14
    assert "tools param requires --jinja flag" in (result.check_refused or "")
    assert result.chat_requests and all(sent.status == 500 for sent in result.chat_requests)
    assert {sent.error for sent in result.chat_requests} == {"tools param requires --jinja flag"}
    assert result.first_error and "jinja" in result.first_error  # pi's own line: "500 tools param requires ..."
    assert "--jinja" in result.hint


@pytest.mark.real_agent
@pytest.mark.real_server
@pytest.mark.xdist_group("smoke_1")
def test_the_real_llm_fails_against_a_server_that_wants_a_token(smoke_server, tmp_path):
    """llm 0.36 takes a token only as --key on its command line, which lmprep never adds: its
    request gets 401, and the run says so in llm's words and the server's."""
    result = _real_run("llm", smoke_server, tmp_path, token=True, time_limit=60)
    assert not result.passed and result.exit_code == 14
    assert [(sent.status, sent.error) for sent in result.chat_requests] == [(401, "Invalid API Key")]
    assert "401" in result.first_error
    assert "api_key_env" in result.hint
    assert any("--key" in note for note in result.notes)


def test_the_relay_reads_the_reason_of_a_compressed_error_answer():
    """A server that compresses its error answer (the agent asked for gzip): the reason is inflated,
    within bounds, and the agent gets the compressed bytes as they were."""
    import gzip
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    payload = gzip.compress(b'{"error": {"message": "model is sleeping"}}')

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(503)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Relay(f"http://127.0.0.1:{server.server_address[1]}/v1") as relay:
            status, body = _post(relay.base_url + "/chat/completions", b'{"model": "m"}')
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503 and body == payload
    assert relay.exchanges[0].error == "model is sleeping"

"""The real agents, each run through `lmprep exec --for AGENT -- AGENT <one-shot prompt>` with
no argument copied by hand, against a real llama-server that wants a token, behind a
recording proxy: the agent's request arrives on its route, with the model and the token lmprep
gave it, and the agent exits 0.

The server: the tiny model with a 128k training context, `-c 131072 -n 16` (random weights
write 16 tokens and stop; Qwen Code takes an empty answer for an error, so no end-of-sequence
bias here). Cline (3.0.65) takes an answer cut at the token cap for a failure ("response hit
the output token limit", exit 1), so its server (without a token) has a grammar that makes
the model write "Hi." and stop. Agents come from .ci/install-agents; one that is not installed
is skipped.

Each runs with only what lmprep sets, in the test's own empty HOME, on a machine with no
internet: HTTP(S)_PROXY point at a proxy on 127.0.0.1 that refuses every request and records
the host asked for (NO_PROXY covers loopback, so the model server is reached directly). Every
agent here honours the proxy variables (the node and bun ones included, checked by the hosts
they asked for before lmprep set their offline switches), and none asks for a host beyond
loopback, except where an agent has no switch for it (NO_SWITCH, named in the README).
"""

from __future__ import annotations

import os

import pytest

from e2e import run_lmprep
from lmprep.agents import PLACEHOLDER_KEY
from realagents.agents import find, install_report
from realagents.offline_proxy import RefusingProxy
from realserver.loading_proxy import LoadingProxy

pytestmark = [pytest.mark.real_agent, pytest.mark.real_server]
TOKEN = "lmprep-test-token-7f3a"
LABELS = {"codex": "Codex", "claude": "Claude Code", "opencode": "opencode", "qwen": "Qwen Code", "aider": "aider",
          "llm": "llm", "openai": "an OpenAI SDK client", "copilot": "GitHub Copilot CLI", "kilo": "Kilo Code",
          "pi": "pi", "droid": "Droid", "cline": "Cline"}
#: Agents that cannot be given a token without lmprep writing it to a file: a server without one.
WITHOUT_TOKEN = {"cline"}
#: Hosts an agent asks for with no internet that no switch of its own turns off (it answers
#: all the same): Cline 3.0.65's PostHog and OpenTelemetry hosts; Qwen Code 0.24.4's usage
#: statistics (only its settings file has privacy.usageStatisticsEnabled); Kilo 7.7.7's api.kilo.ai;
#: Droid 0.215.0's config and telemetry hosts; opencode 1.18.33's background install of
#: @opencode-ai/plugin into its config directory (a failure there is only a warning).
NO_SWITCH = {
    "opencode": {"registry.npmjs.org:443"},
    "droid": {"api.factory.ai:443", "telemetry.factory.ai:443", "otel-collector-123358924663.us-central1.run.app:443"},
    "cline": {"data.cline.bot:443", "otel.cline.bot:443"},
    "qwen": {"gb4w8c3ygj-default-sea.rum.aliyuncs.com:443"},
    "kilo": {"api.kilo.ai:443"},
}


def serve(binary, model, *extra):
    from realserver.server import LlamaServer

    server = LlamaServer(binary, model, context=131072, alias="tiny",
                         extra_args=["-n", "16", "--repeat-penalty", "1.5", *extra])
    with server, LoadingProxy(server.origin, loading_seconds=0) as proxy:
        yield proxy


@pytest.fixture(scope="module")
def agent_server(llama_server_binary, tiny_128k_gguf):
    yield from serve(llama_server_binary, tiny_128k_gguf, "--api-key", TOKEN)


@pytest.fixture(scope="module")
def open_server(llama_server_binary, tiny_128k_gguf):
    yield from serve(llama_server_binary, tiny_128k_gguf, "--grammar", 'root ::= "Hi."')


# Two workers run them (pytest-xdist --dist loadgroup), each with its llama-servers: the agents
# spend most of their time starting up, so two at once take little more than one (three: slower, on 2 cores).
@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.xdist_group(f"real_agents_{i % 2}"))
                                  for i, name in enumerate(LABELS)])
def test_the_real_agent_works_through_lmprep_exec(name, request, tmp_path):
    agent = find(name)
    if agent.program is None:
        pytest.skip(f"{name} is not installed ({install_report()})")
    token = None if name in WITHOUT_TOKEN else TOKEN
    server = request.getfixturevalue("open_server" if token is None else "agent_server")
    config = tmp_path / "lmprep.toml"
    config.write_text(f'[providers.box]\nkind = "llamacpp"\nbase_url = "{server.base_url}"\n'
                      + ('api_key_env = "BOX_TOKEN"\n' if token else ""))
    command = agent.command()
    if name == "llm":
        command += ["--key", TOKEN]  # llm takes a token only there: the user adds it, lmprep never does
    workdir = tmp_path / "work"
    workdir.mkdir()
    before = len(server.requests)
    with RefusingProxy() as internet:
        result = run_lmprep("exec", "--for", name, "-p", "box", "--config", str(config), "--", *command,
                            env={**internet.environ(), "BOX_TOKEN": TOKEN,
                                 "PATH": f"{agent.program.parent}:{os.environ['PATH']}"},
                            timeout=300, cwd=workdir)
    assert f"Ready for {LABELS[name]}: tiny" in result.stderr, result.stderr
    assert result.returncode == 0, result.stderr[-3000:]
    mine = [r for r in server.requests[before:]
            if r.method == "POST" and r.path.split("?")[0] == agent.route and b"say hi" in r.body]
    assert mine, [f"{r.method} {r.path}" for r in server.requests[before:]]
    for sent in mine:
        assert sent.json()["model"] == "tiny"
        assert sent.headers.get("authorization") == f"Bearer {token or PLACEHOLDER_KEY}"
    assert set(internet.hosts) <= NO_SWITCH.get(name, set()), internet.hosts
    request.node.user_properties.append(("real_agent_ran", name))  # shown at the end of the run (conftest.py)


def test_the_real_codex_sends_lm_studios_token(lmstudio_emulator, tmp_path):
    """Codex's --oss never sends a token: against an LM Studio that wants one, lmprep hands
    Codex its own model provider, whose token is read from a variable (never the command line)."""
    agent = find("codex")
    if agent.program is None:
        pytest.skip(f"codex is not installed ({install_report()})")
    model = "openai/gpt-oss-20b"
    lmstudio_emulator.downloaded = [model]
    lmstudio_emulator.token = TOKEN
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_lmprep("exec", "--for", "codex", "-p", "lmstudio", "--base-url", lmstudio_emulator.base_url,
                        "--", *agent.command(),
                        env={"LM_API_TOKEN": TOKEN, "HOME": str(tmp_path),
                             "PATH": f"{agent.program.parent}:{os.environ['PATH']}"},
                        timeout=300, cwd=workdir)
    assert "Ready for Codex" in result.stderr, result.stderr
    mine = [r for r in lmstudio_emulator.requests
            if r.method == "POST" and r.path == "/v1/responses" and b"say hi" in r.raw_body]
    assert mine, [f"{r.method} {r.path}" for r in lmstudio_emulator.requests]
    assert all(sent.header("authorization") == f"Bearer {TOKEN}" for sent in mine)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_real_aider_asks_ollama_for_its_own_window(ollama_emulator, tmp_path):
    """aider on Ollama sends `num_ctx` with each /api/chat request (8192 and more): a model loaded
    with Ollama's default 4096 is ready for it, and Ollama loads it with aider's window."""
    agent = find("aider")
    if agent.program is None:
        pytest.skip(f"aider is not installed ({install_report()})")
    ollama_emulator.models = {"tiny": 1}
    ollama_emulator.loaded = {"tiny": 4096}
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_lmprep("exec", "--for", "aider", "-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", "tiny",
                        "--", *agent.command(), env={"HOME": str(tmp_path)}, timeout=300, cwd=workdir)
    assert "Ready for aider: tiny on Ollama" in result.stderr, result.stderr
    chats = [r for r in ollama_emulator.requests if r.method == "POST" and r.path == "/api/chat"
             and b"say hi" in r.raw_body]
    assert chats, [f"{r.method} {r.path}" for r in ollama_emulator.requests]
    assert all(chat.json["options"]["num_ctx"] >= 8192 for chat in chats)
    assert ollama_emulator.loaded["tiny"] >= 8192
    assert result.returncode == 0, result.stderr[-3000:]

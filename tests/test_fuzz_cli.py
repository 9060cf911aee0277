"""Fuzzed end to end: the whole command line against servers that answer anything.

Every route gets either a well-formed answer or a fuzzed one (any status, any bytes), under
fuzzed options, variables and config files. Whatever happens, the user sees a state and its
exit code, never a traceback, never `internal_error` (exit 1, the "please report" state).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.cli import cli
from lmprep.errors import ExitCode

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(250),
    deadline=None,
    database=None,
    # `routes` (pytest-httpx) and conftest's HOME isolation are function-scoped: each example
    # sets every answer before running, and writes its config file over the previous one.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

STATES = {code.value for code in ExitCode} - {ExitCode.INTERNAL_ERROR.value, ExitCode.INTERRUPTED.value}
MODELS = ["some/model", "openai/gpt-oss-20b", "gpt-oss:20b"]


def good(value) -> tuple[int, bytes]:
    return 200, value if isinstance(value, bytes) else json.dumps(value).encode()


PULL_LINES = st.lists(st.one_of(
    st.sampled_from([
        '{"status": "pulling manifest"}', '{"status": "success"}', '{"error": "pull model manifest: file does not exist"}',
        '{"status": "pulling a", "digest": "sha256:a", "total": 100, "completed": 50}', "not json", "", "[" * 3000,
        '{"status": "verifying sha256 digest\\r\\u001b[2K"}', '{"digest": "sha256:b", "total": -1, "completed": 7}',
    ]),
    st.text(max_size=20),
), max_size=8).map(lambda lines: "\n".join(lines).encode())

GOOD_ANSWERS = {
    "/v1/models": st.sampled_from(["llamacpp", "vllm", "organization_owner"]).map(
        lambda owner: good({"object": "list", "data": [{"id": m, "object": "model", "owned_by": owner} for m in MODELS]})
    ),
    "/lmstudio-greeting": st.just(good({"lmstudio": True})),
    "/": st.just(good(b"Ollama is running")),
    "/api/tags": st.sampled_from([good({"models": [{"name": "some/model:latest"}, {"name": "gpt-oss:20b"}]}),
                                  good({"models": []})]),
    "/api/pull": PULL_LINES.map(good),
    "/api/generate": st.just(good({"model": "x", "done": True})),
    "/v1/responses": st.just(good({"id": "resp", "object": "response", "output": []})),
    "/v1/chat/completions": st.just(good({"id": "c", "choices": []})),
    "/api/v1/models/load": st.just(good({"status": "loaded"})),
    "/api/ps": st.just(good({"models": [{"name": "some/model:latest", "context_length": 8192}]})),
    "/api/show": st.just(good({"model_info": {"llama.context_length": 131072}})),
    "/api/v0/models": st.just(good({"data": [{"id": "some/model", "state": "loaded", "loaded_context_length": 4096,
                                              "max_context_length": 32768}]})),
    "/props": st.just(good({"default_generation_settings": {"n_ctx": 4096}})),
}
FUZZED_ANSWER = st.tuples(
    st.one_of(st.sampled_from([200, 200, 401, 403, 404, 500, 503]), st.integers(min_value=200, max_value=599)),
    st.one_of(
        st.binary(max_size=60),
        st.sampled_from([b"", b"{}", b"[]", b"null", b"<html>proxy</html>", b"[" * 3000, b'{"error": "boom\\nline"}',
                         b'{"error": {"message": "Loading model"}}', b'{"data": "x"}', b'{"models": 1}']),
    ),
)
ANSWERS = st.fixed_dictionaries({route: st.one_of(answer, answer, FUZZED_ANSWER)
                                 for route, answer in GOOD_ANSWERS.items()})

KIND_NAMES = st.sampled_from(["lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai"])
PROVIDERS = st.one_of(KIND_NAMES, KIND_NAMES, KIND_NAMES, st.sampled_from([None, "custom", "nope"]))
CONFIGS = st.one_of(
    st.none(), st.none(), st.none(), st.none(),
    st.sampled_from([
        '[providers.custom]\nkind = "openai"\nbase_url = "http://127.0.0.1:8000/v1"\nmodel = "some/model"\n',
        'oss_provider = "ollama"\n', "timeout = inf\n", "oss_provider = [\n", 'a = ' + "[" * 3000 + "\n",
        '[providers.ollama]\nbase_url = "http://xn--/v1"\n', "\xff", "connect_timeout = 1e300\n",
    ]),
    st.text(max_size=40),
)
ENV = st.one_of(st.just({}), st.just({}), st.just({}), st.fixed_dictionaries({}, optional={
    "OLLAMA_HOST": st.sampled_from(["127.0.0.1:11434", "h?x", "a:b:c", "xn--", ":" + "9" * 5000, "0.0.0.0"]),
    "CODEX_OSS_PORT": st.sampled_from(["1234", "0", "x", "9" * 5000]),
    "LMPREP_BASE_URL": st.sampled_from(["http://127.0.0.1:8000/v1", "http://xn--/v1", "localhost", "http://h/v1?x"]),
    "LMPREP_MODEL": st.sampled_from([*MODELS, "", "-rf"]),
}))


@st.composite
def command_lines(draw, providers=PROVIDERS, wild=True) -> list[str]:
    command = draw(st.sampled_from(["ensure", "ensure", "ensure", "status", "config show"] if wild else
                                   ["ensure", "ensure", "ensure", "status"]))
    args = command.split()
    provider = draw(providers)
    if provider is not None:
        args += ["-p", provider]
    model = draw(st.one_of(st.none(), st.sampled_from(MODELS), st.sampled_from(MODELS),
                           st.text(min_size=1, max_size=10) if wild else st.none()))
    if model is not None and not model.startswith("-"):
        args += ["-m", model]
    if command != "status":
        args += ["--warm-up", draw(st.sampled_from(["off", "wait"]))]  # never a detached child here
        if draw(st.booleans()):
            args.append("--offline")
    if wild and draw(st.integers(0, 3)) == 0:
        args += ["--connect-timeout", draw(st.sampled_from(["1", "inf", "1e300", "0.5"]))]
    return [*args, "--json"]


@pytest.fixture
def routes(httpx_mock, monkeypatch):
    """Every request is answered from ``routes[path]``; unknown paths get a 404.

    A llama-server answering 503 "Loading model" forever is waited for up to 10 minutes;
    here that wait is cut to a fraction of a second (it ends in exit 8 all the same)."""
    import lmprep.providers.openai_compat as openai_compat

    monkeypatch.setattr(openai_compat, "LOADING_WAIT_LIMIT", 0.2)
    monkeypatch.setattr(openai_compat, "LOADING_POLL_INTERVAL", 0.01)
    answers: dict[str, tuple[int, bytes]] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        status, body = answers.get(urlsplit(str(request.url)).path, (404, b'{"error": "Unexpected endpoint"}'))
        return httpx.Response(status, content=body)

    httpx_mock.add_callback(answer, is_reusable=True, is_optional=True)
    return answers


@FUZZ
@given(command_lines(providers=KIND_NAMES, wild=False), ANSWERS)
def test_server_answers_never_crash_the_pipeline(routes, tmp_path_factory, args, answers):
    """A provider chosen and nothing else odd: every run goes as deep as the answers allow."""
    check_run(routes, tmp_path_factory, args, answers, None, {})


@FUZZ
@given(command_lines(), ANSWERS, CONFIGS, ENV)
@example(["ensure", "-p", "lmstudio", "--warm-up", "wait", "--json"],
         {**{route: (200, b"[" * 3000) for route in GOOD_ANSWERS}}, None, {})
@example(["ensure", "-p", "ollama", "-m", "some/model", "--warm-up", "off", "--json"],
         {"/api/tags": good({"models": []}), "/api/pull": good(b'{"status": "x\\r"}\n' + b"[" * 3000)}, None, {})
@example(["ensure", "--connect-timeout", "inf", "-p", "lmstudio", "--warm-up", "off", "--json"], {}, None, {})
@example(["ensure", "-p", "ollama", "--warm-up", "off", "--json"], {}, None, {"OLLAMA_HOST": "xn--"})
def test_every_outcome_is_a_state_and_exit_code(routes, tmp_path_factory, args, answers, config, env):
    check_run(routes, tmp_path_factory, args, answers, config, env)


def check_run(routes, tmp_path_factory, args, answers, config, env) -> None:
    routes.clear()
    routes.update(answers)
    env = {**env, "LMPREP_LMS": "/nonexistent/lms"}  # LM Studio downloads fail fast, no child process
    if config is not None:
        path = Path(tmp_path_factory.getbasetemp()) / "fuzz-cli-config.toml"
        path.write_text(config, encoding="utf-8", errors="surrogatepass")
        args = [*args, "--config", str(path)]

    result = CliRunner().invoke(cli, args, env=env)

    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    output = result.stdout + result.stderr
    event(f"{args[0]}: exit {result.exit_code}")
    assert "Traceback" not in output
    if result.exit_code == ExitCode.USAGE:  # click refused an option value (e.g. --connect-timeout 0)
        return
    assert result.exit_code in STATES, output
    if args[0] == "ensure":
        # --json: exactly one object on stdout, also on failure, agreeing with the exit code.
        assert result.stdout.count("\n") == 1, result.stdout
        payload = json.loads(result.stdout)
        assert payload["exit_code"] == result.exit_code and payload["ok"] == (result.exit_code == 0)
        assert payload["state"] != "internal_error", payload

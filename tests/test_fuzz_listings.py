"""Fuzzed server answers: model listings of every provider (GET /models, GET /api/tags), the
identity routes and warm-up answers, and the JSON helpers in lmprep.http.

Any status code, any bytes, JSON of any shape: a listing is returned, or an LmprepError
with its state and exit code is raised (protocol_error; auth_failed for 401/403).
"""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.config import ProviderSettings, Sourced
from lmprep.errors import AuthFailedError, LmprepError, ProtocolError, WarmupFailedError
from lmprep.http import error_text, json_error_message, parse_json
from lmprep.providers import open_provider, openai_compat
from lmprep.providers.ollama import normalize_model_name

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(300),
    deadline=None,
    database=None,
    # `served` below (and conftest's HOME isolation) are function-scoped: each example sets
    # the answer it wants before sending anything, so sharing them between examples is harmless.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BASE = "http://127.0.0.1:9"  # never contacted: pytest-httpx answers every request
OPENAI_KINDS = ("lmstudio", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai")

JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
        st.sampled_from([10**400, -1, 0, "", "model", "loading model", "Unexpected endpoint", "error"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(["id", "name", "model", "data", "models", "error", "message",
                                                   "code", "owned_by", "object", "lmstudio", "key", "state",
                                                   "context_length", "max_context_length", "loaded_context_length",
                                                   "loaded_instances", "config", "model_info", "llama.context_length"]),
                                  st.text(max_size=8)), inner, max_size=4),
    ),
    max_leaves=12,
)
MODEL_ITEMS = st.one_of(
    JSON,
    st.fixed_dictionaries({"id": JSON}, optional={"object": st.just("model"), "owned_by": JSON}),
    st.fixed_dictionaries({"name": JSON}, optional={"model": JSON, "size": JSON}),
)
LISTING_SHAPES = st.one_of(
    st.fixed_dictionaries({"data": st.one_of(st.lists(MODEL_ITEMS, max_size=5), JSON)},
                          optional={"object": st.just("list"), "error": JSON}),
    st.fixed_dictionaries({"models": st.one_of(st.lists(MODEL_ITEMS, max_size=5), JSON)}, optional={"error": JSON}),
    st.fixed_dictionaries({"error": JSON}),
    JSON,
)
SPECIAL_BODIES = st.sampled_from([
    b"", b"null", b"[]", b"{}", b"NaN", b'{"data": NaN}', b"Infinity", b"<html><body>It works</body></html>",
    b"[" * 3000, b'{"a":' * 3000, b'{"data": [' + b"[" * 5000 + b"]",
    b'{"data": [{"id": ' + b"9" * 5000 + b"}]}", b"\xef\xbb\xbf{}", b'{"data": []}'.decode().encode("utf-16"),
    b'{"data": [{"id": "\\ud800"}]}', b'{"models": [{"name": "a\\u0000b"}]}', b"\xff\xfe\xfd", b"Ollama is running",
    b'{"lmstudio": true}', b'{"error": {"message": "Loading model"}}', b'{"error": null}',
    b'{"error": "line one\\r\\nline two \\u001b]0;pwned\\u0007\\u001b[31mred"}', b'{"error": "' + b"x" * 5000 + b'"}',
])


def dumps(value) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


BODIES = st.one_of(
    LISTING_SHAPES.map(dumps),
    st.binary(max_size=200),
    SPECIAL_BODIES,
)
STATUSES = st.one_of(st.sampled_from([200, 200, 200, 201, 204, 301, 400, 401, 403, 404, 405, 500, 501, 503]),
                     st.integers(min_value=200, max_value=599))


@pytest.fixture
def served(httpx_mock, monkeypatch):
    """Every request gets the answer in ``served["status"]``/``served["body"]``."""
    answer = {"status": 200, "body": b"{}"}
    httpx_mock.add_callback(
        lambda request: httpx.Response(answer["status"], content=answer["body"]), is_reusable=True, is_optional=True
    )
    # A 503 "Loading model" from llama-server is waited out for up to 10 minutes; here, give up at once.
    monkeypatch.setattr(openai_compat, "LOADING_WAIT_LIMIT", -1.0)
    return answer


def provider(kind: str, events: list | None = None, lms_path: str | None = None):
    model = Sourced("some/model", "test")
    lms = Sourced(lms_path, "test") if lms_path else None
    settings = ProviderSettings(kind, kind, Sourced(f"{BASE}/v1", "test"), model, None, lms)
    return open_provider(settings, report=(events.append if events is not None else lambda event: None))


def decoded(body: bytes):
    """The body as JSON, or a marker when it is not (the oracle below mirrors the contract)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NotImplemented


def check_error(exc: LmprepError, status: int, allowed: tuple[type[LmprepError], ...]) -> None:
    assert isinstance(exc, allowed), exc
    if status in (401, 403):
        assert isinstance(exc, AuthFailedError)
    assert exc.message and exc.hint
    assert exc.state and int(exc.exit_code) > 1  # a real state, never internal_error
    # The server's words are quoted as one clean line: no newline, carriage return or escape.
    assert not any(c in exc.message for c in "\r\n\x1b"), exc.message


@FUZZ
@given(st.sampled_from(OPENAI_KINDS), STATUSES, BODIES)
@example("lmstudio", 200, b"[" * 3000)
@example("llamacpp", 200, b'{"a":' * 3000)
@example("vllm", 503, b'{"error": {"message": "Loading model"}}')
@example("openai", 503, b"[" * 3000)
@example("lmstudio", 200, b'{"data": [{"id": "a"}, {"id": 1}, "b", {"id": "c"}]}')
def test_openai_model_listing(served, kind, status, body):
    served.update(status=status, body=body)
    with provider(kind) as server:
        try:
            listing = server.list_models()
        except LmprepError as exc:
            check_error(exc, status, (ProtocolError, AuthFailedError))
            value = decoded(body)
            ok = status == 200 and isinstance(value, dict) and value.get("error") is None and isinstance(value.get("data"), list)
            assert not ok, exc
            return
        value = decoded(body)
        assert status == 200 and isinstance(value, dict) and value.get("error") is None
        assert listing == [item["id"] for item in value["data"]
                           if isinstance(item, dict) and isinstance(item.get("id"), str)]
        model = listing[0] if listing else "x"
        # With the client still open: llama-swap asks the server about a name its listing lacks.
        assert isinstance(server.has_model(model, listing), bool)
        assert server.served_name(model.upper(), listing) in (None, model.upper(), *listing)
        assert server.only_model(listing) in (None, *listing)


@FUZZ
@given(STATUSES, BODIES)
@example(200, b'{"models": [' + b"[" * 3000 + b"]}")
@example(200, b'{"models": [{"name": "Llama3"}, {"model": "x"}, {"name": 5, "model": "y"}, "z"]}')
@example(500, b'{"error": {"message": {"nested": [1]}}}')
def test_ollama_tags_listing(served, status, body):
    served.update(status=status, body=body)
    with provider("ollama") as server:
        try:
            listing = server.list_models()
        except LmprepError as exc:
            check_error(exc, status, (ProtocolError, AuthFailedError))
            value = decoded(body)
            assert not (status == 200 and isinstance(value, dict) and isinstance(value.get("models"), list)), exc
            return
    value = decoded(body)
    expected = []
    for item in value["models"]:
        if isinstance(item, dict):
            name = item.get("name") or item.get("model")
            if isinstance(name, str):
                expected.append(name)
    assert listing == expected
    for name in listing:
        assert server.has_model(name, listing)
        assert server.has_model(name.upper(), listing) == server.has_model(name, listing)


@FUZZ
@given(st.sampled_from([*OPENAI_KINDS, "ollama"]), STATUSES, BODIES)
@example("lmstudio", 200, b"[" * 3000)
@example("vllm", 200, b"[" * 3000)
@example("llamacpp", 503, b"[" * 3000)
def test_identify_is_only_ever_true_or_false(served, kind, status, body):
    served.update(status=status, body=body)
    with provider(kind) as server:
        assert server.identify() in (True, False)


@FUZZ
@given(st.sampled_from([*OPENAI_KINDS, "ollama"]), STATUSES, BODIES)
@example("lmstudio", 200, b"[" * 3000)
@example("ollama", 200, b"[" * 3000)
@example("openai", 404, b'{"error": "Unexpected endpoint"}')
@example("lmstudio", 200, b'{"error": {"code": "model_not_found", "message": "nope"}}')
def test_warm_up_answers(served, kind, status, body):
    served.update(status=status, body=body)
    with provider(kind) as server:
        try:
            server.warm_up("some/model", read_timeout=1.0)
        except LmprepError as exc:
            check_error(exc, status, (WarmupFailedError, AuthFailedError))
            return
    value = decoded(body)
    assert status == 200 and value is not NotImplemented and json_error_message(value) is None
    # Lemonade words a failed load as {"status": "error", "message": ...} (its server_spec.md).
    assert not (kind == "lemonade" and isinstance(value, dict) and value.get("status") == "error")


@FUZZ
@given(st.sampled_from([*OPENAI_KINDS, "ollama"]), STATUSES, BODIES)
@example("lmstudio", 200, b"[" * 3000)
@example("ollama", 200, b"[" * 3000)
@example("ollama", 200, b'{"models": ["x", {"name": "some/model", "context_length": 4096}]}')
@example("lmstudio", 200, b'{"data": [{"id": "some/model", "state": "loaded", "loaded_context_length": 8192}]}')
def test_context_window_answers(served, kind, status, body):
    """Reading the context window is best effort: unknown values, or the listing's own errors
    for the kinds that read it from GET /models."""
    served.update(status=status, body=body)
    with provider(kind, lms_path="/nonexistent/lms") as server:
        try:
            state = server.model_state("some/model")
        except LmprepError as exc:
            assert kind in ("llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai"), exc
            check_error(exc, status, (ProtocolError, AuthFailedError))
            return
    assert state.loaded in (True, False, None)
    for value in (state.context, state.maximum):
        assert value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)


# -- the pure helpers ---------------------------------------------------------------------------


def response(status: int, body: bytes) -> httpx.Response:
    return httpx.Response(status, content=body, request=httpx.Request("GET", f"{BASE}/v1/models"))


@FUZZ
@given(STATUSES, BODIES)
@example(200, b"[" * 3000)
@example(500, b'{"error": ' * 3000)
def test_json_helpers(status, body):
    answer = response(status, body)
    text = error_text(answer)
    assert isinstance(text, str) and text
    try:
        value = parse_json(answer, "Server", "listing models")
    except ProtocolError as exc:
        assert decoded(body) is NotImplemented
        assert "\n" not in exc.message and "\r" not in exc.message
    else:
        message = json_error_message(value)
        assert message is None or isinstance(message, str)
    assert not any(c in text for c in "\r\n\x1b"), text


@FUZZ
@given(JSON)
def test_json_error_message_is_text_or_none(value):
    message = json_error_message(value)
    assert message is None or isinstance(message, str)
    if not (isinstance(value, dict) and value.get("error") is not None):
        assert message is None  # also for `"error": null`, which says there is none (OpenAI, LiteLLM)
    else:
        assert not any(c in message for c in "\r\n\x1b") and len(message) <= 500


@FUZZ
@given(st.sampled_from(OPENAI_KINDS), STATUSES, BODIES)
def test_pure_listing_path(kind, status, body):
    """The parse step on its own, as the brief of the fuzz tests names it."""
    with provider(kind) as server:
        try:
            listing = server._openai_model_ids_from(response(status, body), "listing models")
        except ProtocolError as exc:
            assert exc.exit_code == 8 and exc.state == "protocol_error"
        except AuthFailedError as exc:
            # LiteLLM's proxy answers a missing key with HTTP 500 and a wrong one with 400 "No
            # connected db." where it has no database (providers/litellm.py): exit 5, never a crash.
            assert kind == "litellm" and status in (400, 500) and exc.exit_code == 5
        else:
            assert all(isinstance(item, str) for item in listing)


# -- Ollama's name rules ------------------------------------------------------------------------

MODEL_NAMES = st.one_of(
    st.text(max_size=30),
    st.lists(st.sampled_from(["llama3", "Llama3", ":", "/", "latest", "LATEST", "library", "hf.co", "user",
                              " ", "\t", "ß", "İ", "ﬁ", "Σ", "q4_K_M", "", "//"]), max_size=8).map("".join),
)


@FUZZ
@given(MODEL_NAMES)
@example("İ")
@example("ﬁ")
@example("a/ b")
def test_normalize_model_name_is_idempotent_and_case_insensitive(name):
    normal = normalize_model_name(name)
    assert normalize_model_name(normal) == normal
    assert normalize_model_name(name.lower()) == normal
    assert normalize_model_name(name.upper()) == normalize_model_name(name.upper().lower())
    if name.isascii():
        assert normalize_model_name(name.upper()) == normal
        assert normalize_model_name(name.swapcase()) == normal
    assert normal.count("/") >= 2 and ":" in normal.rsplit("/", 1)[-1]
    # The short forms people type all mean the full one.
    if name.strip() and "/" not in name and ":" not in name:
        assert normalize_model_name(f"{name.strip()}:latest") == normal
        assert normalize_model_name(f"library/{name.strip()}") == normal


@FUZZ
@given(st.lists(MODEL_NAMES, max_size=5), MODEL_NAMES)
def test_has_model_is_never_confused(listing, wanted):
    with provider("ollama") as server:
        found = server.has_model(wanted, listing)
    assert found == any(normalize_model_name(item) == normalize_model_name(wanted) for item in listing)

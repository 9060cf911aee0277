"""Fuzzed OLLAMA_HOST values and base URLs: the pure helpers in lmprep.hosts.

Their documented failure is ValueError (config.py turns it into not_configured, exit 3).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.hosts import is_loopback_host, is_loopback_url, normalize_base_url, origin_of, parse_ollama_host, strip_v1

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(1000),
    deadline=None,
    database=None,
    # The only function-scoped fixture is conftest's autouse HOME isolation, unused here.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Pieces of host strings as people (and typos) write them.
HOSTISH = st.sampled_from([
    "localhost", "127.0.0.1", "0.0.0.0", "::", "[::]", "::1", "[::1]", "[fe80::1%eth0]", "example.com", "xn--",
    "xn--a.com", "é.com", "。", "a b", "@", "a@b", "user:pw@h", "%", "%zz", "?", "#", "[", "]", "[::1]x", "h\x00",
    "-", ".", "..", "a..b", "\u200b", "host\t", "HOST", "",
])
PORTISH = st.one_of(
    st.just(""),
    st.integers(min_value=-5, max_value=70000).map(lambda n: f":{n}"),
    st.sampled_from([":", "::", ":0", ":65535", ":65536", ":080", ":１２３", ":1e3", ": 80", ":" + "9" * 5000]),
)
PATHISH = st.sampled_from(["", "/", "/v1", "/v1/", "//x", "/a b", "/p?q", "/p#f", "/%", "/é", "/a/b/"])
SCHEMEISH = st.sampled_from(["", "http://", "https://", "HTTP://", "ftp://", "://", "http:/", "http:", "unix://"])
QUOTES = st.sampled_from(["", '"', "'", " ", "\t"])


@st.composite
def hostish_strings(draw) -> str:
    quote = draw(QUOTES)
    text = draw(SCHEMEISH) + draw(HOSTISH) + draw(PORTISH) + draw(PATHISH)
    return quote + text + quote


HOST_VALUES = st.one_of(hostish_strings(), st.text(max_size=40))


@FUZZ
@given(HOST_VALUES)
@example("example.com:80:90")
@example("host?x")
@example("h/p?q")
@example("xn--")
@example("a:" + "1" * 5000)
def test_ollama_host_is_an_origin_every_other_helper_accepts(value):
    try:
        origin = parse_ollama_host(value)
    except ValueError:
        return
    assert normalize_base_url(origin) == origin
    parts = urlsplit(origin)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert parts.port is not None and 0 < parts.port < 65536
    assert not parts.query and not parts.fragment
    # Parsing its own output changes nothing: lmprep and Ollama agree on what it means.
    assert parse_ollama_host(origin) == origin
    # The Ollama provider puts /v1 after it.
    assert normalize_base_url(origin + "/v1") == origin + "/v1"


URLS = st.one_of(
    st.text(max_size=60),
    st.builds(lambda s, h, p, path, tail: s + h + p + path + tail, SCHEMEISH, HOSTISH, PORTISH, PATHISH,
              st.sampled_from(["", "/", "?", "?a=1", "#", "#f", " ", "\n", "\x00"])),
)


@FUZZ
@given(URLS)
@example("http://xn--/v1")
@example("http://xn--a.com/v1")
@example("http://\u3002/v1")
@example("http://a\x00b/v1")
@example("http://[::1%eth0]:1/v1")
def test_a_normalized_base_url_is_one_httpx_can_send_to(url):
    try:
        base = normalize_base_url(url)
    except ValueError:
        return
    assert normalize_base_url(base) == base
    parts = urlsplit(base)
    assert parts.scheme in ("http", "https")
    assert parts.hostname
    assert not base.endswith("/")
    # Every route lmprep builds on it can be sent (no IDNA or control-character surprise later).
    for route in ("/models", "/responses", "/chat/completions"):
        httpx.Request("GET", base + route)
    root = strip_v1(base)
    httpx.Request("GET", root + "/api/tags")
    httpx.Request("GET", origin_of(base) + "/lmstudio-greeting")
    assert isinstance(is_loopback_url(base), bool)


@FUZZ
@given(st.one_of(st.none(), st.text(max_size=40), HOSTISH))
def test_is_loopback_host_never_raises(host):
    assert isinstance(is_loopback_host(host), bool)

"""Pure host/URL helpers: OLLAMA_HOST parsing by Ollama's rules, base URL checks."""

from __future__ import annotations

import re

import pytest

from lmprep.hosts import (
    is_loopback_host,
    is_loopback_url,
    normalize_base_url,
    origin_of,
    parse_ollama_host,
    strip_v1,
)

# The table follows ollama-python's `_parse_host` doctests and Ollama's envconfig.Host.
OLLAMA_HOST_CASES = [
    ("", "http://127.0.0.1:11434"),
    ("   ", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("example.com/a/b", "http://example.com:11434/a/b"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
    ("https://[0001:002:003:0004::1]", "https://[0001:002:003:0004::1]:443"),
    ("https://[0001:002:003:0004::1]:56789", "https://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789/", "http://[0001:002:003:0004::1]:56789"),
    ("[0001:002:003:0004::1]/path", "http://[0001:002:003:0004::1]:11434/path"),
    ("[0001:002:003:0004::1]:56789/path", "http://[0001:002:003:0004::1]:56789/path"),
    ("https://[0001:002:003:0004::1]:56789/path", "https://[0001:002:003:0004::1]:56789/path"),
    ("[0001:002:003:0004::1]:56789/path/", "http://[0001:002:003:0004::1]:56789/path"),
    ("[::1]", "http://[::1]:11434"),
    ("::1", "http://[::1]:11434"),  # a bare IPv6 address has no port
    # Spaces and quotes around the value are trimmed, as Ollama's envconfig.Var does.
    ("  example.com:56789  ", "http://example.com:56789"),
    ('"example.com:56789"', "http://example.com:56789"),
    ("'example.com:56789'", "http://example.com:56789"),
    (" \"http://example.com\" ", "http://example.com:80"),
    # Bind-all addresses are where a server listens, not where a client connects.
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("http://0.0.0.0", "http://127.0.0.1:80"),
    ("::", "http://127.0.0.1:11434"),
    ("[::]", "http://127.0.0.1:11434"),
    ("[::]:9999", "http://127.0.0.1:9999"),
    ("https://[::]:9999/x", "https://127.0.0.1:9999/x"),
    # The scheme is case-insensitive.
    ("HTTP://example.com", "http://example.com:80"),
    ("HTTPS://example.com:1", "https://example.com:1"),
    ("localhost", "http://localhost:11434"),
    ("http://:8080", "http://127.0.0.1:8080"),
]


@pytest.mark.parametrize(("value", "expected"), OLLAMA_HOST_CASES)
def test_parse_ollama_host(value, expected):
    assert parse_ollama_host(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "ftp://example.com",
        "unix:///var/run/ollama.sock",
        "tcp://1.2.3.4:11434",
        "example.com:abc",
        "example.com:0",
        "example.com:65536",
        "example.com:-1",
        "example.com:+80",
        "example.com:١٢٣٤",  # non-ASCII digits are not a port
        "example.com:²",
        "http://example.com:99999/path",
        "[::1",
        "[::1]x",
        "[::1]8080",
        "[::1]:port",
    ],
)
def test_parse_ollama_host_rejects(value):
    with pytest.raises(ValueError):
        parse_ollama_host(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:1234/v1", "http://localhost:1234/v1"),
        ("http://localhost:1234/v1/", "http://localhost:1234/v1"),
        ("http://localhost:1234/v1///", "http://localhost:1234/v1"),
        ("  http://localhost:1234/v1  ", "http://localhost:1234/v1"),
        ("HTTP://localhost:1234/v1", "http://localhost:1234/v1"),
        ("https://example.com/openai/v1", "https://example.com/openai/v1"),
        ("https://example.com", "https://example.com"),
        ("https://example.com/", "https://example.com"),
        ("http://[::1]:11434/v1", "http://[::1]:11434/v1"),
        ("http://10.0.0.5:8000/v1", "http://10.0.0.5:8000/v1"),
    ],
)
def test_normalize_base_url(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("localhost:1234/v1", "http:// or https://"),
        ("ftp://example.com/v1", "http:// or https://"),
        ("example.com/v1", "http:// or https://"),
        ("", "http:// or https://"),
        ("/v1", "http:// or https://"),
        ("http://", "no host"),
        ("http:///v1", "no host"),
        ("http://:1234/v1", "no host"),
        ("http://localhost:99999/v1", "invalid port"),
        ("http://localhost:abc/v1", "invalid port"),
        ("http://localhost:1234/v1?x=1", "query or fragment"),
        ("http://localhost:1234/v1#top", "query or fragment"),
        ("HTTP://[::];", "not a URL lmprep can send to"),  # urlsplit sees no port there, httpx an invalid one
        ("http://[::1]x/v1", "not a URL lmprep can send to"),
    ],
)
def test_normalize_base_url_rejects(url, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        normalize_base_url(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:1234/v1", "http://localhost:1234"),
        ("https://example.com/a/b/v1", "https://example.com"),
        ("http://[::1]:11434/v1", "http://[::1]:11434"),
        ("http://h", "http://h"),
    ],
)
def test_origin_of(url, expected):
    assert origin_of(url) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:1234/v1", "http://localhost:1234"),
        ("http://host/proxy/v1", "http://host/proxy"),
        ("http://localhost:1234", "http://localhost:1234"),
        ("http://localhost:1234/api", "http://localhost:1234/api"),
        ("http://localhost:1234/xv1", "http://localhost:1234/xv1"),
        ("http://localhost:1234/v10", "http://localhost:1234/v10"),
        ("http://localhost:1234/v1/v1", "http://localhost:1234/v1"),
    ],
)
def test_strip_v1(url, expected):
    assert strip_v1(url) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.localdomain", True),
        ("ip6-localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        (None, False),
        ("", False),
        ("0.0.0.0", True),  # as a destination: this host
        ("::", True),
        ("127.1", True),
        ("0x7f.0.0.1", True),
        ("2130706433", True),
        ("0177.0.0.1", True),
        ("[::ffff:127.0.0.1]", True),
        ("localhost.", True),
        ("127.0.0.1.", True),
        ("::ffff:10.0.0.1", False),
        ("10.1", False),
        ("cafe.face", False),
        ("10.0.0.5", False),
        ("192.168.1.10", False),
        ("example.com", False),
        ("localhost.example.com", False),
        ("[fe80::1]", False),
        ("not an address", False),
    ],
)
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:1234/v1", True),
        ("http://127.0.0.1:11434/v1", True),
        ("http://[::1]:8080/v1", True),
        ("http://10.0.0.5:8000/v1", False),
        ("https://api.example.com/v1", False),
    ],
)
def test_is_loopback_url(url, expected):
    assert is_loopback_url(url) is expected


@pytest.mark.parametrize(("value", "expected"), OLLAMA_HOST_CASES)
def test_parsed_ollama_host_is_a_valid_base_url(value, expected):
    """Whatever parse_ollama_host accepts, the base-URL check accepts too (config relies on it)."""
    assert normalize_base_url(parse_ollama_host(value) + "/v1") == expected + "/v1"

"""Pure functions over host strings and base URLs (no I/O)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

OLLAMA_DEFAULT_PORT = 11434
_BIND_ALL = {"0.0.0.0", "::", "[::]"}
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
_IPV4_CHARS = frozenset("0123456789abcdefx.")


def parse_ollama_host(value: str) -> str:
    """Turn an ``OLLAMA_HOST`` value into an origin URL, by Ollama's own rules.

    No scheme means ``http`` and port 11434; a scheme without a port means 80 or 443;
    ``:PORT`` means loopback; a path is kept; bind-all addresses mean loopback.
    Raises ValueError when the value cannot be a host.
    """
    text = value.strip().strip("\"'").strip()
    if not text:
        return f"http://127.0.0.1:{OLLAMA_DEFAULT_PORT}"
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
        default_port = OLLAMA_DEFAULT_PORT
    else:
        scheme = scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported scheme {scheme!r}")
        default_port = 443 if scheme == "https" else 80
    hostport, slash, path = rest.partition("/")
    path = (slash + path).rstrip("/")
    host, port = _split_host_port(hostport)
    if port is None:
        port = default_port
    if not host or host in _BIND_ALL:
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    # Also refuses (ValueError) a host or path no URL can hold: "h?x", "a:b:c", "xn--".
    return normalize_base_url(f"{scheme}://{host}:{port}{path}")


def _split_host_port(hostport: str) -> tuple[str, int | None]:
    if hostport.startswith("["):
        host, bracket, tail = hostport[1:].partition("]")
        if not bracket:
            raise ValueError(f"unclosed '[' in {hostport!r}")
        port_text = tail[1:] if tail.startswith(":") else ""
        if tail and not tail.startswith(":"):
            raise ValueError(f"unexpected text after ']' in {hostport!r}")
    elif hostport.count(":") > 1:
        # A bare IPv6 address without brackets has no port.
        return hostport, None
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host, None
    # The length check comes first: int() refuses more than 4300 digits with a ValueError of its own.
    if not (port_text.isascii() and port_text.isdigit() and len(port_text.lstrip("0")) <= 5) \
            or not 0 < int(port_text) < 65536:
        raise ValueError(f"invalid port {port_text!r}")
    return host, int(port_text)


def normalize_base_url(url: str) -> str:
    """Check that ``url`` is an absolute http(s) URL and drop a trailing slash.

    Raises ValueError with a short reason otherwise.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("it must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("it has no host")
    try:
        parts.port
    except ValueError as exc:
        raise ValueError(f"it has an invalid port ({exc})") from None
    if parts.query or parts.fragment:
        raise ValueError("it must not have a query or fragment")
    base = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path.rstrip("/"), "", ""))
    _check_sendable(base)
    return base


_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_PATH_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~!$&'()*+,;=:@%/-")


def _is_plain_url(url: str) -> bool:
    """A URL any client sends as it is: http(s), an ASCII host name (not IDNA) or IP, and a
    path of URL characters only. Checked by hand: a regex for it costs a millisecond to compile."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if not url.isascii() or "@" in netloc or not set(parts.path) <= _PATH_CHARS:
        return False
    if netloc.startswith("["):  # then nothing or ":PORT" (urlsplit lets `[::];` through, httpx does not)
        address, _, after = netloc[1:].partition("]")
        return set(address.lower()) <= set("0123456789abcdef:.") and (
            after == "" or after[:1] == ":" and after[1:].isdigit())
    host = (parts.hostname or "").lower()
    labels = host.split(".")
    return all(0 < len(label) < 64 and set(label) <= _LABEL_CHARS and label[0] != "-" and label[-1] != "-"
               and not label.startswith("xn--") for label in labels)


def _check_sendable(url: str) -> None:
    """Refuse what urlsplit lets through but no request can carry (a bad IDNA host such as
    ``xn--``, control characters): found late, those surfaced as an internal error. A plain
    ASCII URL (as good as every one) is checked here; anything else by httpx, as it would send it."""
    if _is_plain_url(url):
        return
    import httpx  # only for unusual URLs: the loopback ready path never imports httpx

    try:
        request = httpx.Request("GET", url)
        # The resolver encodes the host with IDNA: a label over 63 characters fails there.
        request.url.host.encode("idna")
    except (httpx.InvalidURL, ValueError) as exc:  # idna's IDNAError and UnicodeError are ValueErrors
        raise ValueError(f"it is not a URL lmprep can send to ({exc})") from None


def origin_of(base_url: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def strip_v1(base_url: str) -> str:
    """The server root of an OpenAI-style base URL (``.../v1`` → ``...``)."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def is_loopback_host(host: str | None) -> bool:
    """Whether a connection to ``host`` stays on this machine, however it is spelt: a name of
    localhost (a trailing dot too), any 127/8 address in every form the socket layer reads
    (``127.1``, ``0x7f.1``, ``2130706433``: inet_aton's), ``::1``, IPv4-mapped ``::ffff:127.x``,
    and the unspecified ``0.0.0.0`` / ``::``, which as a destination mean this host. A proxy
    must never carry such a request (it would see the token), so every spelling counts."""
    if not host:
        return False
    host = host.strip("[]").lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if host in _LOOPBACK_NAMES:
        return True
    if host and set(host) <= _IPV4_CHARS:
        import _socket  # the C module: socket.py costs milliseconds at import

        try:
            packed = _socket.inet_aton(host)
        except OSError:
            return False
        return packed[0] == 127 or packed == bytes(4)
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def is_loopback_name(host: str | None) -> bool:
    """``localhost`` by one of its names, which the resolver may not know spelt with a final dot."""
    return bool(host) and host.lower().rstrip(".") in _LOOPBACK_NAMES


def is_loopback_url(url: str) -> bool:
    return is_loopback_host(urlsplit(url).hostname)

"""The two ways a request leaves lmprep, behind one small interface.

Plain http to loopback (nearly every run: the server is on this machine) goes over a socket:
no httpx is imported for it (httpx with httpcore costs more to import than the rest of lmprep
together), nor http.client (the email package and ssl come with it). Everything else (https,
other hosts, proxies from the environment) goes through httpx, imported on first use. Both
report what went wrong as one of the few TransportErrors below, and http.py turns those into
lmprep's errors, in one place.
Both open one connection per request, so that http.py's watchdog sees every socket.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

_CHUNK = 65536
USER_AGENT = "lmprep"


class TransportError(Exception):
    """Something between lmprep and the server failed; the message says what."""


class ConnectFailed(TransportError):
    """No connection: refused, no route, a name that does not resolve."""


class ConnectTimedOut(TransportError):
    pass


class ReadTimedOut(TransportError):
    pass


class NoAnswer(TransportError):
    """The server accepted the connection and closed it (or reset it) before any answer."""


class BrokenAnswer(TransportError):
    """The answer broke off, or was not HTTP."""


class CertificateFailed(TransportError):
    """The server's TLS certificate was not verified (unknown CA, another host's name, expired)."""


class BadURL(TransportError):
    pass


class Headers(dict):
    """Response headers by lower-cased name (the last of repeated ones)."""

    def __init__(self, items) -> None:
        super().__init__((name.lower(), value) for name, value in items)

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(name.lower(), default)

    def __getitem__(self, name: str) -> Any:
        return super().__getitem__(name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and super().__contains__(name.lower())


class Sent:
    """A request on its way back: status and headers have arrived, the body is read with
    ``iter_raw`` (bytes as they arrive, still encoded), and ``close`` ends it."""

    status_code: int
    headers: Headers
    url: str

    def iter_raw(self) -> Iterator[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


# -- plain http to loopback, over a socket --------------------------------------------------------
# HTTP/1.1 as far as lmprep needs it: one request per connection (Connection: close), and an
# answer whose body is sized by Content-Length, chunked, or ends with the connection. Written
# on _socket, the C module that socket.py wraps, rather than http.client (whose import, with
# the email package and ssl, costs more than the rest of lmprep's ready path) or socket.py
# (3 ms of enum conversions at import): a connection, send, receive, shut down are all it takes.

_MAX_HEAD_LINE = 65536
_MAX_HEADERS = 200
#: All of one head, folded lines included (httpx, through httpcore, allows 100 KiB).
_MAX_HEAD_BYTES = 256 * 1024
#: Interim answers (100 Continue, 103 Early Hints) skipped before the final one.
_MAX_INTERIM = 20
#: h11's bound too: 20 digits is a body of 10^20 bytes, and int() of thousands of digits raises.
_MAX_LENGTH_DIGITS = 20
_NO_BODY = ("HEAD",)

# The grammar of RFC 9112 as h11 (what httpx speaks for every other request) applies it, so
# that a server is read the same over both transports; tests/test_transport_differential.py
# holds the two to it. Where ours is stricter on purpose, it says so below.
_TOKEN = rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+"
# Only HTTP/1.x: h11 takes any "d.d", but an HTTP/1.1 request answered as HTTP/2.0 or 0.9 is
# not an HTTP/1 answer whose framing rules we know (stricter on purpose).
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] ([0-9]{3})(?: [^\x00\n\r\x0b\x0c]*)?")
_FIELD_LINE = re.compile(rb"(" + _TOKEN + rb"):[ \t]*([^\x00\n\r\x0b\x0c]*?)[ \t]*")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;[^\n]*)?[ \t]*")
_DIGITS = re.compile(rb"[0-9]+")


def send_plain(method: str, url: str, body: bytes | None, headers: dict[str, str], connect_timeout: float | None,
               read_timeout: float | None, exchange) -> Sent:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise BadURL(f"not a plain http URL: {url!r}")
    host, port = parts.hostname, parts.port or 80
    try:
        sock = _connect(host, port, connect_timeout)
    except TimeoutError as exc:
        raise ConnectTimedOut(str(exc) or "timed out") from None
    except OSError as exc:
        raise ConnectFailed(str(exc) or type(exc).__name__) from None
    exchange.attach(sock)  # shut when the exchange's time budget is spent
    try:
        sock.settimeout(read_timeout)
        sock.sendall(_request_head(method, parts, host, port, body, headers) + (body or b""))
        return _PlainSent(method, sock, url)
    except BaseException as exc:
        sock.close()
        _raise_plain(exc, answered=False)


def _connect(host: str, port: int, timeout: float | None):
    """A connected TCP socket to the first address of ``host`` that answers."""
    import _socket

    # An ASCII name goes as bytes: for str, getaddrinfo imports the idna codec first (1 ms).
    address = host.encode("ascii") if host.isascii() else host
    failure: OSError | None = None
    for family, kind, proto, _, where in _socket.getaddrinfo(address, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(where)
            return sock
        except OSError as exc:
            sock.close()
            failure = exc
    raise failure or OSError(f"no address for {host}")


def _request_head(method: str, parts, host: str, port: int, body: bytes | None, headers: dict[str, str]) -> bytes:
    from urllib.parse import quote

    target = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe="/?&=%:@!$'()*+,;~")
    authority = f"[{host}]" if ":" in host else host
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}:{port}", f"User-Agent: {USER_AGENT}",
             "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _unterminated(line: bytes) -> bytes:
    """``line`` without its line end (\\n, or \\r\\n)."""
    if line.endswith(b"\n"):
        line = line[:-1]
        if line.endswith(b"\r"):
            line = line[:-1]
    return line


def _framing(fields: list[tuple[bytes, bytes]]) -> tuple[bool, int | None]:
    """(chunked, Content-Length or None: to the end of the connection)."""
    lengths: set[bytes] = set()
    encodings = []
    for name, value in fields:
        name = name.lower()
        if name == b"content-length":
            lengths.update(part.strip(b" \t") for part in value.split(b","))
        elif name == b"transfer-encoding":
            encodings.append(value.lower())
    if len(lengths) > 1:
        raise BrokenAnswer("conflicting Content-Length headers")
    length = lengths.pop() if lengths else None
    if length is not None and (not _DIGITS.fullmatch(length) or len(length) > _MAX_LENGTH_DIGITS):
        raise BrokenAnswer(f"a bad Content-Length {length[:40]!r}")
    # Any other coding (gzip, a list ending in chunked, two headers) has framing lmprep
    # cannot follow safely; h11 refuses them too.
    if len(encodings) > 1 or (encodings and encodings[0] != b"chunked"):
        raise BrokenAnswer(f"a Transfer-Encoding lmprep does not read: {b', '.join(encodings)[:80]!r}")
    if encodings:
        return True, None
    return False, None if length is None else int(length)


class _PlainSent(Sent):
    """Reads the status line and headers now (skipping interim 1xx answers); the body as the
    caller asks for it."""

    def __init__(self, method: str, sock, url: str) -> None:
        self._sock = sock
        self._buffer = b""
        self.url = url
        for _ in range(_MAX_INTERIM + 1):
            self.status_code, self.fields = self._head()
            framing = _framing(self.fields)  # of every head: h11 refuses a bad one on a 1xx too
            if self.status_code >= 200:
                break
            if self.status_code == 101:  # lmprep asks for no upgrade: what follows is not HTTP/1
                raise BrokenAnswer("the server switched protocols (HTTP 101) without being asked to")
        else:
            raise BrokenAnswer(f"more than {_MAX_INTERIM} interim (1xx) answers")
        self.headers = Headers((name.decode("latin-1"), value.decode("latin-1")) for name, value in self.fields)
        self._chunked, self._remaining = (False, 0) if method in _NO_BODY or self.status_code in (204, 304) \
            else framing

    def _head(self) -> tuple[int, list[tuple[bytes, bytes]]]:
        """One status line and its header fields (as the server spelt them)."""
        line = self._line()
        if not line:
            raise NoAnswer("the server closed the connection without answering")
        status = _STATUS_LINE.fullmatch(_unterminated(line))
        if status is None:
            raise BrokenAnswer(f"not an HTTP answer: {line[:80]!r}")
        code = int(status.group(1))
        if code < 100:
            raise BrokenAnswer(f"not an HTTP status: {status.group(1)!r}")
        return code, self._fields("header")

    def _fields(self, what: str) -> list[tuple[bytes, bytes]]:
        """Header (or trailer) fields up to the blank line; a line that starts with a space or
        tab continues the one before (obsolete line folding, joined with a space)."""
        lines: list[bytes] = []
        size = 0
        while True:
            line = self._line()
            size += len(line)
            if size > _MAX_HEAD_BYTES:
                raise BrokenAnswer(f"{what}s longer than {_MAX_HEAD_BYTES // 1024} KiB")
            if not line.endswith(b"\n"):
                raise BrokenAnswer(f"connection closed in the middle of the {what}s")
            line = _unterminated(line)
            if not line:
                break
            if line[:1] in (b" ", b"\t"):
                if not lines:
                    raise BrokenAnswer(f"a {what} continuation line before any {what}")
                lines[-1] += b" " + line.lstrip(b" \t")
                continue
            if len(lines) >= _MAX_HEADERS:
                raise BrokenAnswer(f"more than {_MAX_HEADERS} {what} lines")
            lines.append(line)
        fields = []
        for line in lines:
            field = _FIELD_LINE.fullmatch(line)
            if field is None:
                raise BrokenAnswer(f"a bad {what} line {line[:80]!r}")
            fields.append((field.group(1), field.group(2)))
        return fields

    def _line(self) -> bytes:
        """The next line, with its line end; b"" at the end of the connection."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line, self._buffer = self._buffer[:end + 1], self._buffer[end + 1:]
                return line
            if len(self._buffer) > _MAX_HEAD_LINE:
                raise BrokenAnswer(f"a header line longer than {_MAX_HEAD_LINE} bytes")
            chunk = self._sock.recv(_CHUNK)
            if not chunk:
                line, self._buffer = self._buffer, b""
                return line
            self._buffer += chunk

    def _read1(self, size: int) -> bytes:
        """Up to ``size`` bytes: what is buffered, else what the next receive brings."""
        if self._buffer:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return self._sock.recv(size)

    def iter_raw(self) -> Iterator[bytes]:
        """The body as it arrives (chunked encoding undone)."""
        try:
            yield from (self._chunks() if self._chunked else self._sized())
        except TransportError:
            raise
        except BaseException as exc:
            _raise_plain(exc, answered=True)

    def _sized(self) -> Iterator[bytes]:
        remaining = self._remaining
        while remaining is None or remaining > 0:
            chunk = self._read1(_CHUNK if remaining is None else min(_CHUNK, remaining))
            if not chunk:
                if remaining:  # bytes still owed by Content-Length: the server hung up
                    raise BrokenAnswer(f"connection closed with {remaining} bytes of the body missing")
                return
            if remaining is not None:
                remaining -= len(chunk)
            yield chunk

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self._line()
            if not size_line:
                raise BrokenAnswer("connection closed in the middle of a chunked body")
            size_match = _CHUNK_SIZE.fullmatch(size_line[:-2]) if size_line.endswith(b"\r\n") else None
            if size_match is None:
                raise BrokenAnswer(f"a bad chunk size line {size_line[:40]!r}")
            size = int(size_match.group(1), 16)
            if size == 0:
                self._fields("trailer")
                return
            while size > 0:
                chunk = self._read1(min(_CHUNK, size))
                if not chunk:
                    raise BrokenAnswer("connection closed in the middle of a chunk")
                size -= len(chunk)
                yield chunk
            end = self._read1(2)
            if end == b"\r":
                end += self._read1(1)
            if end != b"\r\n":
                raise BrokenAnswer(f"a chunk not followed by its line end ({end!r})")

    def close(self) -> None:
        self._sock.close()


def _raise_plain(exc: BaseException, answered: bool) -> None:
    """Raise the TransportError for what the socket raised (``answered``: the status line had
    arrived); anything else (Ctrl-C included) as it is."""
    if isinstance(exc, TransportError):
        raise exc
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        raise ReadTimedOut(text) from None
    if not answered and isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        raise NoAnswer(text) from None  # accepted, then reset before a single byte of an answer
    if isinstance(exc, OSError):
        raise (BrokenAnswer if answered else ConnectFailed)(text) from None
    raise exc


# -- everything else, through httpx ---------------------------------------------------------------

class HttpxSender:
    """An httpx client (imported now) for https, hosts elsewhere, and proxies from the environment."""

    def __init__(self, *, trust_env: bool, verify=True) -> None:
        import httpx

        # ``verify``: an ssl.SSLContext that trusts a private CA (http.py builds it), else True.
        self._client = httpx.Client(trust_env=trust_env, verify=verify, follow_redirects=False,
                                    limits=httpx.Limits(max_keepalive_connections=0))

    def send(self, method: str, url: str, body: bytes | None, headers: dict[str, str],
             connect_timeout: float | None, read_timeout: float | None, exchange) -> Sent:
        import httpx

        timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=connect_timeout,
                                pool=connect_timeout)
        try:
            request = self._client.build_request(method, url, content=body, headers=headers, timeout=timeout,
                                                 extensions={"trace": exchange.trace})
            return _HttpxSent(self._client.send(request, stream=True))
        except httpx.HTTPError as exc:
            raise _from_httpx(exc, answered=False) from None

    def close(self) -> None:
        self._client.close()


class _HttpxSent(Sent):
    def __init__(self, response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = Headers(response.headers.multi_items())
        self.url = str(response.request.url)

    def iter_raw(self) -> Iterator[bytes]:
        import httpx

        try:
            yield from self._response.iter_raw()
        except httpx.HTTPError as exc:
            raise _from_httpx(exc, answered=True) from None

    def close(self) -> None:
        self._response.close()


def _from_httpx(exc: Exception, answered: bool) -> TransportError:
    """The one place httpx's exceptions become TransportErrors."""
    import httpx

    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectTimeout):
        return ConnectTimedOut(text)
    if isinstance(exc, httpx.TimeoutException):
        return ReadTimedOut(text)
    if isinstance(exc, httpx.ConnectError):
        certificate = _certificate_failure(exc) or "CERTIFICATE_VERIFY_FAILED" in text
        return CertificateFailed(text) if certificate else ConnectFailed(text)
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return BadURL(text)
    if not answered and isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in text.lower():
        return NoAnswer(text)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.DecodingError)) or answered:
        return BrokenAnswer(text)
    return ConnectFailed(text)


def _certificate_failure(exc: BaseException) -> bool:
    """Whether an httpx error was caused by ssl's verification of the server's certificate."""
    import ssl

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False

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
_NO_BODY = ("HEAD",)


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


class _PlainSent(Sent):
    """Reads the status line and headers now; the body as the caller asks for it."""

    def __init__(self, method: str, sock, url: str) -> None:
        self._sock = sock
        self._buffer = b""
        self.url = url
        line = self._line()
        if not line:
            raise NoAnswer("the server closed the connection without answering")
        version, _, rest = line.decode("latin-1").partition(" ")
        code = rest[:3]
        if not version.startswith("HTTP/1.") or not code.isdigit() or rest[3:4] not in ("", " "):
            raise BrokenAnswer(f"not an HTTP answer: {line[:80]!r}")
        self.status_code = int(code)
        fields = []
        while True:
            line = self._line()
            if line in (b"\r\n", b"\n", b""):
                break
            if len(fields) >= _MAX_HEADERS:
                raise BrokenAnswer(f"more than {_MAX_HEADERS} header lines")
            name, colon, value = line.decode("latin-1").partition(":")
            if colon:
                fields.append((name.strip(), value.strip()))
        self.headers = Headers(fields)
        self._chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        length = self.headers.get("content-length")
        self._remaining = int(length) if length is not None and length.strip().isdigit() else None
        if method in _NO_BODY or self.status_code in (204, 304) or 100 <= self.status_code < 200:
            self._chunked, self._remaining = False, 0

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
            size_text = size_line.split(b";", 1)[0].strip()
            if not size_line:
                raise BrokenAnswer("connection closed in the middle of a chunked body")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise BrokenAnswer(f"a bad chunk size {size_text[:40]!r}") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            while size > 0:
                chunk = self._read1(min(_CHUNK, size))
                if not chunk:
                    raise BrokenAnswer("connection closed in the middle of a chunk")
                size -= len(chunk)
                yield chunk
            self._line()  # the line end closing the chunk

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

"""The one HTTP client of lmprep, and the one place transport failures become LmprepErrors.

Requests leave through transports.py: plain http to loopback over a socket (no httpx
import on the ready path), anything else through httpx. Every exchange is bounded here,
whatever the server does:

- in time: one wall-clock budget per exchange (connect, headers and body; renewed for each
  line of a stream), enforced while a read is under way by a watchdog thread that shuts the
  socket when the budget is spent, so a server that trickles a byte a second cannot hold a
  read open; the overall ``--timeout`` caps every budget;
- in bytes: a body over MAX_BODY_BYTES, a streamed line over MAX_LINE_BYTES, or a body that
  decompresses past MAX_BODY_BYTES is a protocol error; lmprep asks for no compression, and
  decodes gzip/deflate itself, in bounded steps, where a server sends it anyway.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .config import DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
from .deadline import Deadline
from .errors import (
    AuthFailedError,
    LmprepError,
    NotConfiguredError,
    ProtocolError,
    UnreachableError,
)
from .hosts import is_loopback_host, is_loopback_name
from .termtext import seconds_text
from .transports import (
    BadURL,
    CertificateFailed,
    ConnectFailed,
    ConnectTimedOut,
    Headers,
    HttpxSender,
    NoAnswer,
    ReadTimedOut,
    Sent,
    TransportError,
    send_plain,
)

#: Plain http to loopback goes over a socket of its own (tests that mock httpx turn this off).
PLAIN_LOOPBACK = True


class _Ordinary:
    """The read timeout of a request that names none: the Http's own (--read-timeout)."""

    def __repr__(self) -> str:
        return "ORDINARY"


ORDINARY = _Ordinary()

#: Pauses before the second, third and fourth try of a request that may be sent again (each
#: shortened to what is left of the deadline): a connection dropped before any answer (a server
#: restarting; LM Studio's own clients also retry a dead handle once), a 503 while a model loads.
RETRY_DELAYS = (0.5, 1.0, 2.0)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
#: The most lmprep reads of one body (after decompression), and of one streamed line. A body is
#: JSON that lmprep parses whole, and a parsed object costs up to 30 times its bytes (64 MiB of
#: `{"data": [{}, {}, ...]}` took 1.7 GB and 20 s): the listings, load answers and error pages
#: lmprep reads are kilobytes (an Ollama /api/show with its license and tensors, a few hundred).
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024
_CHUNK = 65536


class Http:
    """An HTTP client for one server, with lmprep's timeouts, budgets, auth and error translation.

    ``label`` names the server in messages ("LM Studio"); ``unreachable_hint`` and
    ``auth_hint`` are the provider's advice for those two failures.
    """

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        token: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        deadline: Deadline | None = None,
        unreachable_hint: str | None = None,
        auth_hint: str | None = None,
        ca_cert: str | None = None,
        certificate_hint: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.label = label
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline or Deadline(None)
        self.unreachable_hint = unreachable_hint
        self.auth_hint = auth_hint
        self.ca_cert = ca_cert  # a private CA (PEM file or folder) for https; None: SSL_CERT_FILE/DIR, else the default
        self.certificate_hint = certificate_hint
        self.retries = 0  # requests sent again (see request())
        self.first_round_trip_ms: float | None = None  # the first exchange, from connecting to its answer's headers
        parts = urlsplit(base_url)
        self._localhost_fallback = False
        from .redact import check_token

        check_token(token)
        # No compression: lmprep reads small JSON bodies, and a compressed body is a way to
        # make a few bytes on the wire many on the heap.
        self._headers = {"Accept-Encoding": "identity"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        loopback = is_loopback_host(parts.hostname)
        self._plain = PLAIN_LOOPBACK and loopback and parts.scheme == "http"
        if self._plain and (parts.username or parts.password):
            # A user name and password in the URL are Basic auth, as httpx (and curl) send them
            # for every other URL; over the plain socket they would silently go missing.
            self._headers["Authorization"] = _basic_auth(parts.username or "", parts.password or "")
        # A proxy from the environment must never capture loopback traffic (however loopback
        # is spelt: is_loopback_host knows them all), which carries the token.
        self._trust_env = not loopback
        self._httpx: HttpxSender | None = None
        self._open: set[Exchange] = set()

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()

    def abort(self) -> None:
        """End every exchange under way now (from another thread: Ctrl-C, a deadline)."""
        for exchange in list(self._open):
            exchange.expire()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        read_timeout: float | None | _Ordinary = ORDINARY,
        doing: str,
        timeout_error: type[LmprepError] = UnreachableError,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
    ) -> Response:
        """Send one request and read its whole body (within the budgets); 401/403 and
        transport failures raise, other statuses return. ``read_timeout``: seconds the server
        has to answer (None: no limit but the deadline); by default the Http's own.

        ``retry``: send it again (RETRY_DELAYS, within the deadline) when the connection drops
        before any answer; True also when the server answers 503 because it is loading a model
        (for warm-ups, whose repetition is harmless). None: drops only, and only for GET/HEAD,
        which are idempotent. A 4xx, a timeout or a refused connection is never retried."""
        tries = self._tries(method, retry)
        for attempt in range(tries):
            again = attempt < tries - 1
            try:
                with self._exchange(url, method, json_body, headers, read_timeout, doing, timeout_error,
                                    ProtocolError, may_retry=again) as (exchange, response):
                    response = Response(response.status_code, response.headers,
                                        _read_body(response, exchange, self._overflow(ProtocolError, doing)),
                                        response.url, self.deadline, doing)
                if again and retry and is_loading(response):
                    raise _TryAgain
            except _TryAgain:
                self._pause(attempt, doing)
                continue
            self._check_auth(response)
            return response
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        read_timeout: float | None | _Ordinary = ORDINARY,
        doing: str,
        timeout_error: type[LmprepError] = UnreachableError,
        failure_error: type[LmprepError] = ProtocolError,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
    ) -> Iterator[StreamedResponse]:
        """Like request(), but the body is read by the caller, line by line (each line within
        ``read_timeout`` of the last) or whole; errors while reading are translated too, a cut
        or oversized stream into ``failure_error``. Retries (see request()) happen only before
        the caller has seen any of the answer."""
        tries = self._tries(method, retry)
        for attempt in range(tries):
            again = attempt < tries - 1
            try:
                with self._exchange(url, method, json_body, headers, read_timeout, doing, timeout_error,
                                    failure_error, may_retry=again) as (exchange, response):
                    streamed = StreamedResponse(response, exchange, self._overflow(failure_error, doing),
                                                self._budget(exchange.read_timeout, doing, connect=False))
                    if again and retry and response.status_code == 503:
                        streamed.read()
                        if is_loading(streamed):
                            raise _TryAgain
                    if response.status_code in (401, 403):
                        streamed.read()
                    self._check_auth(streamed)
                    yield streamed
                    return
            except _TryAgain:
                self._pause(attempt, doing)

    @contextlib.contextmanager
    def _exchange(self, url, method, json_body, headers, read_timeout, doing, timeout_error, failure_error,
                  may_retry: bool = False) -> Iterator[tuple[Exchange, Sent]]:
        """One request and its answer under one time budget; ``may_retry``: a connection
        dropped before any answer raises _TryAgain instead of an error."""
        ordinary = read_timeout is ORDINARY
        if ordinary:
            read_timeout = self.read_timeout
        connect = self.deadline.cap(self.connect_timeout, doing)
        read = self.deadline.cap(read_timeout, doing)
        exchange = Exchange(self._budget(read_timeout, doing, connect=True), read_timeout, ordinary)
        body = None if json_body is None else json.dumps(json_body).encode()
        sent_headers = {**self._headers, **({"Content-Type": "application/json"} if body is not None else {}),
                        **(headers or {})}
        self._open.add(exchange)
        response: Sent | None = None
        try:
            with self._translated(url, doing, timeout_error, failure_error, exchange, may_retry):
                started = time.perf_counter()
                response = self._with_localhost_fallback(
                    url, lambda target: self._send(method, target, body, sent_headers, connect, read, exchange))
                if self.first_round_trip_ms is None:
                    self.first_round_trip_ms = round((time.perf_counter() - started) * 1000, 1)
                exchange.answered = True
                yield exchange, response
                exchange.check()
        finally:
            if response is not None:
                response.close()
            exchange.close()
            self._open.discard(exchange)

    def _send(self, method, url, body, headers, connect, read, exchange) -> Sent:
        if self._plain:
            return send_plain(method, url, body, headers, connect, read, exchange)
        if self._httpx is None:
            self._httpx = HttpxSender(trust_env=self._trust_env, verify=self._verify())
        return self._httpx.send(method, url, body, headers, connect, read, exchange)

    def _verify(self):
        return verify_for(self.base_url, self.ca_cert)

    def _tries(self, method: str, retry: bool | None) -> int:
        if retry is None:
            retry = method.upper() in _IDEMPOTENT
        return 1 + len(RETRY_DELAYS) if retry else 1

    def _pause(self, attempt: int, doing: str) -> None:
        """Wait before the next try; the deadline shortens the wait, and raises once spent."""
        self.retries += 1
        time.sleep(self.deadline.cap(RETRY_DELAYS[attempt], doing))

    def _with_localhost_fallback(self, url: str, send: Callable[[str], Sent]) -> Sent:
        """Send to ``url``; if `localhost` refuses (say it resolves to ::1 and the server
        listens on 127.0.0.1 only), try 127.0.0.1 and keep using it."""
        if self._localhost_fallback:
            return send(_to_ipv4_loopback(url))
        try:
            return send(url)
        except (ConnectFailed, ConnectTimedOut):
            if not is_loopback_name(urlsplit(url).hostname):
                raise
            response = send(_to_ipv4_loopback(url))
            self._localhost_fallback = True
            return response

    def _budget(self, read_timeout: float | None, doing: str, connect: bool) -> Callable[[], float | None]:
        """The wall-clock seconds one exchange (``connect``: with its connection) or one more
        line of a stream gets: ``read_timeout``, within the overall deadline."""
        def seconds() -> float | None:
            own = None if read_timeout is None else read_timeout + (self.connect_timeout if connect else 0)
            return self.deadline.cap(own, doing)
        return seconds

    def _overflow(self, error: type[LmprepError], doing: str) -> Callable[[str], LmprepError]:
        def make(what: str) -> LmprepError:
            return error(f"{self.label} at {self.base_url} sent {what} while {doing}.",
                         f"Check that {self.base_url} is really {self.label}; lmprep reads at most "
                         f"{MAX_BODY_BYTES // 2**20} MiB of an answer and {MAX_LINE_BYTES // 2**20} MiB of a line.")
        return make

    @contextlib.contextmanager
    def _translated(self, url: str, doing: str, timeout_error: type[LmprepError],
                    failure_error: type[LmprepError], exchange: Exchange, may_retry: bool = False) -> Iterator[None]:
        try:
            yield
        except LmprepError:
            raise
        except (TransportError, OSError) as exc:
            if (may_retry and not exchange.answered and not exchange.expired and not self.deadline.expired
                    and dropped_before_answer(exc)):
                raise _TryAgain from None
            raise self._translate(exc, url, doing, timeout_error, failure_error, exchange) from None

    def _translate(self, exc: Exception, url: str, doing: str, timeout_error: type[LmprepError],
                   failure_error: type[LmprepError], exchange: Exchange) -> LmprepError:
        if self.deadline.expired:
            return self.deadline.error(doing)
        if exchange.expired or isinstance(exc, ReadTimedOut):
            if exchange.ordinary:
                more_time = ("restart it, or give it longer to answer with --read-timeout S "
                             "(`read_timeout` in the config file)")
            else:
                more_time = "restart it, and look at its log (a stalled pull: raise `stall_timeout` in the config file)"
            return timeout_error(
                f"{self.label} at {self.base_url} accepted the connection but did not answer in time while {doing}"
                f"{exchange.describe_budget()}.",
                f"The server may be stuck or overloaded: {more_time}.",
            )
        if isinstance(exc, ConnectTimedOut):
            return self._unreachable(f"connection timed out after {self.connect_timeout:g} s")
        if isinstance(exc, CertificateFailed):
            # The server answers, but not with a certificate lmprep can trust: never "start it".
            return UnreachableError(
                f"{self.label} at {self.base_url} presented a TLS certificate that could not be verified "
                f"({_reason(exc)}).",
                self.certificate_hint or "If a private CA signed it, set SSL_CERT_FILE to that CA's PEM file.",
            )
        if isinstance(exc, BadURL):
            return NotConfiguredError(
                f"Cannot use the URL {_shown(url)}: {exc}.", "Give a base URL like http://localhost:1234/v1."
            )
        if isinstance(exc, NoAnswer):
            return self._unreachable("it accepted the connection and closed it without answering")
        if isinstance(exc, ConnectFailed) and not exchange.answered:
            return self._unreachable(_reason(exc))
        if exchange.answered or isinstance(exc, TransportError):
            return failure_error(
                f"{self.label} at {self.base_url} broke off its answer while {doing} ({_reason(exc)}).",
                f"Check that {self.base_url} is really {self.label}, and look at the server's log.",
            )
        return self._unreachable(_reason(exc))

    def _unreachable(self, reason: str) -> UnreachableError:
        return UnreachableError(f"{self.label} is not responding at {self.base_url} ({reason}).", self.unreachable_hint)

    def _check_auth(self, response) -> None:
        if response.status_code in (401, 403):
            raise AuthFailedError(
                f"{self.label} at {self.base_url} refused the request "
                f"(HTTP {response.status_code}: {error_text(response)}).",
                self.auth_hint,
            )


def verify_for(base_url: str, ca_cert: str | None = None):
    """What the https certificates of ``base_url`` are checked against (httpx's ``verify``):
    ``ca_cert``, else $SSL_CERT_FILE / $SSL_CERT_DIR (read here for loopback too, where httpx
    trusts no environment: a proxy variable must not capture loopback traffic, but a private CA
    still applies), else httpx's default (certifi's bundle). Also the smoke run's relay's."""
    import os

    if urlsplit(base_url).scheme != "https":
        return True
    if ca_cert:
        where = {"capath" if os.path.isdir(ca_cert) else "cafile": ca_cert}
        source = "ca_cert"
    else:
        where, names = {}, []
        for name, key in (("SSL_CERT_FILE", "cafile"), ("SSL_CERT_DIR", "capath")):
            if os.environ.get(name):
                where[key] = os.environ[name]
                names.append(f"${name}")
        if not where:
            return True
        source = " and ".join(names)
    import ssl

    try:
        return ssl.create_default_context(**where)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: not PEM, or no such file
        shown = " ".join(where.values())
        raise NotConfiguredError(f"Cannot read the CA certificates in {shown} (from {source}): {_reason(exc)}.",
                                 "Give the path of a PEM file (or a folder of them) holding the CA that signed "
                                 "the server's certificate.") from None


class _TryAgain(Exception):
    """Inside Http: this try ended before any answer (or with "loading"); send it again."""


def dropped_before_answer(exc: Exception) -> bool:
    """The connection ended before any byte of an answer: nothing was answered, so an
    idempotent request may be sent again."""
    return isinstance(exc, NoAnswer)


def is_loading(response) -> bool:
    """A 503 because the server is still loading a model (llama-server: "Loading model"),
    which passes by itself; other 503s (vLLM asleep, overload) are not waited for."""
    return response.status_code == 503 and "loading" in error_text(response).lower()


class Exchange:
    """The wall-clock budget of one request and its answer. Sockets attached to it are shut
    by the watchdog when the budget is spent, which ends a read that is under way."""

    def __init__(self, budget: Callable[[], float | None], read_timeout: float | None = None,
                 ordinary: bool = False) -> None:
        self.read_timeout = read_timeout  # the budget as the user is told it
        self.ordinary = ordinary  # the read timeout is the Http's own, which --read-timeout sets
        self.answered = False  # the status line and headers arrived
        self.expired = False
        self._sockets: list = []
        self._lock = threading.Lock()
        self._seconds: float | None = None
        self.expires: float | None = None
        self.renew(budget)

    def renew(self, budget: Callable[[], float | None]) -> None:
        """Start a new budget from now (a stream's next line); raises once the deadline is spent."""
        seconds = budget()
        self._seconds = seconds
        self.expires = None if seconds is None else time.monotonic() + seconds
        _WATCHDOG.watch(self)

    def describe_budget(self) -> str:
        if self.read_timeout is None:
            return ""
        return f" (lmprep waits {seconds_text(self.read_timeout)} s for an answer)"

    def attach(self, sock) -> None:
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: the socket of each connection it opens."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                self.attach(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def check(self) -> None:
        """A read that the watchdog ended looks like the end of the body: raise instead."""
        if self.expired:
            raise ReadTimedOut("the exchange's time budget was spent")

    def close(self) -> None:
        _WATCHDOG.unwatch(self)
        with self._lock:
            self._sockets.clear()


def _shut(sock) -> None:
    import _socket

    try:
        # The C socket's own shutdown, also for socket.py's and TLS sockets (subclasses of it):
        # only the descriptor matters here.
        _socket.socket.shutdown(sock, _socket.SHUT_RDWR)
    except (OSError, ValueError, TypeError):
        pass


class _Watchdog:
    """One daemon thread for the process, started on first use, that expires exchanges."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._watched: set[Exchange] = set()
        self._thread: threading.Thread | None = None

    def watch(self, exchange: Exchange) -> None:
        with self._condition:
            if exchange.expires is None:
                self._watched.discard(exchange)
                return
            self._watched.add(exchange)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lmprep-watchdog", daemon=True)
                self._thread.start()
            self._condition.notify()

    def unwatch(self, exchange: Exchange) -> None:
        with self._condition:
            self._watched.discard(exchange)

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                due = [e for e in self._watched if e.expires is not None and e.expires <= now]
                self._watched.difference_update(due)
                if not due:
                    soonest = min((e.expires for e in self._watched if e.expires is not None), default=None)
                    self._condition.wait(None if soonest is None else soonest - now)
                    continue
            for exchange in due:
                exchange.expire()


_WATCHDOG = _Watchdog()


class Response:
    """An answer read whole: its status, headers and body."""

    def __init__(self, status_code: int, headers: Headers, content: bytes, url: str,
                 deadline: Deadline | None = None, doing: str = "") -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content
        self.url = url
        self.deadline = deadline  # parsing takes time too: checked once it is done
        self.doing = doing

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return _parsed(self, json.loads(self.content))


class StreamedResponse:
    """A response whose body the caller reads: whole (``read``), or line by line."""

    def __init__(self, response: Sent, exchange: Exchange, overflow: Callable[[str], LmprepError],
                 line_budget: Callable[[], float | None]) -> None:
        self._response = response
        self._exchange = exchange
        self._overflow = overflow
        self._line_budget = line_budget
        self._content: bytes | None = None
        self.status_code = response.status_code
        self.headers = response.headers
        self.url = response.url

    def read(self) -> bytes:
        if self._content is None:
            self._content = _read_body(self._response, self._exchange, self._overflow)
        return self._content

    @property
    def content(self) -> bytes:
        return self.read()

    @property
    def text(self) -> str:
        return self.read().decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.read())

    def iter_lines(self, renew: bool = True) -> Iterator[str]:
        """The body's lines (ending at \\n, \\r\\n or \\r), each due within the stream's budget
        (``renew``: renewed by each line; else the whole body is due within the first)."""
        pending = b""
        for chunk in _decoded_chunks(self._response, self._exchange, self._overflow, limit=None):
            pending += chunk
            start = 0
            while True:
                end = _line_end(pending, start)
                if end is None:
                    break
                cut, after = end
                yield pending[start:cut].decode("utf-8", "replace")
                if renew:
                    self._exchange.renew(self._line_budget)
                start = after
            pending = pending[start:]
            if len(pending) > MAX_LINE_BYTES:
                raise self._overflow(f"a line longer than {MAX_LINE_BYTES // 2**20} MiB")
        self._exchange.check()
        if pending.endswith(b"\r"):
            pending = pending[:-1]
        if pending:
            yield pending.decode("utf-8", "replace")


def _line_end(data: bytes, start: int) -> tuple[int, int] | None:
    """(end of the line, start of the next) for the first line break at or after ``start``;
    None when there is none yet (a final "\\r" may be half of a "\\r\\n" still to come)."""
    newline = data.find(b"\n", start)
    ret = data.find(b"\r", start, newline if newline >= 0 else len(data))
    if ret >= 0:
        if ret + 1 == len(data):
            return None
        return ret, ret + (2 if data[ret + 1:ret + 2] == b"\n" else 1)
    if newline >= 0:
        return newline, newline + 1
    return None


def _read_body(response: Sent, exchange: Exchange, overflow: Callable[[str], LmprepError]) -> bytes:
    parts = []
    size = 0
    for chunk in _decoded_chunks(response, exchange, overflow, limit=MAX_BODY_BYTES):
        parts.append(chunk)
        size += len(chunk)
    exchange.check()
    return b"".join(parts)


def _decoded_chunks(response: Sent, exchange: Exchange, overflow: Callable[[str], LmprepError],
                    limit: int | None) -> Iterator[bytes]:
    """The body as it arrives, decompressed in bounded steps; ``limit``: the most bytes it may
    come to (raw or decoded)."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        decoder = None
    elif encoding in ("gzip", "x-gzip", "deflate"):
        import zlib

        decoder = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by its header
    else:
        raise overflow(f"a body compressed with {encoding!r}, which lmprep did not ask for")
    size = 0
    for raw in response.iter_raw():  # as it arrives: a chunk size would hold lines back
        if exchange.expired:
            break
        if decoder is None:
            pieces: Iterator[bytes] = iter((raw,))
        else:
            pieces = _inflate(decoder, raw, overflow)
        for piece in pieces:
            size += len(piece)
            if limit is not None and size > limit:
                raise overflow(f"more than {limit // 2**20} MiB")
            yield piece


def _inflate(decoder, data: bytes, overflow: Callable[[str], LmprepError]) -> Iterator[bytes]:
    """Decompress ``data`` a chunk at a time, so a bomb never expands past one chunk at once."""
    import zlib  # imported already by _decoded_chunks, which made the decoder

    try:
        while True:
            piece = decoder.decompress(data, _CHUNK)
            data = decoder.unconsumed_tail
            if piece:
                yield piece
            if not data and len(piece) < _CHUNK:
                break
    except zlib.error as exc:
        raise overflow(f"a compressed body that does not decompress ({exc})") from None


def _basic_auth(user: str, password: str) -> str:
    """The Authorization header of a URL's userinfo (percent-decoded, as httpx does)."""
    import base64
    from urllib.parse import unquote

    from .redact import register_secret

    user, password = unquote(user), unquote(password)
    register_secret(password)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def _to_ipv4_loopback(url: str) -> str:
    parts = urlsplit(url)
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _shown(url: str) -> str:
    from .redact import redact_url

    return redact_url(url)


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    from .termtext import one_line

    return one_line(text.split("\n")[0], 200)


def _parsed(response, value: Any) -> Any:
    """``value``, parsed from ``response``, unless the deadline passed while it was parsed."""
    deadline = getattr(response, "deadline", None)
    if deadline is not None:
        deadline.cap(None, getattr(response, "doing", "") or "reading an answer")
    return value


def parse_json(response, label: str, doing: str) -> Any:
    try:
        return _parsed(response, json.loads(response.content))
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python recurses
        raise ProtocolError(
            f"{label} at {_shown(str(response.url))} answered with something that is not JSON while {doing} "
            f"(HTTP {response.status_code}, {_snippet(response)}).",
            f"Check that this URL points at {label}, not at another server or a proxy.",
        ) from None


def error_text(response) -> str:
    """The server's own error message, from a JSON error body or the start of the text."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return _snippet(response)
    return json_error_message(body) or _snippet(response)


def json_error_message(body: Any) -> str | None:
    """The message of an ``{"error": "..."}`` or ``{"error": {"message": "..."}}`` body,
    as one clean line (it ends up in lmprep's own messages: no newlines, escapes, floods)."""
    # `"error": null` says there is none: OpenAI's non-streamed Responses answers carry it, and
    # so do LiteLLM's (1.106.12) for every server behind it.
    if not isinstance(body, dict) or body.get("error") is None:
        return None
    from .termtext import one_line

    from .redact import redact

    error = body["error"]
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or error
    return one_line(redact(str(error)))  # redacted before it is cut: a cut token is no longer whole


def _snippet(response) -> str:
    from .redact import redact

    # Redacted before it is cut: a token cut in two is no longer found whole.
    text = redact(response.content[:4096].decode("utf-8", "replace")[:1000]).strip()
    text = " ".join(text.split())
    return repr(text[:160]) if text else "an empty body"

"""A loopback relay in front of one server, for one smoke run: the agent is pointed at it, it
forwards every request to the real server and notes what the server was asked and answered.

Why a relay, and not the server's own account: only a few servers log their requests
(llama-server with --verbose, Ollama with OLLAMA_DEBUG), each in its own words, none for a
remote server, and none says which request of several failed. A relay sees exactly what the
agent sent (method, route, the model in the JSON body) and the status the server gave it, for
every kind of server, local or remote, and changes nothing on the way: headers and bodies pass
as they are (the token too, never noted), and a streamed answer goes on as it arrives.

What it costs: the agent talks plain http to 127.0.0.1, so for an https server its trust of
the server's certificate is not what is tried (lmprep's is: the relay checks it as lmprep does).

Bounds: a request body is read whole (its model is in it) up to MAX_REQUEST_BYTES, refused
above (413); an answer is never kept, only the first ERROR_BYTES of one that is not 2xx (the
server's reason); at most MAX_RECORDS exchanges are noted (the rest are counted).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from .termtext import one_line

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # the agents' first requests are 2-60 kB
ERROR_BYTES = 8192
MAX_RECORDS = 200
#: Headers that belong to one connection, not to the request (RFC 9110, 7.6.1), and Host,
#: which is the relay's: none is passed on.
_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
                  "trailer", "transfer-encoding", "upgrade", "host", "content-length",
                  "expect"})  # the relay has read the whole body already: nothing to wait for upstream


@dataclass(frozen=True)
class Exchange:
    """One request the server received through the relay, and its answer."""

    method: str
    path: str  # without the query
    model: str | None  # the JSON body's "model", where it has one
    status: int | None  # None: the server gave no answer (refused, dropped, timed out)
    error: str | None  # the server's reason for a status that is not 2xx, or the relay's for no answer
    seconds: float  # until the answer's headers

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    def to_dict(self) -> dict:
        return {"method": self.method, "path": self.path, "model": self.model, "status": self.status,
                "error": self.error, "seconds": round(self.seconds, 3)}


class Relay:
    """``with Relay(upstream_base_url, ...) as relay``: ``relay.base_url`` is the same API base on
    127.0.0.1 (the path kept: ``/v1``), and ``relay.exchanges`` what went through it."""

    def __init__(self, upstream: str, *, verify=True, connect_timeout: float = 10.0,
                 read_timeout: float | None = None) -> None:
        parts = urlsplit(upstream)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path.rstrip("/")
        self._verify = verify  # http.verify_for: a private CA's context, or True
        self._timeouts = (connect_timeout, read_timeout)
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self.dropped = 0  # exchanges past MAX_RECORDS, counted only
        self._active = 0  # requests being forwarded now
        self._server: ThreadingHTTPServer | None = None
        self._client = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the relay is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}{self._path}"

    def __enter__(self) -> Relay:
        import httpx

        connect, read = self._timeouts
        # trust_env off: a proxy variable must not capture the traffic (the agent's token is in it);
        # no keep-alive upstream and no redirects followed: what the server said is what the agent gets.
        self._client = httpx.Client(trust_env=False, verify=self._verify, follow_redirects=False,
                                    timeout=httpx.Timeout(connect=connect, read=read, write=connect, pool=connect),
                                    limits=httpx.Limits(max_keepalive_connections=0))
        self._server = _Server(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                         name="lmprep-relay").start()
        return self

    def __exit__(self, *exc_info) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._client is not None:
            self._client.close()

    def settle(self, timeout: float = 2.0) -> None:
        """Wait (up to ``timeout``) for the requests under way to be noted: an agent that has
        exited may have left its last answer's end in flight."""
        end = time.monotonic() + timeout
        while self._active and time.monotonic() < end:
            time.sleep(0.02)

    def note(self, exchange: Exchange) -> None:
        with self._lock:
            if len(self.exchanges) < MAX_RECORDS:
                self.exchanges.append(exchange)
            else:
                self.dropped += 1

    def _send(self, method: str, target: str, headers, body: bytes):
        """The request sent on, its answer's headers read. `localhost` that refuses (it resolves
        to ::1 and the server listens on 127.0.0.1 only) is tried again as 127.0.0.1, and kept,
        as lmprep's own client does (http.Http)."""
        import httpx

        content = body if body or method not in ("GET", "HEAD") else None
        try:
            request = self._client.build_request(method, self._origin + target, headers=headers, content=content)
            return self._client.send(request, stream=True)
        except httpx.ConnectError:
            parts = urlsplit(self._origin)
            if parts.scheme != "http" or parts.hostname != "localhost":
                raise
            self._origin = "http://127.0.0.1" + (f":{parts.port}" if parts.port else "")
            request = self._client.build_request(method, self._origin + target, headers=headers, content=content)
            return self._client.send(request, stream=True)

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self._active += 1
        try:
            self._forward(handler)
        finally:
            with self._lock:
                self._active -= 1

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        import httpx

        method = handler.command
        target = handler.path if handler.path.startswith("/") else "/" + handler.path
        path = target.split("?", 1)[0]
        try:
            body = _read_body(handler)
        except _TooLarge:
            self.note(Exchange(method, path, None, 413, "the request was larger than the relay takes "
                               f"({MAX_REQUEST_BYTES // (1024 * 1024)} MiB)", 0.0))
            _answer(handler, 413, b"request too large for lmprep's relay\n")
            return
        model = _model_of(body)
        headers = [(name, value) for name, value in handler.headers.items() if name.lower() not in _HOP]
        started = time.monotonic()
        try:
            response = self._send(method, target, headers, body)
        except httpx.HTTPError as exc:
            reason = one_line(f"{type(exc).__name__}: {exc}", 300)
            self.note(Exchange(method, path, model, None, reason, time.monotonic() - started))
            _answer(handler, 502, f"lmprep's relay got no answer from the server: {reason}\n".encode())
            return
        seconds = time.monotonic() - started
        error_head = bytearray()
        try:
            handler.send_response_only(response.status_code, response.reason_phrase or None)
            for name, value in response.headers.multi_items():
                if name.lower() not in _HOP:
                    handler.send_header(name, value)
            no_body = method == "HEAD" or response.status_code in (204, 304) or response.status_code < 200
            length = response.headers.get("content-length")
            chunked = not no_body and length is None and handler.request_version == "HTTP/1.1"
            if length is not None:  # a HEAD's too: the size the GET would have
                handler.send_header("Content-Length", length)
            elif no_body:
                pass
            elif chunked:
                handler.send_header("Transfer-Encoding", "chunked")
            else:
                handler.close_connection = True  # an HTTP/1.0 client: the end of the body is the end of it
            handler.end_headers()
            if not no_body:
                for chunk in response.iter_raw():  # as it arrives: a stream stays a stream
                    if not 200 <= response.status_code < 300 and len(error_head) < ERROR_BYTES:
                        error_head += chunk[: ERROR_BYTES - len(error_head)]
                    if chunk:
                        handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                        handler.wfile.flush()
                if chunked:
                    handler.wfile.write(b"0\r\n\r\n")
                    handler.wfile.flush()
        except (httpx.HTTPError, OSError):  # the server cut its answer, or the agent hung up
            handler.close_connection = True
        finally:
            response.close()
            error = None if 200 <= response.status_code < 300 else _reason(bytes(error_head), response)
            self.note(Exchange(method, path, model, response.status_code, error, seconds))


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a connection the agent left open ends with us

    def handle_error(self, request, client_address) -> None:
        pass  # an agent that hangs up (a reset at exit) is no error of the run; and core code never prints


def _handler(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive for the agents' clients, which expect it
        timeout = 600  # an idle connection the agent keeps open ends at the latest then

        def _any(self) -> None:
            relay.forward(self)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def log_message(self, format, *args) -> None:  # noqa: A002 - the base class's name
            pass  # core code never prints: what matters is in relay.exchanges

    return Handler


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    encoding = (handler.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in encoding:
        parts, size = [], 0
        while True:
            line = handler.rfile.readline(1024)
            length = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if length == 0:
                while handler.rfile.readline(65536) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            size += length
            if size > MAX_REQUEST_BYTES:
                handler.close_connection = True
                raise _TooLarge
            parts.append(handler.rfile.read(length))
            handler.rfile.readline(16)
    length = int(handler.headers.get("Content-Length") or 0)
    if length > MAX_REQUEST_BYTES:
        handler.close_connection = True
        raise _TooLarge
    return handler.rfile.read(length) if length > 0 else b""


def _model_of(body: bytes) -> str | None:
    if not body.lstrip().startswith(b"{"):
        return None
    try:
        model = json.loads(body).get("model")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return None
    return one_line(model, 200) if isinstance(model, str) else None


def _reason(head: bytes, response) -> str:
    """The server's own reason for a status that is not 2xx: its JSON error message where it
    gives one, else the start of its text, else the status's phrase; cleaned and bounded."""
    from .http import json_error_message

    if response.headers.get("content-encoding", "").lower() in ("gzip", "deflate"):
        import zlib

        try:  # the start of a compressed body (the agent asked for it): inflated to a bounded size
            head = zlib.decompressobj(wbits=47).decompress(head, ERROR_BYTES)
        except zlib.error:
            head = b""
    text = head.decode("utf-8", "replace")
    try:
        message = json_error_message(json.loads(text))
    except (ValueError, RecursionError):
        message = None
    return one_line(message or text or response.reason_phrase or f"HTTP {response.status_code}", 300)


def _answer(handler: BaseHTTPRequestHandler, status: int, text: bytes) -> None:
    try:
        handler.send_response_only(status)
        handler.send_header("Content-Type", "text/plain; charset=utf-8")
        handler.send_header("Content-Length", str(len(text)))
        handler.end_headers()
        handler.wfile.write(text)
    except OSError:
        handler.close_connection = True

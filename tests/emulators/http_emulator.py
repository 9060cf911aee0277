"""Shared machinery of the provider emulators.

:class:`HTTPEmulator` runs a real HTTP/1.1 server on ``127.0.0.1`` (free port) in a daemon thread,
records every request, checks an optional bearer token, simulates slow or failing model loads,
can "hang" (accept and never answer), and shuts down without leaking sockets or threads, so the
test suite can run with ``-W error``. Subclasses only declare routes and build reply bodies.
"""

from __future__ import annotations

import json
import socket
import socketserver
import sys
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = [
    "ADMIN_PREFIX",
    "DEFAULT_MAX_CONTEXT",
    "HTTPEmulator",
    "RecordedRequest",
    "Reply",
    "json_reply",
    "ndjson_reply",
    "openai_chat_completion",
    "openai_response",
    "rfc3339",
    "rfc3339_in",
    "text_reply",
]

#: Control routes used by the fake ``lms`` and by tests; never recorded, never hung, never authenticated.
ADMIN_PREFIX = "/__emulator/"
#: Maximum context length reported for models without an entry in ``max_context``.
DEFAULT_MAX_CONTEXT = 131072

_POLL_SECONDS = 0.02  # how quickly the serving loop and hung requests notice stop()
_JOIN_SECONDS = 5.0

EmulatorT = TypeVar("EmulatorT", bound="HTTPEmulator")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it."""

    method: str
    path: str  #: without the query string
    query: str
    headers: dict[str, str]  #: names lower-cased
    raw_body: bytes
    json: Any  #: the parsed body; ``None`` when empty or not JSON
    time: float  #: ``time.monotonic()`` on arrival

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def body_object(self) -> dict[str, Any]:
        """The JSON body if it is an object, else ``{}`` (routes then report the missing fields)."""
        return self.json if isinstance(self.json, dict) else {}


@dataclass
class Reply:
    """What a route answers. With ``chunks`` the reply is streamed with chunked encoding,
    each chunk written and flushed as the iterator yields it."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    chunks: Iterable[bytes] | None = None


#: A route: the request → the reply, or None to drop the connection unanswered.
Route = Callable[[RecordedRequest], "Reply | None"]


def json_reply(payload: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(payload).encode())


def text_reply(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Reply:
    return Reply(status, text.encode(), content_type)


def ndjson_reply(objects: Iterable[Mapping[str, Any]]) -> Reply:
    lines = (json.dumps(obj).encode() + b"\n" for obj in objects)
    return Reply(200, content_type="application/x-ndjson", chunks=lines)


def rfc3339(moment: datetime | None = None) -> str:
    return (moment or datetime.now(timezone.utc)).isoformat()


def rfc3339_in(delta: timedelta) -> str:
    return rfc3339(datetime.now(timezone.utc) + delta)


def openai_chat_completion(model: str) -> dict[str, Any]:
    """The smallest answer an OpenAI client accepts from ``POST /v1/chat/completions``."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "OK"}, "logprobs": None, "finish_reason": "length"}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def openai_response(model: str) -> dict[str, Any]:
    """The smallest answer an OpenAI client accepts from ``POST /v1/responses``."""
    return {
        "id": f"resp_{uuid.uuid4().hex[:12]}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "output": [
            {
                "id": f"msg_{uuid.uuid4().hex[:12]}",
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "OK", "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2},
    }


class HTTPEmulator:
    """Base of the emulators: lifecycle, request log, auth, load simulation.

    Config attributes shared by all emulators (mutate them freely, also while running;
    hold ``lock`` when changing several at once):

    * ``loaded``: model → loaded context length;
    * ``load_seconds``: how long loading a model takes;
    * ``fail_load``: model → error message the load fails with;
    * ``max_context``: model → maximum context length (default :data:`DEFAULT_MAX_CONTEXT`);
    * ``token``: when set, every non-public route needs ``Authorization: Bearer <token>``;
    * ``hang``: accept requests and never answer them (until ``hang`` is cleared or the emulator stops);
    * ``drop``: ``(METHOD, path)`` → how many of the next such requests get their connection closed
      before any answer (a server restarting, a dead keep-alive handle);
    * ``busy``: ``(METHOD, path)`` → how many of the next such requests are answered 503 "Loading
      model", llama-server's words while it loads (``busy_reply`` to change them).

    State: ``requests`` (every :class:`RecordedRequest`, admin routes excluded), ``load_count``
    (loads completed) and ``errors`` (exceptions raised inside route code, i.e. emulator bugs;
    the fixtures fail the test on them).
    """

    #: ``Server`` header of replies.
    server_header = "emulator"
    #: Paths answered without a token even when ``token`` is set.
    public_paths: frozenset[str] = frozenset()
    #: Set (to a server-side ssl.SSLContext) before start() to serve https instead.
    tls: Any = None
    #: The loopback address it listens on (another 127/8 address: a "host" that localhost is not;
    #: ``::1`` for IPv6).
    bind_host = "127.0.0.1"
    #: The port it listens on; 0: a free one. A fixed port is what an emulator run as a server's
    #: program gets (as_program.py, fake_programs.py); start() raises OSError when it is taken.
    bind_port = 0

    def __init__(
        self,
        *,
        loaded: Mapping[str, int] | None = None,
        load_seconds: float = 0.0,
        fail_load: Mapping[str, str] | None = None,
        max_context: Mapping[str, int] | None = None,
        token: str | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.loaded: dict[str, int] = dict(loaded or {})
        self.load_seconds = load_seconds
        self.fail_load: dict[str, str] = dict(fail_load or {})
        self.max_context: dict[str, int] = dict(max_context or {})
        self.token = token
        self.hang = False
        self.drop: Counter[tuple[str, str]] = Counter()
        self.busy: Counter[tuple[str, str]] = Counter()
        self.busy_reply = json_reply(
            {"error": {"message": "Loading model", "type": "unavailable_error", "code": 503}}, 503)
        self.requests: list[RecordedRequest] = []
        self.load_count = 0
        self.errors: list[str] = []
        self._request_arrived = threading.Condition(self.lock)
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._serving_thread: threading.Thread | None = None
        self._origin: str | None = None
        self._routes = self.routes()
        self._admin_routes = self.admin_routes()

    # ------------------------------------------------------------------ to override

    def routes(self) -> dict[tuple[str, str], Route]:
        """``(METHOD, path)`` → route. ``HEAD`` falls back to the ``GET`` route."""
        return {}

    def admin_routes(self) -> dict[tuple[str, str], Route]:
        """Routes under :data:`ADMIN_PREFIX`."""
        return {}

    def unknown_route_reply(self, request: RecordedRequest) -> Reply:
        return text_reply("404 page not found", 404)

    def unauthorized_reply(self, request: RecordedRequest) -> Reply:
        return json_reply({"error": "unauthorized"}, 401)

    def find_key(self, mapping: Mapping[str, Any], model: str) -> str | None:
        """The key of ``mapping`` that names ``model`` under this provider's name rules."""
        return model if model in mapping else None

    # ------------------------------------------------------------------ lifecycle

    def start(self: EmulatorT) -> EmulatorT:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        scheme = "https" if self.tls is not None else "http"
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        self._origin = f"{scheme}://{host}:{self._server.server_address[1]}"
        self._serving_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL_SECONDS},
            name=f"{type(self).__name__} {self._origin}",
            daemon=True,
        )
        self._serving_thread.start()
        return self

    def stop(self) -> None:
        """Stops serving, releases hung and sleeping requests, closes every socket, joins every thread."""
        server, serving_thread = self._server, self._serving_thread
        if server is None or serving_thread is None:
            return
        self._stopping.set()
        server.shutdown()
        serving_thread.join(_JOIN_SECONDS)
        server.close_connections()
        server.server_close()
        self._server = self._serving_thread = None

    def __enter__(self: EmulatorT) -> EmulatorT:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT`` (valid once started; stays the same after stop)."""
        if self._origin is None:
            raise RuntimeError(f"{type(self).__name__} has not been started")
        return self._origin

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def port(self) -> int:
        return int(self.origin.rsplit(":", 1)[1])

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def pause(self, seconds: float) -> bool:
        """Sleeps like a slow server; returns False (early) when the emulator is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)

    # ------------------------------------------------------------------ request log

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.method == method.upper() and r.path == path]

    def wait_for_request(
        self, method: str, path: str, timeout: float = 5.0, *, since: float | None = None
    ) -> RecordedRequest:
        """Blocks until a ``method path`` request has arrived (at or after monotonic time ``since``)
        and returns the first such one; raises ``TimeoutError`` naming what did arrive."""
        deadline = time.monotonic() + timeout
        with self._request_arrived:
            while True:
                for request in self.requests:
                    if request.method == method.upper() and request.path == path and (
                        since is None or request.time >= since
                    ):
                        return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{r.method} {r.path}" for r in self.requests]
                    raise TimeoutError(f"no {method.upper()} {path} within {timeout} s; received: {seen}")
                self._request_arrived.wait(remaining)

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()

    # ------------------------------------------------------------------ load simulation

    def max_context_for(self, model: str) -> int:
        with self.lock:
            key = self.find_key(self.max_context, model)
            return self.max_context[key] if key is not None else DEFAULT_MAX_CONTEXT

    def loaded_context(self, model: str) -> int | None:
        with self.lock:
            key = self.find_key(self.loaded, model)
            return self.loaded[key] if key is not None else None

    def simulate_load(self, model: str, context_length: int) -> str | None:
        """(Re)loads ``model`` the way a server does: slowly (``load_seconds``) or failing
        (``fail_load``). Returns the error message, or None once ``model`` is in ``loaded``."""
        with self.lock:
            failure_key = self.find_key(self.fail_load, model)
            if failure_key is not None:
                return self.fail_load[failure_key]
            seconds = self.load_seconds
        if not self.pause(seconds):
            return "the server is shutting down"
        with self.lock:
            self.loaded[self.find_key(self.loaded, model) or model] = context_length
            self.load_count += 1
        return None

    def unload(self, model: str) -> bool:
        with self.lock:
            key = self.find_key(self.loaded, model)
            if key is None:
                return False
            del self.loaded[key]
            return True

    # ------------------------------------------------------------------ dispatch (server threads)

    def _dispatch(self, request: RecordedRequest) -> Reply | None:
        """The reply to send, or None to drop the connection without answering."""
        key = (request.method, request.path)
        if request.path.startswith(ADMIN_PREFIX):
            admin_route = self._admin_routes.get(key)
            if admin_route is None:
                return json_reply({"error": f"no admin route {request.method} {request.path}"}, 404)
            return admin_route(request)
        with self._request_arrived:
            self.requests.append(request)
            self._request_arrived.notify_all()
        while self.hang:
            if not self.pause(_POLL_SECONDS):
                return None
        with self.lock:
            if self.drop[key] > 0:
                self.drop[key] -= 1
                return None
            if self.busy[key] > 0:
                self.busy[key] -= 1
                return self.busy_reply
        if self.token is not None and request.path not in self.public_paths:
            if request.header("authorization") != f"Bearer {self.token}":
                return self.unauthorized_reply(request)
        route = self._routes.get(key)
        if route is None and request.method == "HEAD":
            route = self._routes.get(("GET", request.path))
        if route is None:
            return self.unknown_route_reply(request)
        return route(request)

    def _record_error(self, description: str) -> None:
        with self.lock:
            self.errors.append(description)


class _Server(ThreadingHTTPServer):
    """A threading server that knows its open connections, so stop() can close them and join
    their threads (ThreadingHTTPServer's daemon threads would otherwise outlive the test)."""

    daemon_threads = True

    def __init__(self, emulator: HTTPEmulator) -> None:
        self.emulator = emulator
        self._connections: dict[threading.Thread, socket.socket] = {}
        self._connections_lock = threading.Lock()
        if ":" in emulator.bind_host:
            self.address_family = socket.AF_INET6
        super().__init__((emulator.bind_host, emulator.bind_port), _Handler)
        if emulator.tls is not None:
            # The handshake happens on accept; a client that refuses the certificate only ends its own connection.
            self.socket = emulator.tls.wrap_socket(self.socket, server_side=True)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        # Registered here, in the serving thread, so stop() cannot miss a connection just accepted.
        thread = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="emulator connection", daemon=True
        )
        with self._connections_lock:
            self._connections[thread] = request
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.pop(threading.current_thread(), None)

    def close_connections(self) -> None:
        """Wakes handlers blocked on idle keep-alive connections, then waits for them to finish."""
        with self._connections_lock:
            connections = list(self._connections.items())
        for _, connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed by its handler
        for thread, _ in connections:
            thread.join(_JOIN_SECONDS)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if self.emulator.stopping or isinstance(error, (ConnectionError, TimeoutError)):
            return  # the client went away or we are closing: nothing to report
        self.emulator._record_error(traceback.format_exc())
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive like the real servers, so connection reuse by clients is exercised.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, keep-alive clients would wait
    # ~40 ms for a delayed ACK on every request.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests inspect `.requests`; per-request lines on stderr are noise

    def version_string(self) -> str:
        return self.server.emulator.server_header

    def _handle(self) -> None:
        emulator = self.server.emulator
        request = self._read_request()
        try:
            reply = emulator._dispatch(request)
        except Exception:
            emulator._record_error(traceback.format_exc())
            reply = json_reply({"error": f"emulator bug: {traceback.format_exc(limit=1)}"}, 500)
        if reply is None:
            self.close_connection = True
            return
        self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def _read_request(self) -> RecordedRequest:
        path, _, query = self.path.partition("?")
        raw_body = self._read_body()
        try:
            parsed = json.loads(raw_body) if raw_body else None
        except ValueError:
            parsed = None
        return RecordedRequest(
            method=self.command,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in self.headers.items()},
            raw_body=raw_body,
            json=parsed,
            time=time.monotonic(),
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return b"".join(self._read_chunks())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunks(self) -> Iterator[bytes]:
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline()  # the CRLF closing the chunk

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        if reply.chunks is None:
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(reply.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.chunks:
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
        if self.server.emulator.stopping:
            self.close_connection = True  # cut short: no terminating chunk, like a dying server
            return
        self.wfile.write(b"0\r\n\r\n")

"""Hostile HTTP servers on 127.0.0.1: real sockets that answer as an attacker (or a broken
proxy) would: trickling, endless, bombing, cutting off, never answering.

``HostileServer(routes, default)`` serves each request by its path: ``routes`` maps a path
(``"/api/pull"``) or ``"METHOD /path"`` to a behaviour, ``default`` serves the rest. A
behaviour is a function ``(connection, stop) -> None`` that writes what it likes to the socket
(``(connection, stop, body)`` where it has ``sees_request = True``: the request's body too);
``stop`` is set when the server shuts down, and every endless behaviour returns then (or when
the client goes away). The ``behaviours`` below are the catalogue used by the tests.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable

Behaviour = Callable[[socket.socket, threading.Event], None]


class HostileServer:
    def __init__(self, routes: dict[str, Behaviour] | None = None, default: Behaviour | None = None) -> None:
        self.routes = routes or {}
        self.default = default or not_found
        self.requests: list[str] = []  # "METHOD /path" of each request received
        self.heads: list[bytes] = []  # the request line and headers of each, as received
        self.connections = 0
        self._stop = threading.Event()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    def __enter__(self) -> HostileServer:
        self._accepting.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._accepting.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _receive(self, connection: socket.socket, data: bytes, enough: Callable[[bytes], bool]) -> bytes | None:
        """``data`` and what arrives after it until ``enough(data)``; None when the client went away."""
        try:
            while not enough(data) and not self._stop.is_set():
                try:
                    more = connection.recv(65536)
                except (TimeoutError, socket.timeout):
                    continue
                if not more:
                    return None
                data += more
        except OSError:
            return None
        return data

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(0.5)
            head = self._receive(connection, b"", lambda data: b"\r\n\r\n" in data or len(data) >= 65536)
            if head is None:
                return
            head, _, body = head.partition(b"\r\n\r\n")
            self.heads.append(head)
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length:
                body = self._receive(connection, body, lambda data: len(data) >= int(length.group(1)))
                if body is None:
                    return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, _, rest = request_line.partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            self.requests.append(f"{method} {path}")
            behaviour = self.routes.get(f"{method} {path}") or self.routes.get(path) or self.default
            connection.settimeout(None)
            try:
                if getattr(behaviour, "sees_request", False):
                    behaviour(connection, self._stop, body)
                else:
                    behaviour(connection, self._stop)
            except OSError:
                pass  # the client went away: that is what clients of hostile servers do


# -- the catalogue ---------------------------------------------------------------------------

def answer(body: bytes | dict | list, status: str = "200 OK", headers: str = "") -> Behaviour:
    """An ordinary answer (for the routes around the hostile one)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                           f"{headers}Connection: close\r\n\r\n".encode() + data)
    return behave


not_found = answer({"error": "not found"}, "404 Not Found")


def _pause(stop: threading.Event, seconds: float) -> bool:
    """Sleep; False when the server is stopping."""
    return not stop.wait(seconds)


def trickle(data: bytes, interval: float = 1.0) -> Behaviour:
    """``data`` one byte per ``interval``, then silence until the client or server gives up."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        for byte in data:
            connection.sendall(bytes([byte]))
            if not _pause(stop, interval):
                return
        while _pause(stop, 0.2):
            pass
    return behave


def trickle_headers(interval: float = 1.0) -> Behaviour:
    """A status line and headers that never end, a byte a second."""
    return trickle(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"a" * 100000, interval)


def trickle_body(interval: float = 1.0) -> Behaviour:
    """Headers at once, then a body of a promised 100 kB, a byte a second."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
        trickle(b'{"data": [' + b" " * 99990, interval)(connection, stop)
    return behave


def trickle_lines(line: bytes, interval: float = 1.0) -> Behaviour:
    """A chunked NDJSON stream whose every line arrives a byte per ``interval`` (with a newline)."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:
            for byte in line + b"\n":
                connection.sendall(b"1\r\n" + bytes([byte]) + b"\r\n")
                if not _pause(stop, interval):
                    return
    return behave


def endless_body(chunked: bool = False, content_type: str = "application/json", piece: bytes = b'{"data": [',
                 filler: bytes = b"1," * 32768) -> Behaviour:
    """A body that never ends, as fast as the client reads it."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        framing = "Transfer-Encoding: chunked" if chunked else "Connection: close"
        connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n".encode())
        first = True
        while not stop.is_set():
            data = piece + filler if first else filler
            first = False
            connection.sendall(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
    return behave


def endless_line() -> Behaviour:
    """A chunked NDJSON stream: one line that never ends (no newline, ever)."""
    return endless_body(chunked=True, content_type="application/x-ndjson", piece=b'{"status": "',
                        filler=b"x" * 65536)


_bomb_cache: dict[int, bytes] = {}


def gzip_bomb(expanded_mib: int = 1024) -> Behaviour:
    """A small gzip body (a few hundred kB per GiB) that expands to ``expanded_mib`` MiB of zeros."""
    if expanded_mib not in _bomb_cache:
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        block = bytes(1 << 20)
        parts = [compressor.compress(block) for _ in range(expanded_mib)]
        _bomb_cache[expanded_mib] = b"".join(parts) + compressor.flush()
    data = _bomb_cache[expanded_mib]

    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                           b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(data) + data)
    return behave


def accept_and_close(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, close without a byte (docker-proxy while a container starts)."""


def accept_and_reset(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, and reset the connection."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")


def never_answer(connection: socket.socket, stop: threading.Event) -> None:
    """Accept, read the request, and say nothing until the server stops."""
    while _pause(stop, 0.2):
        pass


def reset_mid_stream(first: bytes) -> Behaviour:
    """A chunked stream that sends ``first`` (lines), then resets the connection."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + b"%x\r\n%s\r\n" % (len(first), first))
        time.sleep(0.2)
        accept_and_reset(connection, stop)
    return behave


OLLAMA_TAGS = answer({"models": []})
OLLAMA_ROOT = answer(b"Ollama is running", headers="")


def ollama_routes(**overrides: Behaviour) -> dict[str, Behaviour]:
    """An Ollama with no models whose other routes answer normally; ``overrides`` by path
    (``api_pull=...`` for ``/api/pull``)."""
    routes: dict[str, Behaviour] = {"/": OLLAMA_ROOT, "/api/tags": OLLAMA_TAGS,
                                    "/api/version": answer({"version": "0.13.5"})}
    routes.update({"/" + name.replace("_", "/"): behaviour for name, behaviour in overrides.items()})
    return routes


# -- issue 17: objects that grow, streams that talk without progress, heads int() refuses ------

def raw(data: bytes) -> Behaviour:
    """Exactly ``data`` (a status line and headers of the test's choosing), then the end."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        connection.sendall(data)
    return behave


def many_objects(mib: int = 64) -> Behaviour:
    """``{"data": [{}, {}, ...]}`` of ``mib`` MiB: few bytes per object, so parsing it costs
    tens of times its size on the heap."""
    data = b'{"data": [' + b"{}," * (mib * 2**20 // 3) + b'{}]}'
    return answer(data)


def _stream_head(connection: socket.socket, content_type: str) -> None:
    connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
                       .encode())


def _send_chunk(connection: socket.socket, data: bytes) -> None:
    connection.sendall(b"%x\r\n%s\r\n" % (len(data), data))


def endless_lines(line: bytes, interval: float = 0.0, first: bytes = b"") -> Behaviour:
    """A chunked stream: ``first``, then ``line`` again and again (each ``interval`` apart)."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        _stream_head(connection, "text/event-stream")
        if first:
            _send_chunk(connection, first)
        batch = line * max(1, 65536 // len(line)) if interval == 0 else line
        while not stop.is_set():
            _send_chunk(connection, batch)
            if interval and not _pause(stop, interval):
                return
    return behave


def agent_route(stream: Behaviour) -> Behaviour:
    """A Responses/Chat route: refuses the route check's empty body (400, as servers refuse a
    request without a model), answers a plain warm-up, and serves ``stream`` to streamed requests."""
    def behave(connection: socket.socket, stop: threading.Event, body: bytes) -> None:
        if b'"stream": true' in body:
            stream(connection, stop)
        elif body.strip() == b"{}":
            answer({"error": {"message": "model is required"}}, "400 Bad Request")(connection, stop)
        else:
            answer({"id": "r", "object": "response", "status": "completed", "output": []})(connection, stop)
    behave.sees_request = True
    return behave


def pull_lines(lines: list[bytes], repeat: bytes | None = None, interval: float = 0.05) -> Behaviour:
    """An NDJSON (or SSE) pull stream: ``lines``, then ``repeat`` every ``interval`` for ever."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        _stream_head(connection, "application/x-ndjson")
        for line in lines:
            _send_chunk(connection, line)
        while repeat is not None and _pause(stop, interval):
            _send_chunk(connection, repeat)
        while _pause(stop, 0.2):
            pass
    return behave


def big_ids(line: bytes, id_bytes: int = 2**20 - 4096, count: int = 100000) -> Behaviour:
    """A pull stream naming layer after layer, each id ``id_bytes`` long (``line`` has an
    ``{id}`` slot for it)."""
    def behave(connection: socket.socket, stop: threading.Event) -> None:
        _stream_head(connection, "application/x-ndjson")
        for number in range(count):
            if stop.is_set():
                return
            _send_chunk(connection, line.replace(b"{id}", b"%07d" % number + b"a" * id_bytes) + b"\n")
    return behave

"""A stdlib HTTP proxy that imitates llama-server's "Loading model" phase.

A real llama-server answers **every** route with 503 while it loads its model, but
with the tiny test model that phase lasts only ~5-10 ms after the port opens: a
tight poll usually catches it, a test of lmprep's waiting logic cannot rely on it.
:class:`LoadingProxy` listens on 127.0.0.1 and answers every request with
llama-server's exact 503 reply until

* ``loading_seconds`` have elapsed **and** the upstream ``/health`` answers 200, or
* :meth:`LoadingProxy.finish_loading` is called,

and from then on forwards requests (method, path, headers, body) to the upstream
server, streaming the response back (so SSE works). Every request is recorded in
``requests`` (method, path with query, headers, body): with ``loading_seconds=0`` it is a
recording proxy, which the real-agent tests put in front of the real server.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LOADING_BODY", "LOADING_HEADERS", "LoadingProxy", "ProxiedRequest"]

# Byte-for-byte what llama-server (b11434) answers on every route while loading
# (note the key order: message, type, code).  test_loading_phase.py compares it
# with the real server's own reply whenever it manages to catch one.
LOADING_BODY = b'{"error":{"message":"Loading model","type":"unavailable_error","code":503}}'
# llama-server also sends "Access-Control-Allow-Origin: <request Origin or empty>".
LOADING_HEADERS: tuple[tuple[str, str], ...] = (
    ("Server", "llama.cpp"),
    ("Content-Type", "application/json; charset=utf-8"),
)

_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class ProxiedRequest:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


class LoadingProxy:
    """Answer 503 "Loading model" for a while, then forward to ``upstream_origin``.

    ``upstream_origin`` is like ``"http://127.0.0.1:8080"``.  Use as a context
    manager or call :meth:`start` / :meth:`stop`.  Counters ``loading_responses``
    and ``forwarded_responses`` tell a test what its client actually saw.
    """

    def __init__(
        self,
        upstream_origin: str,
        *,
        loading_seconds: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        upstream_timeout: float = 600.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream_origin)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"upstream_origin must be http://host:port, got {upstream_origin!r}")
        self.upstream_origin = f"http://{parsed.hostname}:{parsed.port}"
        self._upstream_addr = (parsed.hostname, parsed.port)
        self.loading_seconds = loading_seconds
        self.upstream_timeout = upstream_timeout
        self.upstream: Any = None  # free slot for the caller (e.g. the LlamaServer)
        self.loading_responses = 0
        self.forwarded_responses = 0
        self.loading_ended_at: float | None = None  # time.monotonic()
        self.started_at: float | None = None  # time.monotonic() at start()
        self.requests: list[ProxiedRequest] = []
        self._host = host
        self._requested_port = port
        self._lock = threading.Lock()
        self._forced = threading.Event()
        self._deadline = 0.0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- addresses ---------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("proxy not started")
        return int(self._httpd.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    # -- loading state -----------------------------------------------------------

    def finish_loading(self) -> None:
        """End the loading phase now, whatever the clock or the upstream says."""
        self._forced.set()
        self._mark_loaded()

    def is_loading(self) -> bool:
        if self.loading_ended_at is not None:
            return False
        if self._forced.is_set():
            self._mark_loaded()
            return False
        if time.monotonic() < self._deadline:
            return True
        if self._upstream_healthy():
            self._mark_loaded()
            return False
        return True

    def _mark_loaded(self) -> None:
        with self._lock:
            if self.loading_ended_at is None:
                self.loading_ended_at = time.monotonic()

    def _upstream_healthy(self) -> bool:
        conn = http.client.HTTPConnection(*self._upstream_addr, timeout=2.0)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            resp.read()
            return resp.status == 200
        except OSError:
            return False
        finally:
            conn.close()

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> LoadingProxy:
        if self._httpd is not None:
            raise RuntimeError("proxy already started")
        httpd = _ProxyHTTPServer((self._host, self._requested_port), _Handler)
        httpd.proxy = self
        self._httpd = httpd
        self.started_at = time.monotonic()
        self._deadline = self.started_at + self.loading_seconds
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> LoadingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self, attr: str) -> None:
        with self._lock:
            setattr(self, attr, getattr(self, attr) + 1)


class _ProxyHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: LoadingProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # client went away mid-response etc.; nothing useful to report


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyHTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection; body ends at close

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        with proxy._lock:
            proxy.requests.append(ProxiedRequest(self.command, self.path,
                                                 {k.lower(): v for k, v in self.headers.items()}, body))
        if proxy.is_loading():
            proxy._count("loading_responses")
            cors = (("Access-Control-Allow-Origin", self.headers.get("Origin", "")),)
            self._reply(503, (*LOADING_HEADERS[:1], *cors, *LOADING_HEADERS[1:]), LOADING_BODY)
            return
        self._forward(proxy, body)

    def _reply(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)  # no Date/Server of our own, like llama-server
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, proxy: LoadingProxy, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "host"}
        headers["Host"] = "{}:{}".format(*proxy._upstream_addr)
        if body or self.command in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = str(len(body))
        conn = http.client.HTTPConnection(*proxy._upstream_addr, timeout=proxy.upstream_timeout)
        try:
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
            except OSError as exc:
                error = {"message": f"loading proxy: upstream unreachable: {exc!r}", "type": "proxy_error", "code": 502}
                self._reply(502, LOADING_HEADERS[1:], json.dumps({"error": error}).encode())
                return
            proxy._count("forwarded_responses")
            self.send_response_only(resp.status, resp.reason)
            for name, value in resp.getheaders():
                if name.lower() not in _HOP_BY_HOP:
                    self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command == "HEAD":
                return
            while True:
                chunk = resp.read1(65536)
                if not chunk:
                    break
                self.wfile.write(chunk)
                self.wfile.flush()
        finally:
            conn.close()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

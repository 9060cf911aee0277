"""A machine with no internet, as seen by an agent that honours HTTP(S)_PROXY: a proxy on
127.0.0.1 that refuses every request (CONNECT tunnels and plain absolute-URL requests alike)
and records the host each one asked for. NO_PROXY covers loopback, so the agent's model
server is reached directly and never shows up here.
"""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit


class RefusingProxy:
    """``hosts``: every host asked for, in order (``host:port`` for CONNECT)."""

    def __init__(self) -> None:
        self.hosts: list[str] = []
        self._lock = threading.Lock()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(64)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._closed = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def environ(self) -> dict[str, str]:
        """The proxy variables in both spellings (agents read one or the other)."""
        return {name: self.url for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy",
                                            "ALL_PROXY", "all_proxy")}

    def __enter__(self) -> RefusingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._socket.close()

    def _serve(self) -> None:
        while not self._closed:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._refuse, args=(connection,), daemon=True).start()

    def _refuse(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            head = b""
            try:
                while b"\r\n" not in head and len(head) < 8192:
                    chunk = connection.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except OSError:
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            if len(parts) >= 2:
                method, target = parts[0], parts[1]
                host = target if method == "CONNECT" else (urlsplit(target).netloc or target)
                with self._lock:
                    self.hosts.append(host)
            try:
                connection.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass

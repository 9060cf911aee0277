"""An httpx transport for plain http to loopback, over the standard library's http.client.

Every lmprep run talks to a server on this machine, usually with one or two requests.
httpx's default transport brings httpcore and h11 (~10 ms to import, the largest cost of the
ready path); http.client is already loaded with httpx. The client API, timeouts and error
translation stay httpx's: this module only moves bytes, and raises httpx's exceptions.
Proxies and TLS never apply to loopback http, so neither is handled here.
"""

import http.client
from collections.abc import Iterator

import httpx

_CHUNK = 65536


class LoopbackTransport(httpx.BaseTransport):
    """One connection per request: lmprep sends a handful, and a fresh connection to
    loopback costs microseconds."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        connection = http.client.HTTPConnection(
            request.url.host, request.url.port or 80, timeout=timeouts.get("connect")
        )
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        exchange = request.extensions.get("lmprep.exchange")
        if exchange is not None:
            exchange.attach(connection.sock)  # shut when the exchange's time budget is spent
        try:
            connection.sock.settimeout(timeouts.get("read"))
            connection.request(
                request.method,
                request.url.raw_path.decode("ascii"),
                body=request.read(),
                headers=dict(request.headers.multi_items()),
            )
            response = connection.getresponse()
        except BaseException as exc:
            connection.close()
            if isinstance(exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)):
                # Accepted, then closed or reset before a single byte of an answer: nothing was
                # answered, so http.py may send an idempotent request again.
                from .http import NoAnswer

                raise NoAnswer(str(exc) or type(exc).__name__, request=request) from exc
            _raise_translated(exc, request)
        return httpx.Response(
            status_code=response.status,
            headers=response.getheaders(),
            stream=_ResponseStream(response, connection, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
        )


class _ResponseStream(httpx.SyncByteStream):
    """The body as it arrives (chunked encoding undone by http.client), so a long NDJSON
    stream is read line by line without holding it."""

    def __init__(self, response: http.client.HTTPResponse, connection: http.client.HTTPConnection,
                 request: httpx.Request) -> None:
        self._response = response
        self._connection = connection
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self._response.read1(_CHUNK):
                yield chunk
        except BaseException as exc:
            _raise_translated(exc, self._request)
        if self._response.length:  # bytes still owed by Content-Length: the server hung up
            raise httpx.RemoteProtocolError(
                f"connection closed with {self._response.length} bytes of the body missing", request=self._request
            )

    def close(self) -> None:
        self._response.close()
        self._connection.close()


def _raise_translated(exc: BaseException, request: httpx.Request) -> None:
    """Raise the httpx exception for what http.client or the socket raised while the
    request was under way; anything else (Ctrl-C included) as it is."""
    if isinstance(exc, TimeoutError):
        raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
    if isinstance(exc, (http.client.HTTPException, ConnectionError)):
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    if isinstance(exc, OSError):
        raise httpx.ReadError(str(exc), request=request) from exc
    raise exc

"""The one httpx client factory, and the one place httpx errors become LmprepErrors."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .deadline import Deadline
from .errors import (
    AuthFailedError,
    LmprepError,
    NotConfiguredError,
    ProtocolError,
    UnreachableError,
)
from .hosts import is_loopback_host

DEFAULT_READ_TIMEOUT = 10.0
#: Pauses before the second, third and fourth try of a request that may be sent again (each
#: shortened to what is left of the deadline): a connection dropped before any answer (a server
#: restarting; LM Studio's own clients also retry a dead handle once), a 503 while a model loads.
RETRY_DELAYS = (0.5, 1.0, 2.0)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


class Http:
    """An HTTP client for one server, with lmprep's timeouts, auth and error translation.

    ``label`` names the server in messages ("LM Studio"); ``unreachable_hint`` and
    ``auth_hint`` are the provider's advice for those two failures.
    """

    def __init__(
        self,
        base_url: str,
        *,
        label: str,
        token: str | None = None,
        connect_timeout: float = 5.0,
        deadline: Deadline | None = None,
        unreachable_hint: str | None = None,
        auth_hint: str | None = None,
    ) -> None:
        self.base_url = base_url
        self.label = label
        self.connect_timeout = connect_timeout
        self.deadline = deadline or Deadline(None)
        self.unreachable_hint = unreachable_hint
        self.auth_hint = auth_hint
        self.retries = 0  # requests sent again (see request())
        parts = urlsplit(base_url)
        self._localhost_fallback = False
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        loopback = is_loopback_host(parts.hostname)
        self._client = httpx.Client(
            headers=headers,
            # A proxy from the environment must never capture loopback traffic.
            trust_env=not loopback,
            follow_redirects=False,
            transport=loopback_transport() if loopback and parts.scheme == "http" else None,
        )

    def close(self) -> None:
        self._client.close()

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
        read_timeout: float | None = DEFAULT_READ_TIMEOUT,
        doing: str,
        timeout_error: type[LmprepError] = UnreachableError,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        """Send one request; 401/403 and transport failures raise, other statuses return.

        ``retry``: send it again (RETRY_DELAYS, within the deadline) when the connection drops
        before any answer; True also when the server answers 503 because it is loading a model
        (for warm-ups, whose repetition is harmless). None: drops only, and only for GET/HEAD,
        which are idempotent. A 4xx, a timeout or a refused connection is never retried."""
        tries = self._tries(method, retry)
        for attempt in range(tries):
            last = attempt == tries - 1
            timeout = self._timeout(read_timeout, doing)
            with self._translated(url, doing, timeout_error):
                try:
                    response = self._with_localhost_fallback(
                        url, lambda target: self._client.request(method, target, json=json_body, timeout=timeout,
                                                                 headers=headers)
                    )
                except httpx.TransportError as exc:
                    if last or not dropped_before_answer(exc):
                        raise
                    self._pause(attempt, doing)
                    continue
            if not last and retry and is_loading(response):
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
        read_timeout: float | None,
        doing: str,
        timeout_error: type[LmprepError] = UnreachableError,
        headers: dict[str, str] | None = None,
        retry: bool | None = None,
    ) -> Iterator[httpx.Response]:
        """Like request(), but the body is read by the caller; errors while reading
        (a stalled or cut stream) are translated too. Retries (see request()) happen only
        before the caller has seen any of the answer."""
        with self._translated(url, doing, timeout_error), contextlib.ExitStack() as stack:
            tries = self._tries(method, retry)
            for attempt in range(tries):
                last = attempt == tries - 1
                timeout = self._timeout(read_timeout, doing)
                with contextlib.ExitStack() as attempt_stack:
                    try:
                        response = self._with_localhost_fallback(
                            url,
                            lambda target: attempt_stack.enter_context(
                                self._client.stream(method, target, json=json_body, timeout=timeout,
                                                    headers=headers)
                            ),
                        )
                    except httpx.TransportError as exc:
                        if last or not dropped_before_answer(exc):
                            raise
                        self._pause(attempt, doing)
                        continue
                    if not last and retry and response.status_code == 503:
                        response.read()
                        if is_loading(response):
                            attempt_stack.close()
                            self._pause(attempt, doing)
                            continue
                    stack.enter_context(attempt_stack.pop_all())
                break
            if response.status_code in (401, 403):
                response.read()
            self._check_auth(response)
            yield response

    def _tries(self, method: str, retry: bool | None) -> int:
        if retry is None:
            retry = method.upper() in _IDEMPOTENT
        return 1 + len(RETRY_DELAYS) if retry else 1

    def _pause(self, attempt: int, doing: str) -> None:
        """Wait before the next try; the deadline shortens the wait, and raises once spent."""
        self.retries += 1
        time.sleep(self.deadline.cap(RETRY_DELAYS[attempt], doing))

    def _with_localhost_fallback(self, url: str, send: Callable[[str], httpx.Response]) -> httpx.Response:
        """Send to ``url``; if `localhost` refuses (say it resolves to ::1 and the server
        listens on 127.0.0.1 only), try 127.0.0.1 and keep using it."""
        if self._localhost_fallback:
            return send(_to_ipv4_loopback(url))
        try:
            return send(url)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            if urlsplit(url).hostname != "localhost":
                raise
            response = send(_to_ipv4_loopback(url))
            self._localhost_fallback = True
            return response

    def _timeout(self, read_timeout: float | None, doing: str) -> httpx.Timeout:
        connect = self.deadline.cap(self.connect_timeout, doing)
        read = self.deadline.cap(read_timeout, doing)
        return httpx.Timeout(connect=connect, read=read, write=connect, pool=connect)

    @contextlib.contextmanager
    def _translated(self, url: str, doing: str, timeout_error: type[LmprepError]) -> Iterator[None]:
        try:
            yield
        except httpx.TimeoutException as exc:
            if self.deadline.expired:
                raise self.deadline.error(doing) from None
            if isinstance(exc, httpx.ConnectTimeout):
                raise self._unreachable(f"connection timed out after {self.connect_timeout:g} s") from None
            raise timeout_error(
                f"{self.label} at {self.base_url} accepted the connection but did not answer in time while {doing}.",
                "The server may be stuck or overloaded: restart it, or raise the time limit.",
            ) from None
        except httpx.ConnectError as exc:
            raise self._unreachable(_reason(exc)) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise NotConfiguredError(
                f"Cannot use the URL {url}: {exc}.", "Give a base URL like http://localhost:1234/v1."
            ) from None
        except httpx.RemoteProtocolError as exc:
            raise ProtocolError(
                f"{self.label} at {self.base_url} broke off its answer while {doing} ({_reason(exc)}).",
                f"Check that {self.base_url} is really {self.label}, and look at the server's log.",
            ) from None
        except httpx.HTTPError as exc:
            raise self._unreachable(_reason(exc)) from None

    def _unreachable(self, reason: str) -> UnreachableError:
        return UnreachableError(f"{self.label} is not responding at {self.base_url} ({reason}).", self.unreachable_hint)

    def _check_auth(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise AuthFailedError(
                f"{self.label} at {self.base_url} refused the request "
                f"(HTTP {response.status_code}: {error_text(response)}).",
                self.auth_hint,
            )


def dropped_before_answer(exc: Exception) -> bool:
    """The connection ended before any byte of an answer: nothing was answered, so an
    idempotent request may be sent again. (lmprep's loopback transport says NoAnswer; httpx's
    own says "Server disconnected without sending a response".)"""
    from .loopback import NoAnswer

    return isinstance(exc, NoAnswer) or (
        isinstance(exc, httpx.RemoteProtocolError) and "without sending a response" in str(exc).lower())


def is_loading(response: httpx.Response) -> bool:
    """A 503 because the server is still loading a model (llama-server: "Loading model"),
    which passes by itself; other 503s (vLLM asleep, overload) are not waited for."""
    return response.status_code == 503 and "loading" in error_text(response).lower()


def loopback_transport() -> httpx.BaseTransport:
    """The transport for plain http to loopback (see loopback.py)."""
    from .loopback import LoopbackTransport

    return LoopbackTransport()


def _to_ipv4_loopback(url: str) -> str:
    parts = urlsplit(url)
    netloc = "127.0.0.1" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if "refused" in text.lower():
        return "connection refused"
    return text.split("\n")[0][:200]


def parse_json(response: httpx.Response, label: str, doing: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python recurses
        raise ProtocolError(
            f"{label} at {response.request.url} answered with something that is not JSON while {doing} "
            f"(HTTP {response.status_code}, {_snippet(response)}).",
            f"Check that this URL points at {label}, not at another server or a proxy.",
        ) from None


def error_text(response: httpx.Response) -> str:
    """The server's own error message, from a JSON error body or the start of the text."""
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):
        return _snippet(response)
    return json_error_message(body) or _snippet(response)


def json_error_message(body: Any) -> str | None:
    """The message of an ``{"error": "..."}`` or ``{"error": {"message": "..."}}`` body,
    as one clean line (it ends up in lmprep's own messages: no newlines, escapes, floods)."""
    if not isinstance(body, dict) or "error" not in body:
        return None
    from .termtext import one_line

    error = body["error"]
    if isinstance(error, dict):
        error = error.get("message") or error.get("code") or error
    return one_line(str(error))


def _snippet(response: httpx.Response) -> str:
    text = response.content[:300].decode("utf-8", "replace").strip()
    text = " ".join(text.split())
    return repr(text[:160]) if text else "an empty body"

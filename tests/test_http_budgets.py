"""The http layer's budgets against hostile servers on 127.0.0.1: every exchange ends within its
time budget and the overall deadline, reads a bounded number of bytes, and fails with the
exit code its phase says."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from hostile import (
    HostileServer,
    accept_and_close,
    accept_and_reset,
    answer,
    endless_body,
    endless_line,
    gzip_bomb,
    many_objects,
    never_answer,
    reset_mid_stream,
    trickle_body,
    trickle_headers,
    trickle_lines,
)
from lmprep.deadline import Deadline
from lmprep.errors import (
    DownloadFailedError,
    NotConfiguredError,
    ProtocolError,
    TimedOutError,
    UnreachableError,
)
from lmprep.http import MAX_BODY_BYTES, Http


def get(server: HostileServer, *, read_timeout: float | None = 10.0, timeout: float | None = None,
        base: str | None = None, connect_timeout: float = 5.0):
    with Http(base or server.base_url, label="Server", deadline=Deadline(timeout),
              connect_timeout=connect_timeout) as http:
        return http.request("GET", f"{base or server.base_url}/models", read_timeout=read_timeout, doing="listing")


@pytest.mark.parametrize("behaviour", [trickle_headers(0.2), trickle_body(0.2)], ids=["headers", "body"])
def test_a_trickling_answer_ends_at_the_overall_deadline(behaviour):
    with HostileServer(default=behaviour) as server:
        started = time.monotonic()
        with pytest.raises(TimedOutError, match=r"Gave up after 1 s \(--timeout\) while listing"):
            get(server, timeout=1)
        assert time.monotonic() - started < 5


@pytest.mark.parametrize("behaviour", [trickle_headers(0.2), trickle_body(0.2)], ids=["headers", "body"])
def test_a_trickling_answer_ends_at_the_exchange_budget_without_a_deadline(behaviour):
    """Each byte arrives well within the socket timeout: only the wall-clock budget ends it."""
    with HostileServer(default=behaviour) as server:
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=r"did not answer in time while listing \(lmprep waits 1 s"):
            get(server, read_timeout=1, connect_timeout=0.5)
        assert time.monotonic() - started < 5  # 1 s of budget plus the connect allowance


def test_a_server_that_never_answers_is_a_timeout_not_a_hang():
    with HostileServer(default=never_answer) as server:
        with pytest.raises(TimedOutError):
            get(server, timeout=0.5)


@pytest.mark.parametrize("chunked", [False, True])
def test_an_endless_body_is_a_protocol_error_after_the_byte_budget(chunked):
    with HostileServer(default=endless_body(chunked=chunked)) as server:
        with pytest.raises(ProtocolError, match=f"more than {MAX_BODY_BYTES // 2**20} MiB"):
            get(server, read_timeout=60)


def test_a_gzip_bomb_is_refused_before_it_expands():
    import tracemalloc

    with HostileServer(default=gzip_bomb(256)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(ProtocolError, match=f"more than {MAX_BODY_BYTES // 2**20} MiB"):
                get(server, read_timeout=60)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 3 * MAX_BODY_BYTES  # the body budget and its joined copy, never the GiB


def test_a_body_of_tiny_objects_is_refused_at_the_json_budget():
    """Issue 17: 63 MiB of `{"data": [{}, {}, ...]}` was read whole and parsed into 1.7 GB (the
    RSS of the run is held by test_invariants.py)."""
    with HostileServer(default=many_objects(63)) as server:
        with pytest.raises(ProtocolError, match=f"more than {MAX_BODY_BYTES // 2**20} MiB"):
            get(server, read_timeout=60)
    assert MAX_BODY_BYTES <= 8 * 2**20


def test_the_deadline_is_checked_once_a_body_is_parsed(monkeypatch):
    """A parse that outlasts the deadline ends the step, not the one after it."""
    import lmprep.http as http_module

    with HostileServer(default=answer({"data": []})) as server:
        with Http(server.base_url, label="Server", deadline=Deadline(0.5)) as http:
            response = http.request("GET", f"{server.base_url}/models", doing="listing")
            time.sleep(0.6)  # as a long parse would take
            with pytest.raises(TimedOutError, match="while listing"):
                response.json()
            with pytest.raises(TimedOutError, match="while listing"):
                http_module.parse_json(response, "Server", "listing")


def test_lmprep_asks_for_no_compression(lmstudio_emulator):
    with Http(lmstudio_emulator.base_url, label="S") as http:
        response = http.request("GET", f"{lmstudio_emulator.base_url}/models", doing="listing")
    assert response.json()["data"] == []
    assert lmstudio_emulator.requests[-1].header("accept-encoding") == "identity"


def test_a_gzip_answer_sent_anyway_is_still_read():
    import gzip

    body = gzip.compress(b'{"data": [{"id": "m"}]}')

    def gzipped(connection, stop):
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body)
                           + body)

    with HostileServer(default=gzipped) as server:
        assert get(server).json() == {"data": [{"id": "m"}]}


def test_an_unasked_for_compression_is_a_protocol_error():
    with HostileServer(default=answer(b"xx", headers="Content-Encoding: br\r\n")) as server:
        with pytest.raises(ProtocolError, match="compressed with 'br'"):
            get(server)


@pytest.mark.parametrize("behaviour", [accept_and_close, accept_and_reset], ids=["close", "reset"])
def test_accepting_and_closing_without_an_answer_is_unreachable(behaviour):
    with HostileServer(default=behaviour) as server:
        with pytest.raises(UnreachableError, match="closed it without answering") as caught:
            get(server)
    assert caught.value.exit_code == 4


def stream_lines(server: HostileServer, *, read_timeout=10.0, timeout=None, failure_error=ProtocolError):
    with Http(server.origin, label="Ollama", deadline=Deadline(timeout)) as http, \
            http.stream("POST", f"{server.origin}/api/pull", json_body={}, read_timeout=read_timeout,
                        doing="pulling", timeout_error=DownloadFailedError, failure_error=failure_error) as response:
        return list(response.iter_lines())


def test_a_line_without_a_newline_is_refused_at_the_line_budget():
    with HostileServer(default=endless_line()) as server:
        with pytest.raises(DownloadFailedError, match="a line longer than 1 MiB"):
            stream_lines(server, failure_error=DownloadFailedError)


def test_each_line_of_a_stream_has_its_own_budget():
    """Lines that trickle in, each slower than the budget, end the stream; lines that arrive in
    time renew it."""
    with HostileServer(default=trickle_lines(b'{"status": "pulling"}', 0.05)) as server:
        with pytest.raises(DownloadFailedError, match="did not answer in time while pulling"):
            stream_lines(server, read_timeout=0.5)


def test_a_stream_obeys_the_overall_deadline():
    with HostileServer(default=trickle_lines(b'{"status": "x"}', 0.01)) as server:
        started = time.monotonic()
        with pytest.raises(TimedOutError):
            stream_lines(server, timeout=1)
        assert time.monotonic() - started < 5


def test_a_reset_in_the_middle_of_a_stream_is_the_phases_failure():
    with HostileServer(default=reset_mid_stream(b'{"status": "pulling manifest"}\n')) as server:
        with pytest.raises(DownloadFailedError, match="broke off its answer") as caught:
            stream_lines(server, failure_error=DownloadFailedError)
    assert caught.value.exit_code == 7


def test_lines_end_at_lf_crlf_and_cr_even_across_chunks():
    pieces = [b"a\r", b"\nb\n", b"c\rd", b"\r\n", b"e"]

    def chunked(connection, stop):
        connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in pieces:
            connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            time.sleep(0.02)
        connection.sendall(b"0\r\n\r\n")

    with HostileServer(default=chunked) as server:
        assert stream_lines(server) == ["a", "b", "c", "d", "e"]


def test_abort_ends_an_exchange_from_another_thread():
    import threading

    with HostileServer(default=never_answer) as server, Http(server.base_url, label="S") as http:
        threading.Timer(0.3, http.abort).start()
        started = time.monotonic()
        with pytest.raises(UnreachableError, match="did not answer in time"):
            http.request("GET", f"{server.base_url}/models", read_timeout=60, doing="listing")
        assert time.monotonic() - started < 5


def test_a_token_that_cannot_be_a_header_is_refused_without_showing_it():
    with pytest.raises(NotConfiguredError) as caught:
        Http("http://127.0.0.1:1/v1", label="S", token="s3cret-value\r")
    assert "s3cret" not in str(caught.value)
    assert caught.value.exit_code == 3


def test_the_watchdog_shuts_only_expired_exchanges():
    """Two exchanges at once: the one with the short budget ends, the other completes."""
    import threading

    results = {}
    with HostileServer(routes={"/v1/slow": never_answer}, default=answer({"data": []})) as server:
        def slow():
            try:
                with Http(server.base_url, label="S") as http:
                    http.request("GET", f"{server.base_url}/slow", read_timeout=0.5, doing="waiting")
            except UnreachableError as exc:
                results["slow"] = exc

        thread = threading.Thread(target=slow)
        thread.start()
        with Http(server.base_url, label="S") as http:
            for _ in range(5):
                assert http.request("GET", f"{server.base_url}/models", doing="listing").json() == {"data": []}
                time.sleep(0.15)
        thread.join(timeout=10)
    assert "did not answer in time" in results["slow"].message


def test_a_socket_attached_after_expiry_is_shut_at_once():
    from lmprep.http import Exchange

    exchange = Exchange(lambda: 10.0)
    exchange.expire()
    left, right = socket.socketpair()
    with left, right:
        exchange.attach(left)
        assert left.recv(1) == b""  # shut: reads end at once
    exchange.close()


def test_an_agent_check_answered_with_keep_alive_comments_ends_at_its_budget():
    """Issue 17: each comment renewed the stream's budget, so a server that kept talking
    without answering held the check (and the detached child) for as long as it went on."""
    from hostile import agent_route, endless_lines
    from lmprep.agents import agent_needs
    from lmprep.config import Flags, resolve_settings
    from lmprep.errors import WarmupFailedError
    from lmprep.protocols import check_request
    from lmprep.providers import open_provider

    comments = endless_lines(b": keep-alive\n", 0.05)

    def for_eight_seconds(connection, stop):
        timer = threading.Timer(8, stop.set)
        timer.start()
        try:
            comments(connection, stop)
        finally:
            timer.cancel()
    with HostileServer({"/v1/responses": agent_route(for_eight_seconds)}) as server:
        settings = resolve_settings(Flags(provider="openai", base_url=server.base_url), {"HOME": "/nonexistent"})
        with open_provider(settings.providers["openai"], connect_timeout=1.0) as provider:
            started = time.monotonic()
            with pytest.raises(WarmupFailedError, match="did not answer in time"):
                check_request(provider, agent_needs("codex", "openai"), "m", read_timeout=1.0)
            assert time.monotonic() - started < 5  # 1 s and 1 s to connect, not the 8 s it talked

"""The two transports behind lmprep's Http: plain http to loopback over a socket, and httpx
for the rest; real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from lmprep.http import Http
from lmprep.transports import BrokenAnswer, ConnectFailed, NoAnswer, ReadTimedOut, send_plain


class Unwatched:
    """What the transports need of an Exchange, when no budget watches them."""

    def attach(self, sock):
        pass

    def trace(self, event, info):
        pass


def plain(method, url, body=None, headers=None, read_timeout=5.0):
    return send_plain(method, url, body, headers or {}, 5.0, read_timeout, Unwatched())


def test_get_and_post_with_headers_and_json(lmstudio_emulator):
    lmstudio_emulator.downloaded = ["m"]
    lmstudio_emulator.token = "tok"
    listing = plain("GET", f"{lmstudio_emulator.base_url}/models", headers={"Authorization": "Bearer tok"})
    assert listing.status_code == 200 and b'"m"' in b"".join(listing.iter_raw())
    listing.close()
    answer = plain("POST", f"{lmstudio_emulator.base_url}/responses", b'{"model": "m", "input": ""}',
                   {"Authorization": "Bearer tok", "Content-Type": "application/json"})
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    answer.close()
    [request] = lmstudio_emulator.requests_to("POST", "/v1/responses")
    assert request.json == {"model": "m", "input": ""}
    assert request.header("authorization") == "Bearer tok"


def test_chunked_ndjson_stream_arrives_as_it_is_sent(ollama_emulator):
    ollama_emulator.pull_catalog = {"llama3": {"layers": [1000], "chunks": 50}}
    response = plain("POST", f"{ollama_emulator.origin}/api/pull", b'{"model": "llama3"}')
    body = b"".join(response.iter_raw())
    response.close()
    assert response.headers.get("content-type").startswith("application/x-ndjson")
    assert body.count(b"\n") > 50 and body.rstrip().endswith(b'{"status": "success"}')


def test_refused_connection(unused_port):
    with pytest.raises(ConnectFailed):
        plain("GET", f"http://127.0.0.1:{unused_port}/v1/models")


def test_server_that_never_answers_is_a_read_timeout(lmstudio_emulator):
    lmstudio_emulator.hang = True
    with pytest.raises(ReadTimedOut):
        plain("GET", f"{lmstudio_emulator.base_url}/models", read_timeout=0.3)


def one_shot_server(reply: bytes | None):
    """A listener that reads one request and answers ``reply`` (None: closes without a word)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve():
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            if reply is not None:
                connection.sendall(reply)
        listener.close()

    thread = threading.Thread(target=serve)
    thread.start()
    return listener.getsockname()[1], thread


def test_server_that_hangs_up_mid_answer_is_a_broken_answer():
    port, server = one_shot_server(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\": [")
    response = plain("GET", f"http://127.0.0.1:{port}/v1/models")
    with pytest.raises(BrokenAnswer, match="bytes of the body missing"):
        b"".join(response.iter_raw())
    response.close()
    server.join()


def test_server_that_closes_without_a_word_is_no_answer():
    port, server = one_shot_server(None)
    with pytest.raises(NoAnswer):
        plain("GET", f"http://127.0.0.1:{port}/v1/models")
    server.join()


def test_lmprep_uses_its_socket_transport_for_loopback_http_and_httpx_for_the_rest():
    with Http("http://127.0.0.1:1/v1", label="x") as local, Http("https://127.0.0.1:1/v1", label="y") as tls, \
            Http("http://example.invalid/v1", label="z") as remote:
        assert local._plain and not tls._plain and not remote._plain


#: What the ready path does without: httpx and its kin (for remote servers), http.client (the email
#: package), subprocess (no process starts), and what only costs start-up time: signal's enums and
#: dataclasses. (Not locale: click's parser tries `-p` as a long option first, and the error it
#: builds on the way asks gettext for its text.)
NOT_ON_THE_READY_PATH = ("httpx", "httpcore", "h11", "anyio", "http", "email", "ssl", "subprocess", "signal",
                         "dataclasses")


def test_the_loopback_ready_path_never_imports_httpx(lmstudio_emulator):
    """`lmprep` against a server on this machine with the model loaded: no httpx, no process,
    nothing else it does not use."""
    lmstudio_emulator.downloaded = ["m"]
    lmstudio_emulator.loaded = {"m": 65536}
    code = ("import sys; from lmprep.cli import main; sys.argv = ['lmprep', '-q', '-p', 'lmstudio', '-m', 'm', "
            f"'--base-url', {lmstudio_emulator.base_url!r}]\n"
            "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
            "print(code, sorted(m for m, module in sys.modules.items()\n"
            f"                   if module is not None and m.split('.')[0] in {NOT_ON_THE_READY_PATH!r}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "0 []", result.stderr

"""lmprep's own transport for loopback http, against real servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading

import httpx
import pytest

from lmprep.loopback import LoopbackTransport


def client(**options) -> httpx.Client:
    return httpx.Client(transport=LoopbackTransport(), trust_env=False, **options)


def test_get_and_post_with_headers_and_json(lmstudio_emulator):
    lmstudio_emulator.downloaded = ["m"]
    lmstudio_emulator.token = "tok"
    with client(headers={"Authorization": "Bearer tok"}) as http:
        listing = http.get(f"{lmstudio_emulator.base_url}/models")
        assert listing.status_code == 200
        assert [m["id"] for m in listing.json()["data"]] == ["m"]
        answer = http.post(f"{lmstudio_emulator.base_url}/responses", json={"model": "m", "input": ""})
        assert answer.status_code == 200
    [request] = lmstudio_emulator.requests_to("POST", "/v1/responses")
    assert request.json == {"model": "m", "input": ""}
    assert request.header("authorization") == "Bearer tok"


def test_chunked_ndjson_stream_arrives_line_by_line(ollama_emulator):
    ollama_emulator.pull_catalog = {"llama3": {"layers": [1000], "chunks": 50}}
    with client() as http, http.stream("POST", f"{ollama_emulator.origin}/api/pull",
                                       json={"model": "llama3"}) as response:
        lines = list(response.iter_lines())
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert len(lines) > 50
    assert lines[-1].replace(" ", "") == '{"status":"success"}'


def test_refused_connection_is_a_connect_error(unused_port):
    with client() as http, pytest.raises(httpx.ConnectError):
        http.get(f"http://127.0.0.1:{unused_port}/v1/models")


def test_server_that_never_answers_is_a_read_timeout(lmstudio_emulator):
    lmstudio_emulator.hang = True
    with client() as http, pytest.raises(httpx.ReadTimeout):
        http.get(f"{lmstudio_emulator.base_url}/models", timeout=httpx.Timeout(5, read=0.3))


def test_server_that_hangs_up_mid_answer_is_a_protocol_error():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def half_answer():
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"data\": [")

        server = threading.Thread(target=half_answer)
        server.start()
        with client() as http, pytest.raises(httpx.RemoteProtocolError):
            http.get(f"http://127.0.0.1:{port}/v1/models")
        server.join()


def test_lmprep_uses_it_for_loopback_http_only():
    from lmprep.http import Http

    with Http("http://127.0.0.1:1/v1", label="x") as local, Http("http://example.invalid/v1", label="y") as remote:
        assert isinstance(local._client._transport, LoopbackTransport)
        assert not isinstance(remote._client._transport, LoopbackTransport)

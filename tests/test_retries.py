"""Bounded retries in the one HTTP layer: a connection dropped before any answer, and a 503
while a model loads, are tried again (within the deadline); a 4xx, a refused connection or a
POST that is not a warm-up never is."""

from __future__ import annotations

import time

import pytest

import lmprep.http
from e2e import run_lmprep
from emulators.http_emulator import HTTPEmulator, json_reply
from emulators.lmstudio import LMStudioEmulator
from lmprep.deadline import Deadline
from lmprep.errors import TimedOutError, UnreachableError
from lmprep.http import Http


class Echo(HTTPEmulator):
    def routes(self):
        return {
            ("GET", "/v1/models"): lambda request: json_reply({"data": []}),
            ("POST", "/v1/load"): lambda request: json_reply({"ok": True}),
            ("POST", "/v1/bad"): lambda request: json_reply({"error": "no such model"}, 400),
        }


@pytest.fixture
def echo():
    with Echo() as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(lmprep.http, "RETRY_DELAYS", (0.01, 0.02, 0.04))


def client(emulator, deadline=None) -> Http:
    return Http(emulator.base_url, label="Echo", deadline=deadline)


def test_a_get_whose_connection_drops_before_any_answer_is_sent_again(echo):
    echo.drop[("GET", "/v1/models")] = 2
    with client(echo) as http:
        response = http.request("GET", f"{echo.base_url}/models", doing="listing")
        assert response.status_code == 200
        assert http.retries == 2
    assert len(echo.requests_to("GET", "/v1/models")) == 3


def test_retries_are_bounded(echo):
    echo.drop[("GET", "/v1/models")] = 100
    with client(echo) as http, pytest.raises(UnreachableError) as caught:
        http.request("GET", f"{echo.base_url}/models", doing="listing models")
    assert len(echo.requests_to("GET", "/v1/models")) == 1 + len(lmprep.http.RETRY_DELAYS)
    # Nothing was ever answered: unreachable (exit 4), as issue 11 has it.
    assert "accepted the connection and closed it without answering" in caught.value.message


def test_a_post_is_not_sent_again_unless_it_may_be(echo):
    echo.drop[("POST", "/v1/load")] = 1
    with client(echo) as http, pytest.raises(UnreachableError):
        http.request("POST", f"{echo.base_url}/load", json_body={}, doing="loading")
    assert len(echo.requests_to("POST", "/v1/load")) == 1


def test_a_warm_up_is_sent_again_after_a_drop_and_while_the_server_is_loading(echo):
    echo.drop[("POST", "/v1/load")] = 1
    echo.busy[("POST", "/v1/load")] = 2
    with client(echo) as http:
        response = http.request("POST", f"{echo.base_url}/load", json_body={}, doing="loading", retry=True)
        assert response.status_code == 200
        assert http.retries == 3


def test_a_503_is_retried_only_for_requests_that_ask_for_it(echo):
    echo.busy[("GET", "/v1/models")] = 1
    with client(echo) as http:
        assert http.request("GET", f"{echo.base_url}/models", doing="listing").status_code == 503
        assert http.retries == 0


def test_a_503_that_is_not_a_load_is_not_waited_for(echo):
    echo.busy_reply = json_reply({"error": {"message": "Model is sleeping", "code": 503}}, 503)
    echo.busy[("POST", "/v1/load")] = 1
    with client(echo) as http:
        response = http.request("POST", f"{echo.base_url}/load", json_body={}, doing="loading", retry=True)
        assert response.status_code == 503
        assert http.retries == 0


def test_a_4xx_is_never_retried(echo):
    with client(echo) as http:
        response = http.request("POST", f"{echo.base_url}/bad", json_body={}, doing="loading", retry=True)
        assert response.status_code == 400
        assert http.retries == 0
    assert len(echo.requests_to("POST", "/v1/bad")) == 1


def test_a_refused_connection_is_not_retried(unused_port):
    with Http(f"http://127.0.0.1:{unused_port}/v1", label="Echo") as http, pytest.raises(UnreachableError):
        http.request("GET", f"http://127.0.0.1:{unused_port}/v1/models", doing="listing")
    assert http.retries == 0


def test_the_pauses_between_tries_end_at_the_deadline(echo, monkeypatch):
    monkeypatch.setattr(lmprep.http, "RETRY_DELAYS", (5.0, 5.0, 5.0))
    echo.busy[("POST", "/v1/load")] = 100
    started = time.monotonic()
    with client(echo, Deadline(0.5)) as http, pytest.raises(TimedOutError) as caught:
        http.request("POST", f"{echo.base_url}/load", json_body={}, doing="loading the model", retry=True)
    assert time.monotonic() - started < 2
    assert caught.value.message == "Gave up after 0.5 s (--timeout) while loading the model."


def test_a_streamed_warm_up_is_sent_again_before_its_answer(echo):
    echo.busy[("POST", "/v1/load")] = 1
    echo.drop[("POST", "/v1/load")] = 1
    with client(echo) as http, http.stream("POST", f"{echo.base_url}/load", json_body={}, read_timeout=5,
                                           doing="loading", retry=True) as response:
        assert response.status_code == 200
        assert response.read() == b'{"ok": true}'
        assert http.retries == 2


@pytest.mark.e2e
def test_lmprep_loads_through_a_dropped_connection_and_a_loading_server():
    """End to end: LM Studio drops the first warm-up and answers the next 503 "Loading model"."""
    with LMStudioEmulator(downloaded=["qwen/qwen3-8b"]) as lmstudio:
        lmstudio.drop[("POST", "/v1/responses")] = 1
        lmstudio.busy[("POST", "/v1/responses")] = 1
        lmstudio.drop[("GET", "/v1/models")] = 1
        result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", "qwen/qwen3-8b",
                            "--warm-up", "wait", "--json")
        assert result.returncode == 0, result.stderr
        assert result.json["warm_up"]["status"] == "ok"
        assert len(lmstudio.requests_to("POST", "/v1/responses")) == 3
        assert lmstudio.load_count == 1

"""Reading an agent's streamed answer, and the requests the checks send (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmprep.agents import agent_needs
from lmprep.protocols import (
    CHAT,
    MAX_EVENT_BYTES,
    MESSAGES,
    RESPONSES,
    StreamFlood,
    _NotAStream,
    read_stream,
    request_body,
)


def lines(text: str) -> list[str]:
    return text.split("\n")


@pytest.mark.parametrize("protocol, stream, outcome", [
    (RESPONSES, 'event: response.created\ndata: {"type":"response.created"}\n\n'
                'event: response.completed\ndata: {"type":"response.completed"}\n', None),
    # Codex goes by the JSON type: no `event:` lines is fine.
    (RESPONSES, 'data: {"type":"response.created"}\n\ndata: {"type":"response.completed"}\n', None),
    (RESPONSES, 'data: {"type":"response.incomplete"}\n', None),  # one token may end it "incomplete"
    (RESPONSES, 'data: {"type":"response.created"}\n\n', "the streamed answer ended before `response.completed`"),
    (RESPONSES, 'event: response.failed\ndata: {"type":"response.failed","response":{"error":{"message":"OOM"}}}\n',
     "OOM"),
    (RESPONSES, 'event: error\ndata: {"type":"error","message":"context overflow"}\n', "context overflow"),
    (CHAT, 'data: {"choices":[{"delta":{"content":"O"},"finish_reason":null}]}\n\ndata: [DONE]\n', None),
    (CHAT, 'data: {"choices":[{"delta":{},"finish_reason":"length"}]}\n', None),  # no [DONE]: SDKs accept it
    (CHAT, 'data: {"choices":[{"delta":{"content":"O"}}]}\n', "the streamed answer ended before `[DONE]`"),
    (CHAT, 'data: {"error":{"message":"tools param requires --jinja flag"}}\n', "tools param requires --jinja flag"),
    # `"error": null` is OpenAI's (and LiteLLM's) way of saying there is none.
    (RESPONSES, 'data: {"type":"response.created","error":null}\n\ndata: {"type":"response.completed","error":null}\n',
     None),
    (CHAT, 'data: {"choices":[{"delta":{},"finish_reason":"stop"}],"error":null}\n\ndata: [DONE]\n', None),
    (MESSAGES, 'event: message_start\ndata: {"type":"message_start"}\n\nevent: message_stop\n'
               'data: {"type":"message_stop"}\n', None),
    (MESSAGES, 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n', "busy"),
    (MESSAGES, ": keep-alive comment\n\nevent: message_stop\ndata: {}\n", None),
])
def test_read_stream(protocol, stream, outcome):
    assert read_stream(protocol, lines(stream)) == outcome


def test_an_answer_that_is_not_a_stream_is_told_apart():
    with pytest.raises(_NotAStream) as caught:
        read_stream(CHAT, ['{"id": "chatcmpl-1", "object": "chat.completion"}'])
    assert caught.value.text.startswith('{"id"')


def test_a_stream_that_never_ends_is_cut_off():
    endless = ['data: {"choices":[{"delta":{"content":"x"}}]}', ""] * 20_000
    with pytest.raises(StreamFlood, match="more than 10000 events"):
        read_stream(CHAT, endless)


def endless(line: str):
    """``line`` for ever, counting how many were read (a generator, as the HTTP stream is)."""
    endless.read = 0
    while True:
        endless.read += 1
        yield line


@pytest.mark.parametrize("line, cap", [
    ("data: " + "x" * 1000, MAX_EVENT_BYTES),  # one event whose data lines never end
    ("id: " + "x" * 1000, MAX_EVENT_BYTES),  # ids count too
    (": keep-alive " + "x" * 1000, MAX_EVENT_BYTES),  # and comments
    ("event: x", MAX_EVENT_BYTES),  # and event names
])
def test_an_event_or_an_answer_that_never_ends_stops_at_its_cap(line, cap):
    with pytest.raises(StreamFlood):
        read_stream(RESPONSES, endless(line))
    assert endless.read * (len(line) + 1) <= cap + len(line) + 1


def test_endless_short_events_stop_at_the_answer_cap():
    def events():
        while True:
            yield ": ping"
            yield ""
    with pytest.raises(StreamFlood, match="MiB of events"):
        read_stream(RESPONSES, events())


def test_an_error_event_in_plain_words_is_the_servers_error():
    """Issue 17: `event: error` with a plain-text message was "does not stream"."""
    assert read_stream(RESPONSES, lines("event: error\ndata: the model crashed: out of memory\n\n")) == \
        "the model crashed: out of memory"


@given(st.lists(st.text(max_size=80), max_size=40), st.sampled_from([RESPONSES, CHAT, MESSAGES]))
def test_read_stream_says_complete_or_why_whatever_the_server_sends(received, protocol):
    try:
        outcome = read_stream(protocol, received)
    except _NotAStream:
        return
    assert outcome is None or (isinstance(outcome, str) and outcome)


def test_codexs_check_carries_its_tool_types_and_fields():
    body = request_body(agent_needs("codex", "llamacpp"), "m")
    assert [tool["type"] for tool in body["tools"]] == ["function", "namespace", "web_search"]
    assert (body["stream"], body["max_output_tokens"], body["tool_choice"], body["parallel_tool_calls"]) == (
        True, 1, "auto", True)
    assert body["include"] == ["reasoning.encrypted_content"]


def test_claudes_check_is_anthropic_shaped():
    needs = agent_needs("claude", "ollama")
    body = request_body(needs, "m")
    assert body["tools"][0].keys() == {"name", "description", "input_schema"}
    assert (body["max_tokens"], body["stream"], body["tool_choice"]) == (1, True, {"type": "auto"})
    assert needs.url("http://h:11434/v1") == "http://h:11434/v1/messages?beta=true"


def test_chat_checks_with_and_without_tools():
    opencode = request_body(agent_needs("opencode", "vllm"), "m")
    assert opencode["tools"][0]["type"] == "function" and opencode["stream_options"] == {"include_usage": True}
    aider = request_body(agent_needs("aider", "vllm"), "m")
    assert "tools" not in aider and aider["stream"] is True and aider["max_tokens"] == 1


@pytest.mark.parametrize("body, message", [
    ({"id": "resp_1", "object": "response", "status": "completed", "error": None}, None),
    ({"error": {"message": "model not found"}}, "model not found"),
    ({"error": "busy"}, "busy"),
])
def test_an_error_field_that_is_null_is_no_error(body, message):
    from lmprep.http import json_error_message

    assert json_error_message(body) == message

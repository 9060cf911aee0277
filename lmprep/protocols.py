"""What an agent sends, and whether the server answers it.

Today's agents speak one of three wire protocols: the Responses API (Codex), the Anthropic
Messages API (Claude Code) and Chat Completions (opencode, Qwen Code, aider, goose, llm, the
OpenAI SDKs). For each, this module knows where an agent sends it, a load-free check that the
route exists (a body the server must refuse for its content, not its path), and the agent's
first request in miniature: streamed, with one function tool where the agent sends tools,
one output token, read to its end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from .errors import AgentUnsupportedError, LmprepError, WarmupFailedError
from .hosts import strip_v1

#: The function tool the check offers; no model is asked to call it.
CHECK_TOOL = "lmprep_check"
_CHECK_TOOL_DESCRIPTION = "Reports that the server accepts function tools. Never needs calling."
_CHECK_PROMPT = "Reply with OK."
_ANTHROPIC_HEADERS = {"anthropic-version": "2023-06-01"}
# One output token streams a handful of events; a server that sends thousands is not answering.
_MAX_EVENTS = 10_000
# ... and its events are a few hundred bytes each, a few kB in all. Every line counts toward
# both caps, comments (`:`), `id:` and lines of unknown fields too, which are otherwise skipped:
# an event whose `data:` lines never end, or endless comments, must not grow the heap.
MAX_EVENT_BYTES = 1024 * 1024
MAX_ANSWER_BYTES = 8 * 1024 * 1024
_TOOL_WORDS = re.compile(r"\btools?\b|tool_choice|\bfunction|jinja", re.IGNORECASE)
_STREAM_WORDS = re.compile(r"\bstream", re.IGNORECASE)


class WireProtocol(NamedTuple):
    name: str  # responses | chat | messages
    label: str
    path: str  # appended to the base URL, or to the server root when ``from_root``
    done: str  # the event that ends a complete streamed answer
    from_root: bool = False  # Anthropic clients are given the server root, and add /v1 themselves

    def url(self, base_url: str) -> str:
        return (strip_v1(base_url) if self.from_root else base_url) + self.path


RESPONSES = WireProtocol("responses", "the Responses API", "/responses", "response.completed")
CHAT = WireProtocol("chat", "the Chat Completions API", "/chat/completions", "[DONE]")
MESSAGES = WireProtocol("messages", "the Anthropic Messages API", "/v1/messages", "message_stop", from_root=True)


class AgentNeeds(NamedTuple):
    """The shape of an agent's requests: its protocol, always streamed, with function tools or
    not, and what else it sends that a server could refuse."""

    agent: str  # the agent's name as people know it ("Codex")
    protocol: WireProtocol
    tools: bool = True
    other_tools: tuple[dict, ...] = ()  # tools of other types it sends beside its function tools
    fields: tuple[tuple[str, Any], ...] = ()  # other fields of its requests
    query: str = ""  # what it adds to the URL
    min_version: tuple[int, ...] | None = None  # the server version it refuses to run below

    def url(self, base_url: str) -> str:
        return self.protocol.url(base_url) + self.query


class FirstRequest(NamedTuple):
    """An agent's first model request as the real agent sent it (recorded through a proxy in
    front of a real llama-server b11434 with the tiny test model; `bench/agent_requests.py`
    measures it again): what `lmprep bench` sends at that size."""

    tokens: int  # prompt tokens, as that server counted them (timings.prompt_n)
    chars: int  # characters of the request body
    routes: tuple[str, ...]  # the requests it sent, in order, to answer a one-line prompt
    version: str  # of the agent
    measured: str  # the date


def chat_agent(agent: str, tools: bool = True) -> AgentNeeds:
    """What most agents send: streamed Chat Completions asking for usage, with function tools."""
    return AgentNeeds(agent, CHAT, tools=tools, fields=(("stream_options", {"include_usage": True}),))


def check_route(provider, needs: AgentNeeds) -> None:
    """Without a model: the route exists, and the server's version is one the agent runs with
    (Codex refuses Ollama below 0.13.4). Run before any download or load, which an agent that
    cannot use the server would waste. Raises AgentUnsupportedError."""
    url = needs.url(provider.base_url)
    response = provider.http.request(
        "POST", url, json_body={}, doing=f"checking that {provider.label} serves {needs.protocol.label}",
        headers=_headers(needs.protocol),
    )
    from .http import error_text
    from .providers.base import unknown_route

    status, body, text = response.status_code, _json(response.content), error_text(response)

    if unknown_route(status, body, text):
        raise _unsupported(provider, needs, "route", _said(url, status, body, text))
    version = provider.server_version() if needs.min_version else None
    if version is not None and _numbers(version) < needs.min_version:
        wanted = ".".join(map(str, needs.min_version))
        raise AgentUnsupportedError(
            f"{needs.agent} refuses {provider.label} older than {wanted}, and this one is {version}.",
            provider.unsupported_hint(needs.protocol, "version"),
        )


def check_tools(provider, needs: AgentNeeds, model: str) -> None:
    """Without loading anything: the server does not say up front that ``model`` refuses tools
    (Ollama's /api/show capabilities, for a model it has). Raises AgentUnsupportedError."""
    if needs.tools and provider.tool_support(model) is False:
        raise AgentUnsupportedError(
            f"{provider.label} says {model!r} does not support tools, and {needs.agent} sends them with every request.",
            provider.unsupported_hint(needs.protocol, "tools"),
        )


def check_request(provider, needs: AgentNeeds, model: str, read_timeout: float | None) -> None:
    """Send the agent's first request in miniature and read the streamed answer to its end.

    Raises AgentUnsupportedError when the server refuses the route, the tools or the stream,
    WarmupFailedError when it fails for another reason (the model did not load or answer).
    """
    protocol = needs.protocol
    url = needs.url(provider.base_url)
    with provider.http.stream(
        "POST", url, json_body=request_body(needs, model), read_timeout=read_timeout,
        doing=f"sending {needs.agent}'s first request (POST {_path(url)})", timeout_error=WarmupFailedError,
        headers=_headers(protocol), retry=True,
    ) as response:
        if response.status_code != 200:
            from .http import error_text

            response.read()
            raise _refusal(provider, needs, model, response.status_code, _json(response.content),
                           error_text(response), url)
        try:
            # The whole answer within the one budget: lines that talk without answering
            # (keep-alive comments) do not renew it.
            outcome = read_stream(protocol, response.iter_lines(renew=False))
        except StreamFlood as exc:
            from .errors import ProtocolError

            raise ProtocolError(f"{provider.label} at {provider.base_url} answered {needs.agent}'s first request "
                                f"(POST {_path(url)}) with {exc}.",
                                f"Check that {provider.base_url} is really {provider.label}, and look at its log.") \
                from None
        except _NotAStream as exc:
            from .http import json_error_message
            from .termtext import one_line

            body = _json(exc.text)
            if json_error_message(body) is not None:
                raise _refusal(provider, needs, model, 200, body, exc.text, url) from None
            raise _unsupported(provider, needs, "stream", f"POST {_path(url)} answered {one_line(exc.text, 160)!r} "
                                                          "instead of an event stream") from None
    if outcome is not None:
        raise _refusal(provider, needs, model, 200, {"error": outcome}, outcome, url)


def request_body(needs: AgentNeeds, model: str) -> dict[str, Any]:
    """The smallest request of the agent's shape: streamed, one function tool (and the other
    tool types and fields the agent sends), one output token."""
    schema = {"type": "object", "properties": {}}
    message = [{"role": "user", "content": _CHECK_PROMPT}]
    name = needs.protocol.name
    if name == "responses":
        body: dict[str, Any] = {"model": model, "input": message, "stream": True, "max_output_tokens": 1,
                                "store": False}
        tools = [{"type": "function", "name": CHECK_TOOL, "description": _CHECK_TOOL_DESCRIPTION,
                  "parameters": schema, "strict": False}]
    elif name == "messages":
        body = {"model": model, "messages": message, "stream": True, "max_tokens": 1}
        tools = [{"name": CHECK_TOOL, "description": _CHECK_TOOL_DESCRIPTION, "input_schema": schema}]
    else:
        body = {"model": model, "messages": message, "stream": True, "max_tokens": 1}
        tools = [{"type": "function", "function": {"name": CHECK_TOOL, "description": _CHECK_TOOL_DESCRIPTION,
                                                   "parameters": schema}}]
    if needs.tools:
        body["tools"] = tools + list(needs.other_tools)
        body["tool_choice"] = "auto" if name != "messages" else {"type": "auto"}
    body.update(needs.fields)
    return body


# -- reading a streamed answer --------------------------------------------------------------

class StreamFlood(Exception):
    """The streamed answer went past what one output token can take (events or bytes)."""


class _NotAStream(Exception):
    """The answer is not server-sent events; ``text`` holds its start."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def read_stream(protocol: WireProtocol, lines: Iterable[str]) -> str | None:
    """Read server-sent events to the end: None when the answer completed as the protocol
    says it must, else the failure (the server's error, or what is missing)."""
    finished = False  # a chat chunk with a finish_reason: complete even without [DONE]
    count = 0
    for event, data in _events(lines):
        count += 1
        if count > _MAX_EVENTS:
            raise StreamFlood(f"more than {_MAX_EVENTS} events for a one-token answer")
        if protocol.name == "chat" and data.strip() == "[DONE]":
            return None
        item = _json(data)
        if not isinstance(item, dict):
            if event == "error":  # an error said in plain words: they are the server's answer
                from .termtext import one_line

                return one_line(data) or "an error event without a message"
            continue
        kind = item.get("type") if isinstance(item.get("type"), str) else event
        error = _stream_error(protocol, kind, item)
        if error is not None:
            return error
        if kind in (protocol.done, "response.incomplete") and protocol.name != "chat":
            return None  # one output token may well end as "incomplete": that is complete here
        if protocol.name == "chat":
            choices = item.get("choices")
            if isinstance(choices, list) and any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
                finished = True
    if finished:
        return None
    return f"the streamed answer ended before `{protocol.done}`"


def _stream_error(protocol: WireProtocol, kind: str | None, item: dict) -> str | None:
    from .http import json_error_message

    if protocol.name == "responses" and kind == "response.failed":
        response = item.get("response")
        return (json_error_message(response) if isinstance(response, dict) else None) or "response.failed"
    if kind == "error" or item.get("error") is not None:
        message = json_error_message(item)
        if message is None and isinstance(item.get("message"), str):
            message = json_error_message({"error": item["message"]})
        return message or "an error event without a message"
    return None


def _events(lines: Iterable[str]) -> Iterator[tuple[str | None, str]]:
    """(event name, data) of each server-sent event; _NotAStream for anything else."""
    event: str | None = None
    data: list[str] = []
    seen_field = False
    event_bytes = answer_bytes = 0
    iterator = iter(lines)
    for line in iterator:
        size = len(line) + 1
        event_bytes += size
        answer_bytes += size
        if answer_bytes > MAX_ANSWER_BYTES:
            raise StreamFlood(f"more than {MAX_ANSWER_BYTES // 2**20} MiB of events for a one-token answer")
        if event_bytes > MAX_EVENT_BYTES:
            raise StreamFlood(f"an event longer than {MAX_EVENT_BYTES // 2**20} MiB")
        if not line.strip():
            event_bytes = 0
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        field, _, value = line.partition(":")
        if field not in ("event", "data", "id", "retry", ""):
            if not seen_field:
                rest = [line]
                for more in iterator:  # what the server said instead: kept short
                    rest.append(more)
                    if sum(map(len, rest)) > 4096:
                        break
                raise _NotAStream("\n".join(rest))
            continue
        seen_field = True
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value.strip()
        elif field == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


#: The events of a server-sent event stream, for readers of other answers (bench).
stream_events = _events


# -- errors -------------------------------------------------------------------------------

def _refusal(provider, needs: AgentNeeds, model: str, status: int, body: Any, text: str, url: str) -> LmprepError:
    """The error for a refused request: the agent's shape (exit 12) or the model (exit 9)."""
    from .http import json_error_message
    from .providers.base import unknown_route

    message = json_error_message(body) or text
    said = _said(url, status, body, text)
    if unknown_route(status, body, text):
        return _unsupported(provider, needs, "route", said)
    if needs.tools and _TOOL_WORDS.search(message):
        return _unsupported(provider, needs, "tools", said)
    if _STREAM_WORDS.search(message):
        return _unsupported(provider, needs, "stream", said)
    return WarmupFailedError(
        f"{provider.label} could not answer {needs.agent}'s first request for {model!r} ({said}).",
        provider.warm_up_hint(model, body),
    )


def _unsupported(provider, needs: AgentNeeds, problem: str, said: str) -> AgentUnsupportedError:
    protocol = needs.protocol
    what = {
        "route": f"does not serve {protocol.label}, the only one {needs.agent} speaks",
        "tools": f"refused a request carrying a function tool, as {needs.agent} sends with every request",
        "stream": f"did not stream its answer as {needs.agent} reads it",
    }[problem]
    return AgentUnsupportedError(f"{provider.label} at {provider.base_url} {what} ({said}).",
                                 provider.unsupported_hint(protocol, problem, said))


def _said(url: str, status: int, body: Any, text: str) -> str:
    from .http import json_error_message

    return f"POST {_path(url)}: HTTP {status}: {json_error_message(body) or text}"


def _numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def _path(url: str) -> str:
    return urlsplit(url).path or "/"


def _headers(protocol: WireProtocol) -> dict[str, str] | None:
    return _ANTHROPIC_HEADERS if protocol is MESSAGES else None


def _json(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):  # RecursionError: JSON nested too deeply
        return None

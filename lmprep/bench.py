"""`lmprep bench --for AGENT`: the agent's first turn and next turn, measured at its real size.

On local hardware an agent's session is dominated by prefill: its first request carries its
system prompt and tool schemas (thousands of tokens, see each agent module's FIRST_REQUEST),
and each later turn resends all of it, so a turn is fast only when the server's prefix cache
covers what was sent before. Bench sends, after the model is ready for the agent:

1. the first request at the agent's measured prompt size, filler text sized with the server's
   own tokenizer where it has one (llama-server `POST /tokenize`), else calibrated by one small
   request's `usage.prompt_tokens`; a fixed short output measures decoding;
2. a second request that repeats the first and adds a short next message, as an agent's next
   turn does, which shows how much of the prompt the server reused.

Both go over Chat Completions (Ollama: its native `/api/chat`, which reports its own durations):
prefill and decode speed do not depend on the route, and that route is where servers report
their counters. The server's own numbers are used where it gives them (llama-server `timings`;
Ollama `prompt_eval_*`, `eval_*`, `load_duration`; `usage.prompt_tokens_details.cached_tokens`),
timing on this side otherwise, and each figure says which. The result is kept per server,
model and window in the state directory, where `status` and the ready line read it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, NamedTuple

from .errors import WarmupFailedError

#: Output tokens asked of each measured request: enough to time decoding, short enough that
#: decoding never dominates the measure of prefill.
DECODE_TOKENS = 16
#: What an agent's next turn adds to the conversation before the server answers again
#: (a short user message or a tool result), in tokens.
NEXT_TURN_TOKENS = 200
#: The size bench gives an agent whose first request was never measured: a typical coding
#: agent's (the measured ones run from 2,000 to 28,000 tokens; see the README).
TYPICAL_AGENT_TOKENS = 16_000
#: Below this share of the first prompt reused by the second request, the prefix cache is
#: taken as not working.
CACHE_WORKS_SHARE = 0.5
MAX_RESULT_BYTES = 64 * 1024
_CALIBRATION_CHARS = 4000
# Ordinary words in a fixed order of no meaning: text that tokenizes like prose and code
# comments, the bulk of an agent's system prompt. A nonce at the start of each request makes
# its prefix new to the server, so the first request is measured cold.
_WORDS = ("the", "agent", "reads", "a", "file", "and", "writes", "tests", "for", "each", "function", "it",
          "changes", "then", "runs", "them", "in", "the", "shell", "when", "one", "fails", "reports", "why",
          "with", "its", "output", "project", "uses", "python", "modules", "class", "value", "returns",
          "error", "message", "user", "asked", "tool", "call", "result", "list", "items", "search", "code")


class Sample(NamedTuple):
    """One measured request."""

    prompt_tokens: int | None  # the prompt as the server counted it
    cached_tokens: int | None  # of those, how many the server took from its prefix cache
    first_token_s: float  # from sending the request to the first generated text (this side)
    total_s: float
    prefill_tps: float | None  # prompt tokens per second
    decode_tps: float | None  # output tokens per second
    output_tokens: int | None
    load_s: float | None  # the server's load time within this request (Ollama's load_duration)
    source: str  # "server": the speeds are the server's own numbers; "client": timed here
    reply: str


class BenchResult(NamedTuple):
    provider: str
    base_url: str
    model: str
    agent: str
    context_length: int | None
    agent_tokens: int  # the agent's first request, as measured with the real agent
    load_s: float | None  # the load lmprep waited for before measuring, when it loaded
    first: Sample
    second: Sample
    measured_at: float

    @property
    def prefill_tps(self) -> float | None:
        return self.first.prefill_tps

    @property
    def decode_tps(self) -> float | None:
        return self.first.decode_tps or self.second.decode_tps

    @property
    def reused_share(self) -> float | None:
        """Of the first prompt, the share the second request took from the server's cache."""
        if self.second.cached_tokens is None or not self.first.prompt_tokens:
            return None
        return min(1.0, self.second.cached_tokens / self.first.prompt_tokens)

    @property
    def cache_works(self) -> bool | None:
        share = self.reused_share
        return None if share is None else share >= CACHE_WORKS_SHARE

    @property
    def first_turn_s(self) -> float | None:
        """The agent's first request to its first token: its prompt prefilled cold."""
        if not self.prefill_tps:
            return None
        return self.agent_tokens / self.prefill_tps + self._latency

    @property
    def next_turn_s(self) -> float | None:
        """A next turn to its first token: what the cache does not cover is prefilled."""
        if not self.prefill_tps:
            return None
        reused = self.reused_share
        uncached = NEXT_TURN_TOKENS + (self.agent_tokens * (1 - reused) if reused is not None else self.agent_tokens)
        return uncached / self.prefill_tps + self._latency

    @property
    def _latency(self) -> float:
        """What the first request took beyond its prefill (HTTP, scheduling): part of every turn."""
        first = self.first
        if not first.prefill_tps or not first.prompt_tokens:
            return 0.0
        return max(0.0, first.first_token_s - first.prompt_tokens / first.prefill_tps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider, "base_url": self.base_url, "model": self.model, "agent": self.agent,
            "context_length": self.context_length, "agent_tokens": self.agent_tokens, "load_s": _round(self.load_s),
            "first": _sample_dict(self.first), "second": _sample_dict(self.second),
            "prefill_tps": _round(self.prefill_tps), "decode_tps": _round(self.decode_tps),
            "reused_share": _round(self.reused_share, 3), "cache_works": self.cache_works,
            "first_turn_s": _round(self.first_turn_s, 3), "next_turn_s": _round(self.next_turn_s, 3),
            "next_turn_tokens": NEXT_TURN_TOKENS, "measured_at": self.measured_at,
        }


def _sample_dict(sample: Sample) -> dict[str, Any]:
    values = sample._asdict()
    values.pop("reply")
    for name in ("first_token_s", "total_s", "prefill_tps", "decode_tps", "load_s"):
        values[name] = _round(values[name])
    return values


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# -- measuring ------------------------------------------------------------------------------

#: The longest a measured request may take to answer: prefilling an agent's prompt on a slow
#: CPU takes minutes (the overall --timeout still caps it).
MEASURE_READ_TIMEOUT = 900.0


def bench_agent(settings, *, report=None, readiness=None):
    """Make the model ready for ``settings.agent`` (waiting for any load), then measure the
    agent's first turn and next turn there, and keep the result. Returns (readiness, result,
    the file it was kept in, or None where it could not be written)."""
    from .agents import agent_module
    from .events import Notice, ignore
    from .pipeline import Readiness, run_ensure
    from .providers import open_provider

    report = report or ignore
    readiness = readiness if readiness is not None else Readiness()
    run_ensure(settings, report=report, readiness=readiness, hand_off=True)
    agent = settings.agent.value
    first_request = agent_module(agent).FIRST_REQUEST
    agent_tokens = first_request.tokens if first_request is not None else TYPICAL_AGENT_TOKENS
    if first_request is None:
        report(Notice(f"{agent_module(agent).LABEL}'s first request was never measured: bench sends "
                      f"{TYPICAL_AGENT_TOKENS:,} tokens, the size of a typical coding agent's."))
    warm_up = readiness.warm_up
    load_s = warm_up.seconds if warm_up is not None and warm_up.status == "ok" else None
    chosen = settings.provider_settings(readiness.provider)
    timeouts = settings.http_timeouts()
    timeouts["read_timeout"] = max(timeouts["read_timeout"], MEASURE_READ_TIMEOUT)
    from .deadline import Deadline

    with open_provider(chosen, **timeouts, deadline=Deadline(_left(settings, readiness)), report=report,
                       stall_timeout=settings.stall_timeout.value) as provider:
        result = run_bench(provider, model=readiness.model, agent=agent, agent_tokens=agent_tokens,
                           context_length=readiness.context_length, load_s=load_s,
                           read_timeout=timeouts["read_timeout"], report=report)
    if result.cache_works is False:
        report(Notice(f"{provider.label} reused {result.reused_share:.0%} of the first prompt for the next turn: "
                      f"its prefix cache is not working, so every turn of {agent} prefills the whole prompt again. "
                      f"{cache_hint(chosen.kind)}"))
    try:
        path = save_result(result)
    except OSError as exc:
        report(Notice(f"The result could not be kept: {exc.strerror or exc}."))
        path = None
    return readiness, result, path


def _left(settings, readiness) -> float | None:
    """What the overall --timeout leaves after the ensure run."""
    if settings.timeout.value is None:
        return None
    spent = readiness.timings_ms.get("total", 0) / 1000
    return max(0.1, settings.timeout.value - spent)


def cache_hint(kind: str) -> str:
    """How to make that kind of server keep its prefix cache from one request to the next."""
    return {
        "llamacpp": "Start llama-server with one slot (`-np 1`) or a prompt cache (`--cache-reuse 256`), "
                    "and keep `cache_prompt` on.",
        "vllm": "Start vLLM with `--enable-prefix-caching`.",
        "ollama": "Keep one model loaded (OLLAMA_MAX_LOADED_MODELS=1) and OLLAMA_NUM_PARALLEL=1, so that "
                  "requests share one cache.",
        "lmstudio": "Load the model with one parallel slot (`lms load MODEL --parallel 1`).",
    }.get(kind, "Check the server's prompt or prefix cache settings.")


def run_bench(provider, *, model: str, agent: str, agent_tokens: int, context_length: int | None,
              load_s: float | None, read_timeout: float | None, report=None) -> BenchResult:
    """Send the two requests to a ready ``provider`` (an open provider from providers/) and
    measure them. Raises WarmupFailedError when the server does not answer them."""
    from .events import Step, ignore

    from .agents import agent_module

    report = report or ignore
    label = agent_module(agent).LABEL
    nonce = f"bench {time.time_ns() % 10**9}"
    budget = _prompt_budget(agent_tokens, context_length)
    report(Step(f"Sizing a {budget:,}-token prompt with {provider.label}'s tokenizer"))
    filler = _filler(provider, model, nonce, budget, read_timeout)
    messages = [{"role": "system", "content": filler}, {"role": "user", "content": "Reply with OK."}]
    report(Step(f"Sending {label}'s first request at its size ({budget:,} tokens)"))
    first = _measure(provider, model, messages, read_timeout)
    messages = messages + [{"role": "assistant", "content": first.reply or "OK."},
                           {"role": "user", "content": "Next: " + _text(_chars_for(provider, NEXT_TURN_TOKENS))}]
    report(Step("Sending the next turn, which repeats the first request's prompt"))
    second = _measure(provider, model, messages, read_timeout)
    return BenchResult(provider.settings.name, provider.base_url, model, agent, context_length, agent_tokens,
                       load_s, first, second, time.time())


def _prompt_budget(agent_tokens: int, context_length: int | None) -> int:
    """The agent's size, or what fits the window with room for the output and the next turn."""
    if context_length:
        return max(64, min(agent_tokens, context_length - DECODE_TOKENS - NEXT_TURN_TOKENS - 256))
    return agent_tokens


def _text(chars: int) -> str:
    """``chars`` characters of filler: the same text for the same length, so that a sample
    of it tokenizes as the whole does."""
    words: list[str] = []
    length = 0
    index = 0
    while length < chars:
        word = _WORDS[(index * index + index // len(_WORDS)) % len(_WORDS)]  # varied, never a short cycle
        words.append(word)
        length += len(word) + 1
        index += 1
    return " ".join(words)[:max(chars, 1)]


def _chars_for(provider, tokens: int) -> int:
    ratio = getattr(provider, "_bench_chars_per_token", None) or 4.0
    return max(1, int(tokens * ratio))


def _filler(provider, model: str, nonce: str, tokens: int, read_timeout: float | None) -> str:
    """Text of about ``tokens`` tokens on this server, starting with ``nonce`` (a prefix the
    server has not seen, so that the first request is measured cold)."""
    sample = _text(_CALIBRATION_CHARS)
    counted = _count_tokens(provider, model, sample, read_timeout)
    chars_per_token = len(sample) / counted if counted else 4.0
    text = f"{nonce}: {_text(int(tokens * chars_per_token))}"
    if provider.kind == "llamacpp":  # its tokenizer is cheap to ask: correct the estimate once
        counted = _count_tokens(provider, model, text, read_timeout)
        if counted:
            chars_per_token = len(text) / counted
            text = f"{nonce}: {_text(int(tokens * chars_per_token))}"
    provider._bench_chars_per_token = chars_per_token
    return text


def _count_tokens(provider, model: str, text: str, read_timeout: float | None) -> int | None:
    """Tokens of ``text`` by the server's tokenizer (llama-server), else from a one-token request's
    usage (less the same request's count without the text)."""
    if provider.kind == "llamacpp":
        from .hosts import strip_v1

        response = provider.http.request("POST", strip_v1(provider.base_url) + "/tokenize",
                                         json_body={"content": text}, read_timeout=read_timeout,
                                         doing="counting tokens with the server's tokenizer")
        body = _json(response.content)
        tokens = body.get("tokens") if isinstance(body, dict) else None
        if response.status_code == 200 and isinstance(tokens, list) and tokens:
            return len(tokens)
    with_text = _measure(provider, model, [{"role": "user", "content": text}], read_timeout, output=1)
    without = _measure(provider, model, [{"role": "user", "content": "."}], read_timeout, output=1)
    if with_text.prompt_tokens and without.prompt_tokens and with_text.prompt_tokens > without.prompt_tokens:
        return with_text.prompt_tokens - without.prompt_tokens
    return None


def _measure(provider, model: str, messages: list[dict], read_timeout: float | None,
             output: int = DECODE_TOKENS) -> Sample:
    if provider.kind == "ollama":
        return _measure_ollama(provider, model, messages, read_timeout, output)
    if provider.kind == "lmstudio":
        return _measure_lmstudio(provider, model, messages, read_timeout, output)
    return _measure_chat(provider, model, messages, read_timeout, output)


def _measure_chat(provider, model: str, messages: list[dict], read_timeout: float | None, output: int) -> Sample:
    from .protocols import CHAT, stream_events

    url = CHAT.url(provider.base_url)
    body = {"model": model, "messages": messages, "stream": True, "max_tokens": output, "temperature": 0,
            "stream_options": {"include_usage": True}}
    usage: dict = {}
    timings: dict = {}
    with _Measured(provider, model, url, body, read_timeout) as measured:
        for _, data in stream_events(measured.response.iter_lines()):
            if data.strip() == "[DONE]":
                break
            item = measured.item(data)
            if item is None:
                continue
            usage = item.get("usage") if isinstance(item.get("usage"), dict) else usage
            timings = item.get("timings") if isinstance(item.get("timings"), dict) else timings
            for choice in item.get("choices") or ():
                delta = choice.get("delta") if isinstance(choice, dict) else None
                measured.text(delta.get("content") or delta.get("reasoning_content") if isinstance(delta, dict)
                              else None)
    started, first_token, ended = measured.started, measured.first_token, measured.ended
    prompt_tokens = _int(timings.get("prompt_n"))
    cached = _int(timings.get("cache_n"))
    if prompt_tokens is not None and cached is not None:
        prompt_tokens += cached  # llama-server counts the prompt it evaluated, beside what it reused
    prompt_tokens = prompt_tokens or _int(usage.get("prompt_tokens"))
    if cached is None:
        details = usage.get("prompt_tokens_details")
        cached = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
    output_tokens = _int(timings.get("predicted_n")) or _int(usage.get("completion_tokens"))
    prefill = _float(timings.get("prompt_per_second"))
    decode = _float(timings.get("predicted_per_second"))
    source = "server" if prefill else "client"
    if not prefill and prompt_tokens:
        evaluated = prompt_tokens - (cached or 0)
        prefill = evaluated / max(first_token - started, 1e-6)
    if not decode and output_tokens and output_tokens > 1 and ended > first_token:
        decode = (output_tokens - 1) / (ended - first_token)
    return Sample(prompt_tokens, cached, first_token - started, ended - started, prefill, decode, output_tokens,
                  None, source, measured.reply)


def _measure_ollama(provider, model: str, messages: list[dict], read_timeout: float | None, output: int) -> Sample:
    from .hosts import strip_v1

    url = strip_v1(provider.base_url) + "/api/chat"
    # No options but the output cap: a num_ctx here would reload the model at another window.
    body = {"model": model, "messages": messages, "stream": True, "options": {"num_predict": output,
                                                                              "temperature": 0}}
    final: dict = {}
    with _Measured(provider, model, url, body, read_timeout) as measured:
        for line in measured.response.iter_lines():
            item = measured.item(line)
            if item is None:
                continue
            message = item.get("message")
            measured.text(message.get("content") if isinstance(message, dict) else None)
            if item.get("done"):
                final = item
                break
    started, first_token, ended = measured.started, measured.first_token, measured.ended
    evaluated = _int(final.get("prompt_eval_count"))
    prefill = _rate(evaluated, final.get("prompt_eval_duration"))
    output_tokens = _int(final.get("eval_count"))
    decode = _rate(output_tokens, final.get("eval_duration"))
    load = _float(final.get("load_duration"))
    # Ollama counts only the prompt it evaluated: the rest came from its cache. The whole prompt
    # is not reported, so the cached share is what the previous request's prompt left unevaluated.
    whole = getattr(provider, "_bench_ollama_prompt", None)
    cached = None
    if whole and evaluated is not None and evaluated < whole:
        cached = whole - evaluated
    if whole is None and evaluated:
        provider._bench_ollama_prompt = evaluated
    return Sample(evaluated if cached is None else evaluated + cached, cached, first_token - started, ended - started,
                  prefill, decode, output_tokens, load / 1e9 if load else None, "server" if prefill else "client",
                  measured.reply)


class _Measured:
    """One measured request, streamed: when it was sent, when its first text came, when it ended,
    and the start of the reply; a refusal or an error in the stream raises WarmupFailedError."""

    def __init__(self, provider, model: str, url: str, body: dict, read_timeout: float | None) -> None:
        self.provider, self.model, self.url, self.body, self.read_timeout = provider, model, url, body, read_timeout
        self.first_token: float | None = None
        self._reply: list[str] = []

    def __enter__(self) -> _Measured:
        self.started = time.perf_counter()
        self._stream = self.provider.http.stream(
            "POST", self.url, json_body=self.body, read_timeout=self.read_timeout,
            doing="sending the measured request", timeout_error=WarmupFailedError, retry=True)
        self.response = self._stream.__enter__()
        if self.response.status_code != 200:
            self.response.read()
            error = _refused(self.provider, self.url, self.response)
            self._stream.__exit__(type(error), error, None)
            raise error
        return self

    def __exit__(self, *exc_info) -> None:
        self._stream.__exit__(*exc_info)
        self.ended = time.perf_counter()
        self.first_token = self.first_token or self.ended

    def item(self, data: str) -> dict | None:
        """One line or event of the answer as an object (None: not one); its error raises."""
        item = _json(data)
        if not isinstance(item, dict):
            return None
        if item.get("error") is not None:  # `"error": null` is no error (LiteLLM, OpenAI)
            raise WarmupFailedError(f"{self.provider.label} failed the measured request: {_said(item)}.",
                                    self.provider.warm_up_hint(self.model, item))
        return item

    def text(self, text) -> None:
        if isinstance(text, str) and text:
            if self.first_token is None:
                self.first_token = time.perf_counter()
            if sum(map(len, self._reply)) < 4096:
                self._reply.append(text)

    @property
    def reply(self) -> str:
        return "".join(self._reply)


def _measure_lmstudio(provider, model: str, messages: list[dict], read_timeout: float | None,
                      output: int) -> Sample:
    """LM Studio's own REST route (0.3.6+; lmstudio-ai/docs 1_developer/2_rest/endpoints.mdx, "REST
    API v0", whose example answer carries these fields): `POST /api/v0/chat/
    completions` answers, not streamed, with `usage` and `stats` (`time_to_first_token` and
    `generation_time` in seconds, `tokens_per_second` of output, `stop_reason`); its OpenAI route
    has no timings. It reports no reused prompt tokens."""
    from .hosts import strip_v1

    url = strip_v1(provider.base_url) + "/api/v0/chat/completions"
    body = {"model": model, "messages": messages, "stream": False, "max_tokens": output, "temperature": 0}
    started = time.perf_counter()
    response = provider.http.request("POST", url, json_body=body, read_timeout=read_timeout,
                                     doing="sending the measured request", timeout_error=WarmupFailedError,
                                     retry=True)
    ended = time.perf_counter()
    if response.status_code != 200:
        raise _refused(provider, url, response)
    item = _json(response.content)
    item = item if isinstance(item, dict) else {}
    if "error" in item:
        raise WarmupFailedError(f"{provider.label} failed the measured request: {_said(item)}.",
                                provider.warm_up_hint(model, item))
    usage = item.get("usage") if isinstance(item.get("usage"), dict) else {}
    stats = item.get("stats") if isinstance(item.get("stats"), dict) else {}
    prompt_tokens = _int(usage.get("prompt_tokens"))
    output_tokens = _int(usage.get("completion_tokens"))
    first_token = _float(stats.get("time_to_first_token"))
    decode = _float(stats.get("tokens_per_second"))
    prefill = prompt_tokens / first_token if prompt_tokens and first_token else None
    reply = ""
    for choice in item.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        text = message.get("content") if isinstance(message, dict) else None
        if isinstance(text, str):
            reply = text[:4096]
            break
    if first_token is None:
        first_token = ended - started
    return Sample(prompt_tokens, None, first_token, ended - started, prefill, decode, output_tokens, None,
                  "server" if prefill else "client", reply)


def _rate(count: int | None, nanoseconds: Any) -> float | None:
    duration = _float(nanoseconds)
    if not count or not duration:
        return None
    return count / (duration / 1e9)


def _refused(provider, url: str, response):
    from .http import error_text

    return WarmupFailedError(
        f"{provider.label} refused the measured request (POST {url}: HTTP {response.status_code}: "
        f"{error_text(response)}).",
        "Check that `lmprep --for AGENT --warm-up wait` is ready first, then run bench again.",
    )


def _said(item: dict) -> str:
    from .http import json_error_message
    from .termtext import one_line

    return one_line(json_error_message(item) or "an error without a message", 300)


def _json(content: bytes | str) -> Any:
    try:
        return json.loads(content)
    except (ValueError, RecursionError):
        return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
        return None
    if value > 10**9:
        return None
    return int(value)


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if 0 < value < 1e18 else None


# -- kept results ---------------------------------------------------------------------------

def results_dir() -> Path:
    from .dirs import state_dir

    return state_dir() / "bench"


def result_path(provider: str, base_url: str, model: str, context_length: int | None) -> Path:
    from .dirs import record_name

    return results_dir() / f"{record_name(provider, base_url, model, str(context_length or ''))}.json"


def save_result(result: BenchResult) -> Path:
    from .files import replace
    from .redact import redact_data

    path = result_path(result.provider, result.base_url, result.model, result.context_length)
    replace(path, json.dumps(redact_data(result.to_dict())).encode())  # no URL password in a file
    return path


def last_result(provider: str, base_url: str, model: str, context_length: int | None) -> dict | None:
    """The last bench of this server, model and window, as saved; None when there is none."""
    from .files import read_regular

    try:
        record = json.loads(read_regular(result_path(provider, base_url, model, context_length), MAX_RESULT_BYTES))
    except (OSError, ValueError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def kept_figures(record: dict) -> dict[str, Any]:
    """The figures of a kept result that status shows, each a number or None (the file is
    lmprep's own, but any file can be changed: nothing in it is trusted)."""
    from .agents import AGENTS

    figures: dict[str, Any] = {name: _float(record.get(name)) for name in (
        "prefill_tps", "decode_tps", "first_turn_s", "next_turn_s", "reused_share", "measured_at")}
    figures["context_length"] = _int(record.get("context_length"))
    agent = record.get("agent")
    figures["agent"] = agent if agent in AGENTS else None
    return figures


def summary(record: dict) -> str | None:
    """"prefill 1,250 tok/s, first turn ≈ 11 s" from a saved result; None when it has no speeds."""
    prefill = _float(record.get("prefill_tps"))
    first = _float(record.get("first_turn_s"))
    if not prefill:
        return None
    text = f"prefill {prefill:,.0f} tok/s"
    from .agents import agent_module

    agent = kept_figures(record)["agent"]
    if first:
        text += f", {agent_module(agent).LABEL + ' ' if agent else ''}first turn ≈ {_seconds(first)}"
    if record.get("cache_works") is False:
        text += ", prefix cache not reused"
    return text


def _seconds(value: float) -> str:
    return f"{value:.1f} s" if value < 10 else f"{value:,.0f} s"


def projected_first_turn(record: dict | None, agent: str) -> float | None:
    """``agent``'s first turn, in seconds, on the server a kept result measured: the result's
    own projection when it was for this agent, else this agent's measured prompt size at the
    measured prefill speed. None where there is no result or the agent's size is unknown."""
    if not record:
        return None
    figures = kept_figures(record)
    if figures["agent"] == agent and figures["first_turn_s"]:
        return figures["first_turn_s"]
    from .agents import agent_module

    first_request = getattr(agent_module(agent), "FIRST_REQUEST", None)
    if not figures["prefill_tps"] or first_request is None or not first_request.tokens:
        return None
    return first_request.tokens / figures["prefill_tps"]

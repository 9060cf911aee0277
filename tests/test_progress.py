"""Progress rendering: plain lines for pipes and logs, a live display on a terminal, or nothing."""

from __future__ import annotations

import io
import threading
import time
import types

import pytest

from lmprep import progress
from lmprep.events import ChildOutput, Notice, Step, Transfer, WaitEnded, WaitStarted
from lmprep.progress import (
    LiveReporter,
    PlainReporter,
    QuietReporter,
    RateMeter,
    describe_transfer,
    human_bytes,
    human_duration,
    make_reporter,
    use_colour,
)

GB = 1_000_000_000


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    """A manual clock for lmprep.progress only (the rest of the process keeps real time)."""
    fake = FakeClock()
    monkeypatch.setattr(progress, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    return fake


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class NoIsatty:
    def write(self, text):  # pragma: no cover - never written to
        return len(text)


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def spinner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lmprep-spinner"]


# --------------------------------------------------------------------------- formatting


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (1536, "1.5 KB"),
        (999_949, "999.9 KB"),
        (12_300_000, "12.3 MB"),
        (13 * GB, "13.0 GB"),
        (1500 * GB, "1500.0 GB"),  # GB is the largest unit
        (12.7, "13 B"),
    ],
)
def test_human_bytes(count, expected):
    assert human_bytes(count) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0s"),
        (0.4, "0s"),
        (0.5, "1s"),
        (59.4, "59s"),
        (59.5, "1m00s"),
        (61, "1m01s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (3661, "1h01m"),
        (86400 + 120, "24h02m"),
    ],
)
def test_human_duration(seconds, expected):
    assert human_duration(seconds) == expected


@pytest.mark.parametrize(
    ("event", "rate", "expected"),
    [
        (Transfer("x", GB // 2, GB), None, "500.0 MB of 1.0 GB (50%)"),
        (Transfer("x", GB // 2, GB), 10_000_000, "500.0 MB of 1.0 GB (50%), 10.0 MB/s, 50s left"),
        (Transfer("x", 0, 13 * GB), 50_000_000, "0 B of 13.0 GB (0%), 50.0 MB/s, 4m20s left"),
        (Transfer("x", GB, GB), 10_000_000, "1.0 GB of 1.0 GB (100%), 10.0 MB/s"),
        (Transfer("x", 2 * GB, GB), None, "2.0 GB of 1.0 GB (100%)"),  # never above 100%
        (Transfer("x", 5_000_000, None), None, "5.0 MB"),
        (Transfer("x", 5_000_000, None), 1_000_000, "5.0 MB, 1.0 MB/s"),
        (Transfer("x", 5_000_000, 0), None, "5.0 MB"),
    ],
)
def test_describe_transfer(event, rate, expected):
    assert describe_transfer(event, rate) == expected


def test_rate_meter():
    meter = RateMeter(window=5.0)
    assert meter.add(0, now=100.0) is None  # one sample: no rate yet
    assert meter.add(10, now=100.1) is None  # under 0.2 s: too short to tell
    assert meter.add(1000, now=101.0) == pytest.approx(1000.0)
    assert meter.add(3000, now=102.0) == pytest.approx(1500.0)


def test_rate_meter_forgets_old_samples():
    meter = RateMeter(window=5.0)
    meter.add(0, now=0.0)
    meter.add(100, now=1.0)
    # A fast start followed by a slow minute: only the recent window counts.
    assert meter.add(10_100, now=11.0) == pytest.approx(1000.0)
    assert meter.add(10_200, now=12.0) == pytest.approx(100.0)


def test_rate_meter_restart_gives_no_rate():
    meter = RateMeter()
    meter.add(5000, now=0.0)
    assert meter.add(100, now=1.0) is None  # completed went backwards (a new layer)


def test_rate_meter_uses_the_clock(clock):
    meter = RateMeter()
    assert meter.add(0) is None
    clock.advance(2)
    assert meter.add(4000) == pytest.approx(2000.0)


# --------------------------------------------------------------------------- choosing a reporter


def test_make_reporter_quiet_wins():
    assert isinstance(make_reporter(TTY(), quiet=True), QuietReporter)
    assert isinstance(make_reporter(io.StringIO(), quiet=True, live=True), QuietReporter)


def test_make_reporter_plain_for_pipes():
    reporter = make_reporter(io.StringIO()).inner
    assert isinstance(reporter, PlainReporter)


def test_make_reporter_live_for_terminals(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    reporter = make_reporter(TTY()).inner
    assert isinstance(reporter, LiveReporter)
    assert reporter.colour is True


def test_make_reporter_plain_on_dumb_terminal(monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    assert isinstance(make_reporter(TTY()).inner, PlainReporter)


def test_make_reporter_explicit_choices(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert isinstance(make_reporter(io.StringIO(), live=True).inner, LiveReporter)
    assert isinstance(make_reporter(TTY(), live=False).inner, PlainReporter)
    assert make_reporter(TTY(), colour=False).inner.colour is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert make_reporter(TTY()).inner.colour is False


def test_quiet_reporter_accepts_everything():
    reporter = QuietReporter()
    for event in (Step("s"), Notice("n"), Transfer("t", 1, 2), ChildOutput(b"x\n", "stdout"), WaitStarted("w"), WaitEnded("w", 1.0, True)):
        assert reporter(event) is None
    reporter.close()


@pytest.mark.parametrize(
    ("stream", "environ", "expected"),
    [
        (TTY(), {"TERM": "xterm-256color"}, True),
        (TTY(), {}, True),
        (TTY(), {"NO_COLOR": "1"}, False),
        (TTY(), {"NO_COLOR": "anything", "TERM": "xterm"}, False),
        (TTY(), {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (TTY(), {"TERM": "dumb"}, False),
        (io.StringIO(), {"TERM": "xterm"}, False),
        (NoIsatty(), {}, False),
    ],
)
def test_use_colour(stream, environ, expected):
    assert use_colour(stream, environ) is expected


def test_use_colour_on_a_closed_stream():
    stream = io.StringIO()
    stream.close()
    assert use_colour(stream, {}) is False


def test_use_colour_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("TERM", "xterm")
    assert use_colour(TTY()) is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(TTY()) is False


# --------------------------------------------------------------------------- plain reporter

LMS_OUTPUT = (
    b"\x1b[?25l\x1b[36m\xe2\xa0\x8b\x1b[0m Resolving openai/gpt-oss-20b...\r\x1b[2K"
    b"\x1b[32m\xe2\x9c\x93\x1b[0m Resolved \x1b[1mopenai/gpt-oss-20b\x1b[22m\n"
    + b"".join(
        b"\r\x1b[2K\x1b[36mDownloading\x1b[39m [" + b"=" * i + b" " * (10 - i) + b"] " + str(i * 10).encode() + b"%"
        for i in range(11)
    )
    + b"\r\n\x1b]0;lms\x07\x1b[32mFinished downloading\x1b[0m\r\n\x1b[?25h"
)


def test_plain_reporter_never_writes_carriage_returns_or_escapes(clock):
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    for i in range(0, len(LMS_OUTPUT), 7):  # arbitrary chunking, as a pipe delivers it
        reporter(ChildOutput(LMS_OUTPUT[i : i + 7], "stdout"))
        clock.advance(0.5)
    reporter(ChildOutput(b"\x1b[31merror:\x1b[0m half a line\r", "stderr"))
    reporter.close()
    out = stream.getvalue()
    assert "\r" not in out
    assert "\x1b" not in out
    assert "\x07" not in out
    lines = out.splitlines()
    # Real lines all come through, redraws only now and then, the tail at close.
    assert "✓ Resolved openai/gpt-oss-20b" in lines
    assert "Finished downloading" in lines
    assert "error: half a line" in lines
    redraws = [line for line in lines if line.startswith("Downloading")]
    assert 1 <= len(redraws) < 11


def test_plain_reporter_formats_events():
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    reporter(Step("Probing LM Studio at http://localhost:1234/v1"))
    reporter(Notice("LM_API_TOKEN is set but the server does not need it"))
    reporter(WaitStarted("Loading openai/gpt-oss-20b"))
    reporter(WaitEnded("Loaded openai/gpt-oss-20b", 12.345, ok=True))
    reporter.close()
    assert lines_of(stream) == [
        "Probing LM Studio at http://localhost:1234/v1",
        "warning: LM_API_TOKEN is set but the server does not need it",
        "Loading openai/gpt-oss-20b...",
        "Loaded openai/gpt-oss-20b (12.3 s)",
    ]


def test_plain_reporter_throttles_transfers(clock):
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    for second in range(12):  # one event a second, 1 GB total
        reporter(Transfer("Pulling gpt-oss:20b", second * 50_000_000, GB))
        clock.advance(1.0)
    lines = lines_of(stream)
    # Printed at t=0, 5 and 10 only.
    assert len(lines) == 3
    assert lines[0] == "Pulling gpt-oss:20b: 0 B of 1.0 GB (0%)"
    assert lines[1].startswith("Pulling gpt-oss:20b: 250.0 MB of 1.0 GB (25%), 50.0 MB/s, ")
    assert lines[2].startswith("Pulling gpt-oss:20b: 500.0 MB of 1.0 GB (50%), 50.0 MB/s, ")


def test_plain_reporter_always_prints_a_finished_transfer(clock):
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    reporter(Transfer("Pulling m", 0, 1000))
    reporter(Transfer("Pulling m", 500, 1000))  # same instant: throttled
    reporter(Transfer("Pulling m", 1000, 1000))  # same instant, but finished
    assert lines_of(stream) == ["Pulling m: 0 B of 1.0 KB (0%)", "Pulling m: 1.0 KB of 1.0 KB (100%)"]


def test_plain_reporter_unknown_total_is_throttled(clock):
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    for _ in range(20):
        reporter(Transfer("Pulling m", 1, None))
        reporter(Transfer("Pulling m", 2, None))
    assert lines_of(stream) == ["Pulling m: 1 B"]


def test_plain_reporter_throttles_redraws_but_not_lines(clock):
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    for i in range(10):
        reporter(ChildOutput(f"progress {i}%\r".encode(), "stdout"))
        clock.advance(1.0)
    reporter(ChildOutput(b"line\n", "stdout"))
    for i in range(10, 20):
        reporter(ChildOutput(f"progress {i}%\r".encode(), "stdout"))
        clock.advance(1.0)
    reporter.close()
    # A redraw surfaces when the next chunk arrives (its "\r" might have been half of "\r\n"),
    # then at most one per interval; the latest before a line comes before it, the last at close.
    assert lines_of(stream) == ["progress 0%", "progress 5%", "progress 9%", "line", "progress 10%",
                                "progress 15%", "progress 19%"]


def test_plain_reporter_keeps_the_order_of_a_bar_and_the_other_streams_line(clock):
    """`lms get` draws its bar on stdout (after a "\\r", never ending the line), then writes
    "Finalizing download..." to stderr: the 100% comes first, once, without the spinner frame."""
    stream = io.StringIO()
    reporter = PlainReporter(stream, interval=5.0)
    reporter(ChildOutput("⠋ Resolving download plan...\r".encode(), "stdout"))
    reporter(ChildOutput("\r⠙ Resolving download plan...".encode(), "stdout"))
    for percent in (10, 50, 99, 100):
        reporter(ChildOutput(f"\r\x1b[2K[####] {percent}% | 2.25 GB/s".encode(), "stdout"))
        clock.advance(0.5)
    reporter(ChildOutput(b"Finalizing download...\n", "stderr"))
    reporter(Step("Downloaded m"))
    reporter.close()
    assert lines_of(stream) == ["Resolving download plan...", "[####] 100% | 2.25 GB/s",
                                "Finalizing download...", "Downloaded m"]


def test_plain_reporter_keeps_streams_apart():
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    reporter(ChildOutput(b"out-", "stdout"))
    reporter(ChildOutput(b"err-", "stderr"))
    reporter(ChildOutput(b"line\n", "stdout"))
    reporter(ChildOutput(b"line\n", "stderr"))
    assert lines_of(stream) == ["out-line", "err-line"]


def test_plain_reporter_close_flushes_and_can_repeat():
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    reporter(ChildOutput(b"no newline at the end", "stdout"))
    assert stream.getvalue() == ""
    reporter.close()
    reporter.close()
    assert stream.getvalue() == "no newline at the end\n"


def test_plain_reporter_drops_immediate_repeats():
    stream = io.StringIO()
    reporter = PlainReporter(stream)
    reporter(Step("Probing"))
    reporter(Step("Probing"))
    reporter(Step("Done"))
    reporter(Step("Probing"))
    assert lines_of(stream) == ["Probing", "Done", "Probing"]


# --------------------------------------------------------------------------- live reporter


def test_live_reporter_draws_a_bar_in_place(clock):
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(Transfer("Pulling m", 0, 1000))
    clock.advance(1.0)
    reporter(Transfer("Pulling m", 500, 1000))
    clock.advance(1.0)
    reporter(Transfer("Pulling m", 1000, 1000))
    reporter.close()
    out = stream.getvalue()
    assert "\n" not in out  # a bar is redrawn in place, never scrolled
    assert "\rPulling m [------------------------] 0 B of 1.0 KB (0%)" in out.replace("\x1b[2K", "")
    assert "Pulling m [############------------] 500 B of 1.0 KB (50%), 500 B/s, 1s left" in out
    assert "Pulling m [########################] 1.0 KB of 1.0 KB (100%), 500 B/s" in out
    assert out.endswith("\r\x1b[2K")  # close() clears the status line


def test_live_reporter_throttles_redraws_but_not_the_end(clock):
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    for completed in range(0, 1000, 10):
        reporter(Transfer("Pulling m", completed, 1000))  # all at the same instant
    reporter(Transfer("Pulling m", 1000, 1000))
    out = stream.getvalue()
    assert out.count("Pulling m") == 2
    assert "(100%)" in out


def test_live_reporter_bar_without_total(clock):
    stream = TTY()
    LiveReporter(stream, colour=False)(Transfer("Pulling m", 2_000_000, None))
    assert stream.getvalue() == "\r\x1b[2KPulling m 2.0 MB"


def test_live_reporter_lines_clear_the_status_first(clock):
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(Transfer("Pulling m", 1, 10))
    reporter(Step("Pulled"))
    reporter(Notice("careful"))
    assert stream.getvalue().endswith("\r\x1b[2K→ Pulled\nwarning: careful\n")


def test_live_reporter_colour():
    plain, coloured = TTY(), TTY()
    for stream, colour in ((plain, False), (coloured, True)):
        reporter = LiveReporter(stream, colour=colour)
        reporter(Step("Probing"))
        reporter(WaitEnded("Loaded m", 1.0, ok=True))
        reporter(WaitEnded("Loading m failed", 2.0, ok=False))
    assert plain.getvalue() == "→ Probing\n✓ Loaded m (1.0 s)\n✗ Loading m failed (2.0 s)\n"
    assert "\x1b[36m→ \x1b[0mProbing\n" in coloured.getvalue()
    assert "\x1b[32m✓ \x1b[0mLoaded m (1.0 s)\n" in coloured.getvalue()
    assert "\x1b[31m✗ \x1b[0mLoading m failed (2.0 s)\n" in coloured.getvalue()


def test_live_reporter_redraws_a_childs_bar_as_its_own_status_line():
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(ChildOutput("⠋ 10%\r⠙ 20%\r".encode(), "stdout"))
    assert stream.getvalue() == "\r\x1b[2K⠙ 20%"


def test_live_reporter_starts_the_other_streams_line_on_a_line_of_its_own():
    """On a terminal `lms` leaves its bar without a line end; its stderr line used to be glued to
    it (`...2.25 GB/sFinalizing download...`)."""
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(ChildOutput(b"\r\x1b[32m[####]\x1b[0m 100% | 2.25 GB/s", "stdout"))
    reporter(ChildOutput(b"Finalizing download...\n", "stderr"))
    reporter(ChildOutput(b"\rmore", "stdout"))
    reporter(Step("Downloaded m"))
    assert stream.getvalue().replace("\r\x1b[2K", "|") == (
        "|[####] 100% | 2.25 GB/s|[####] 100% | 2.25 GB/s\nFinalizing download...\n|more|more\n→ Downloaded m\n")


def test_a_childs_last_line_without_its_end_stays_on_the_screen():
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(ChildOutput(b"\x1b[31mError: no such model\x1b[0m", "stderr"))
    reporter.close()
    assert stream.getvalue() == "\r\x1b[2KError: no such model\r\x1b[2KError: no such model\n"


def test_a_transfer_not_over_never_reads_100_percent_and_its_end_is_printed_once(clock):
    """An Ollama pull whose layers so far are complete (more may follow): 99% until the pull says
    it is over; then 100%, once, however often it is repeated."""
    plain = io.StringIO()
    reporter = PlainReporter(plain, interval=5.0)
    reporter(Transfer("Pulling m", 1000, 1000, final=False))
    clock.advance(6)
    reporter(Transfer("Pulling m", 1000, 1000, final=False))
    for _ in range(3):
        reporter(Transfer("Pulling m", 1000, 1000, final=True))
        clock.advance(0.5)
    assert lines_of(plain) == ["Pulling m: 1.0 KB of 1.0 KB (99%)", "Pulling m: 1.0 KB of 1.0 KB (100%)"]
    tty = TTY()
    live = LiveReporter(tty, colour=False)
    live(Transfer("Pulling m", 1000, 1000, final=False))
    assert "[#######################-] 1.0 KB of 1.0 KB (99%)" in tty.getvalue()
    live(Transfer("Pulling m", 1000, 1000, final=True))
    live(Transfer("Pulling m", 1000, 1000, final=True))
    assert tty.getvalue().count("(100%)") == 1


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_live_reporter_spinner_stops_on_wait_ended():
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(WaitStarted("Loading m"))
    try:
        assert len(spinner_threads()) == 1
        assert _wait_for(lambda: "Loading m" in stream.getvalue()), "the spinner never drew"
    finally:
        reporter(WaitEnded("Loaded m", 0.3, ok=True))
    assert spinner_threads() == []
    out = stream.getvalue()
    assert "\r\x1b[2K⠋ Loading m " in out
    assert out.endswith("\r\x1b[2K✓ Loaded m (0.3 s)\n")
    size = len(out)
    time.sleep(0.25)
    assert len(stream.getvalue()) == size  # nothing draws after the end


def test_live_reporter_close_stops_the_spinner():
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(WaitStarted("Loading m"))
    assert _wait_for(lambda: "Loading m" in stream.getvalue())
    reporter.close()
    assert spinner_threads() == []
    assert stream.getvalue().endswith("\r\x1b[2K")


def test_live_reporter_second_wait_replaces_the_first():
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(WaitStarted("first"))
    reporter(WaitStarted("second"))
    try:
        assert len(spinner_threads()) == 1
    finally:
        reporter.close()
    assert spinner_threads() == []


def test_live_reporter_close_without_anything():
    stream = TTY()
    reporter = LiveReporter(stream, colour=True)
    reporter.close()
    reporter.close()
    assert stream.getvalue() == ""
    assert spinner_threads() == []


def test_every_message_reaches_the_screen_without_secrets_or_escapes():
    from lmprep.redact import register_secret

    register_secret("tok-abcdef123")
    stream = io.StringIO()
    reporter = make_reporter(stream, live=False)
    reporter(Step("Checking http://alice:hunter2@host/v1 with tok-abcdef123"))
    reporter(Notice("model \x1b]0;pwned\x07x\x1b[2J served"))
    reporter.close()
    text = stream.getvalue()
    assert "hunter2" not in text and "tok-abcdef123" not in text and "\x1b" not in text
    assert "http://alice:***@host/v1" in text


# --------------------------------------------------------------------------- the terminal's width


def draws_of(stream: io.StringIO) -> list[str]:
    return [draw for draw in stream.getvalue().split("\r\x1b[2K") if draw]


@pytest.mark.parametrize("columns", [120, 80, 60, 40])
def test_a_transfer_line_fits_the_terminal_and_keeps_its_numbers(clock, monkeypatch, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    label = "Pulling hf.co/bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M"
    reporter(Transfer(label, 0, 4_700_000_000))
    clock.advance(1.0)
    reporter(Transfer(label, 1_200_000_000, 4_700_000_000))
    numbers = "1.2 GB of 4.7 GB (26%), 1.2 GB/s, 3s left" if columns > 60 else "1.2 GB of 4.7 GB (26%)"
    for draw in draws_of(stream):
        assert len(draw) <= columns - 1, draw
    last = draws_of(stream)[-1]
    assert last.startswith("Pulling") and last.endswith(f"Q4_K_M {numbers}") or last.endswith(f"] {numbers}"), last
    if columns == 120:
        assert last == f"{label} [###----------] {numbers}"  # the bar narrows first
    else:
        assert "[" not in last and "…" in last  # then it goes, and the name loses its middle


def test_a_bar_narrows_before_it_goes(clock, monkeypatch):
    monkeypatch.setenv("COLUMNS", "52")
    stream = TTY()
    LiveReporter(stream, colour=False)(Transfer("Pulling llama3", 500, 1000))
    assert draws_of(stream) == ["Pulling llama3 [######------] 500 B of 1.0 KB (50%)"]


def test_a_long_wait_message_fits_and_keeps_its_seconds(monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    reporter(WaitStarted("Loading hf.co/bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M into memory"))
    try:
        assert _wait_for(lambda: "s" in "".join(draws_of(stream)))
    finally:
        reporter.close()
    for draw in draws_of(stream):
        assert len(draw) <= 39 and "…" in draw and draw.endswith("s"), draw


def test_a_childs_redraw_wider_than_the_terminal_loses_its_middle(monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    stream = TTY()
    reporter = LiveReporter(stream, colour=False)
    bar = "⠋ Downloading [" + "=" * 29 + ">] 100.00% | 12.10 GB/12.10 GB | 210.00 MB/s"
    reporter(ChildOutput(("\r" + bar).encode(), "stdout"))
    (draw,) = draws_of(stream)
    assert len(draw) == 49 and draw.startswith("⠋ Downloading [===") and draw.endswith("| 210.00 MB/s")
    reporter(ChildOutput(b"\n", "stdout"))  # the line, once it ends, is printed whole (it may wrap)
    assert stream.getvalue().endswith(bar + "\n")


@pytest.mark.parametrize(("value", "columns"), [("100", 100), ("", 80), ("0", 80), ("-5", 80), ("abc", 80),
                                                ("9" * 5000, 80), ("00001" + "0" * 5000, 80), ("٣٣", 80)])
def test_terminal_columns_falls_back_to_columns_then_80(value, columns):
    assert progress.terminal_columns(TTY(), {"COLUMNS": value}) == columns


def test_terminal_columns_asks_the_terminal_first():
    import os
    import pty

    master, slave = pty.openpty()
    try:
        import fcntl
        import struct
        import termios

        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 93, 0, 0))
        with open(slave, "w", closefd=False) as stream:
            assert progress.terminal_columns(stream, {"COLUMNS": "200"}) == 93
    finally:
        os.close(master)
        os.close(slave)

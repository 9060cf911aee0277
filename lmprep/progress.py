"""Render progress events: a live display on a terminal, plain lines elsewhere, or nothing."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import TextIO

from .events import ChildOutput, Event, Notice, Step, Transfer, WaitEnded, WaitStarted
from .termtext import TerminalLines, columns_of, fit_columns, strip_spinner

PLAIN_PROGRESS_INTERVAL = 5.0
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def use_colour(stream: TextIO, environ=os.environ) -> bool:
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_columns(stream: TextIO, environ=os.environ) -> int:
    """The width of the terminal ``stream`` writes to (asked each time: it may be resized), else
    COLUMNS, else 80."""
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
        if columns > 0:
            return columns
    except (AttributeError, ValueError, OSError):  # not a terminal, or a StringIO (UnsupportedOperation)
        pass
    value = environ.get("COLUMNS", "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 4 and int(value) > 0 else 80


def make_reporter(stream: TextIO, *, quiet: bool = False, live: bool | None = None, colour: bool | None = None):
    """The reporter for ``stream``: live (TTY) display, plain lines, or silence."""
    if quiet:
        return QuietReporter()
    if live is None:
        live = _isatty(stream) and os.environ.get("TERM") != "dumb"
    if colour is None:
        colour = use_colour(stream)
    return SafeReporter(LiveReporter(stream, colour) if live else PlainReporter(stream))


class SafeReporter:
    """Every message on its way to the screen: no secret in it (tokens, URL passwords), and
    no escape sequence or control character from the server texts it quotes."""

    def __init__(self, inner) -> None:
        self.inner = inner

    def __call__(self, event: Event) -> None:
        if isinstance(event, (Step, Notice, WaitStarted, WaitEnded)):
            from .redact import redact
            from .termtext import printable

            event = event._replace(message=printable(redact(event.message)))
        elif isinstance(event, Transfer):
            from .redact import redact
            from .termtext import printable

            event = event._replace(label=printable(redact(event.label)))
        self.inner(event)

    def close(self) -> None:
        self.inner.close()


class QuietReporter:
    def __call__(self, event: Event) -> None:
        pass

    def close(self) -> None:
        pass


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class RateMeter:
    """Transfer rate over a sliding window of recent samples."""

    def __init__(self, window: float = 5.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, int]] = deque()

    def add(self, completed: int, now: float | None = None) -> float | None:
        now = time.monotonic() if now is None else now
        self._samples.append((now, completed))
        while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
            self._samples.popleft()
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 - t0 < 0.2 or c1 < c0:
            return None
        return (c1 - c0) / (t1 - t0)


def describe_transfer(event: Transfer, rate: float | None) -> str:
    if event.total:
        percent = min(100.0, 100.0 * event.completed / event.total)
        if not event.finished:
            percent = min(percent, 99.0)  # 100% only once it is over (more layers of a pull may follow)
        text = f"{human_bytes(event.completed)} of {human_bytes(event.total)} ({percent:.0f}%)"
    else:
        text = f"{human_bytes(event.completed)}"
    if rate:
        text += f", {human_bytes(rate)}/s"
        if event.total and event.total > event.completed:
            text += f", {human_duration((event.total - event.completed) / rate)} left"
    return text


class PlainReporter:
    """Lines for logs and pipes: no ``\\r``, no colour, progress at most every few seconds."""

    def __init__(self, stream: TextIO, interval: float = PLAIN_PROGRESS_INTERVAL) -> None:
        self.stream = stream
        self.interval = interval
        self._last_progress = float("-inf")
        self._rate = RateMeter()
        self._children: dict[str, TerminalLines] = {}
        self._unshown: dict[str, str] = {}  # each child stream's latest redraw not printed (throttled)
        self._last_line: str | None = None
        self._finished: set[str] = set()  # transfers whose last line was printed

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            self._line(event.message)
        elif isinstance(event, Notice):
            self._line(f"warning: {event.message}")
        elif isinstance(event, Transfer):
            rate = event.rate or self._rate.add(event.completed)
            if event.finished:
                if event.label in self._finished:
                    return  # its last line once, however often the server repeats it
                self._finished.add(event.label)
                self._line(f"{event.label}: {describe_transfer(event, rate)}")
            elif self._due():
                self._line(f"{event.label}: {describe_transfer(event, rate)}")
        elif isinstance(event, ChildOutput):
            self._child(event)
        elif isinstance(event, WaitStarted):
            self._line(f"{event.message}...")
        elif isinstance(event, WaitEnded):
            self._line(f"{event.message} ({event.seconds:.1f} s)")

    def _child(self, event: ChildOutput) -> None:
        cleaner = self._children.setdefault(event.stream, TerminalLines())
        for text, redraw in cleaner.feed(event.data):
            text = strip_spinner(text)
            if not text:
                continue
            if not redraw:
                # A real line (from either stream) comes after the progress drawn before it:
                # `lms` draws 100% on stdout, then says "Finalizing download..." on stderr.
                self._show_unshown(event.stream)
                self._line(text, own=event.stream)
            elif self._due():
                self._unshown.pop(event.stream, None)
                self._line(text, own=event.stream)
            else:
                self._unshown[event.stream] = text

    def _show_unshown(self, stream: str) -> None:
        """The latest redraw of every child stream, where not printed yet; the other streams'
        bars being drawn (after a ``\\r``, not ended yet) too."""
        for name, cleaner in self._children.items():
            partial = cleaner.take_partial() if name != stream else None
            latest = strip_spinner(partial) if partial else self._unshown.get(name)
            self._unshown.pop(name, None)
            if latest:
                self._line(latest)

    def close(self) -> None:
        for name, cleaner in self._children.items():
            lines = [strip_spinner(text) for text, _ in cleaner.close()]
            unshown = self._unshown.pop(name, None)
            if unshown and not lines:
                lines = [unshown]
            for text in lines:
                if text:
                    self._line(text)
        self._children.clear()

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_progress >= self.interval:
            self._last_progress = now
            return True
        return False

    def _line(self, text: str, own: str | None = None) -> None:
        if own is None and self._unshown:
            # lmprep's own line: what a child drew before it comes first.
            for name in list(self._unshown):
                self._line(self._unshown.pop(name), own=name)
        if text == self._last_line:
            return
        self._last_line = text
        self.stream.write(text + "\n")
        self.stream.flush()


class LiveReporter:
    """A terminal display: a progress bar for downloads, a spinner with elapsed time for waits,
    and a child's lines, its redraws drawn as the status line; every redrawn line fits the
    terminal's width."""

    BAR_WIDTH = 24
    MIN_BAR_WIDTH = 8
    LABEL_WIDTH_WITH_RATE = 24  # narrower than this for the label, and the rate goes
    MIN_LABEL_WIDTH = 12

    def __init__(self, stream: TextIO, colour: bool) -> None:
        self.stream = stream
        self.colour = colour
        self._lock = threading.Lock()
        self._rate = RateMeter()
        self._status_shown = False
        self._spinner: threading.Thread | None = None
        self._spinner_stop = threading.Event()
        self._last_draw = 0.0
        self._children: dict[str, TerminalLines] = {}
        self._finished: set[str] = set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            self._println(self._paint("→ ", "36") + event.message)
        elif isinstance(event, Notice):
            self._println(self._paint("warning: ", "33") + event.message)
        elif isinstance(event, Transfer):
            self._draw_transfer(event)
        elif isinstance(event, ChildOutput):
            self._child(event)
        elif isinstance(event, WaitStarted):
            self._start_spinner(event.message)
        elif isinstance(event, WaitEnded):
            self._stop_spinner()
            mark = self._paint("✓ ", "32") if event.ok else self._paint("✗ ", "31")
            self._println(f"{mark}{event.message} ({event.seconds:.1f} s)")

    def close(self) -> None:
        self._stop_spinner()
        with self._lock:
            self._clear_status()
            self._commit_partials()  # a child's last words (an error without its line end) stay
            self.stream.flush()

    def _paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def _child(self, event: ChildOutput) -> None:
        """A child's output, never its bytes: its lines as lines, and what it redraws (its bar, a
        line not ended yet) as lmprep's own status line, cut to the terminal's width. Its escape
        sequences (titles, clipboard writes, screen clears, queries) never reach the terminal."""
        cleaner = self._children.setdefault(event.stream, TerminalLines())
        with self._lock:
            latest = None
            for text, redraw in cleaner.feed(event.data):
                if redraw:
                    latest = text
                else:
                    self._clear_status()
                    self._commit_partials(but=event.stream)
                    self.stream.write(text + "\n")
                    latest = None
            latest = cleaner.peek_partial(lines_too=True) or latest
            if latest:
                self._draw_status(fit_columns(latest, self._columns(), middle=True))
            self.stream.flush()

    def _columns(self) -> int:
        # One column short of the width: a line that fills the last column wraps on some terminals.
        return terminal_columns(self.stream) - 1

    def _println(self, text: str) -> None:
        with self._lock:
            self._clear_status()
            self._commit_partials()
            self.stream.write(text + "\n")
            self.stream.flush()

    def _commit_partials(self, but: str | None = None) -> None:
        """What the children drew and did not end (`lms`'s last bar, a line without its end) stays
        above the line that follows, as a line of its own."""
        for name, cleaner in self._children.items():
            partial = cleaner.take_partial(lines_too=True) if name != but else None
            if partial:
                self.stream.write(partial + "\n")

    def _status(self, text: str) -> None:
        with self._lock:
            self._draw_status(text)
            self.stream.flush()

    def _draw_status(self, text: str) -> None:
        """Redraw the status line in place: never wider than the terminal, or each redraw would
        leave a row behind."""
        self.stream.write("\r\x1b[2K" + fit_columns(text, self._columns()))
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[2K")
            self._status_shown = False

    def _draw_transfer(self, event: Transfer) -> None:
        rate = event.rate or self._rate.add(event.completed)
        now = time.monotonic()
        finished = event.finished
        if finished and event.label in self._finished:
            return  # drawn full once already
        if now - self._last_draw < 0.1 and not finished:
            return
        self._last_draw = now
        numbers = describe_transfer(event, rate)
        # The numbers are what a user reads: the bar gets narrower, then goes, then the label
        # (a long `hf.co/...` name) loses its middle; on a very narrow terminal the rate goes.
        columns = self._columns()
        if columns - columns_of(numbers) - 1 < self.LABEL_WIDTH_WITH_RATE:
            numbers = describe_transfer(event, None)
        room = columns - columns_of(numbers) - 1
        width = min(self.BAR_WIDTH, room - columns_of(event.label) - 3)
        if event.total and width >= self.MIN_BAR_WIDTH:
            filled = int(width * min(1.0, event.completed / event.total))
            if not finished:
                filled = min(filled, width - 1)
            bar = "[" + "#" * filled + "-" * (width - filled) + "] "
        else:
            bar = ""
        if finished:
            self._finished.add(event.label)
        label = fit_columns(event.label, max(room - len(bar), self.MIN_LABEL_WIDTH), middle=True)
        self._status(f"{label} {bar}{numbers}")

    def _start_spinner(self, message: str) -> None:
        self._stop_spinner()
        self._spinner_stop.clear()
        started = time.monotonic()

        def spin() -> None:
            frame = 0
            while not self._spinner_stop.wait(0.1):
                elapsed = time.monotonic() - started
                seconds = f" {elapsed:.1f}s"
                shown = fit_columns(message, self._columns() - 2 - len(seconds), middle=True)
                self._status(f"{_SPINNER[frame % len(_SPINNER)]} {shown}{seconds}")
                frame += 1

        self._spinner = threading.Thread(target=spin, name="lmprep-spinner", daemon=True)
        self._spinner.start()

    def _stop_spinner(self) -> None:
        if self._spinner is not None:
            self._spinner_stop.set()
            self._spinner.join()
            self._spinner = None

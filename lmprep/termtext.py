"""Turn a terminal program's redraws (``\\r``, ANSI codes) into clean lines."""

from __future__ import annotations

import codecs
import re

# Patterns as text: re compiles (and caches) them on first use, which most runs never reach
# (text that str.isprintable() passes has none of these characters).
_ANSI = (
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erase line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: window titles, hyperlinks
    r"|\x1b[ -/]*[0-~]"  # other escapes: ESC 7, ESC c, charset selection ESC ( B
)
# C0 controls but \t and \n, DEL, the C1 controls (U+009B is a one-character CSI on some
# terminals), and the bidirectional overrides that make text read other than it is.
_CONTROL = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_ANY_CONTROL = "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"


#: A spinner frame at the start of a line (`lms`: "⠋ Resolving download plan..."): braille dots.
_SPINNER = "^[\u2800-\u28ff]+\\s*"


def strip_spinner(text: str) -> str:
    """``text`` without the spinner frame a terminal program put before it (plain lines keep
    the words, not an animation frozen at one frame)."""
    return re.sub(_SPINNER, "", text)


def seconds_text(seconds: float) -> str:
    """A duration as people read it: 2.98997 → "3", 0.25 → "0.25", 90 → "90" (a time limit cut
    to what is left of the deadline is no more precise than that)."""
    return f"{round(seconds, 2 if seconds < 1 else 1):g}"


def strip_ansi(text: str) -> str:
    if text.isprintable():  # no control character, so no escape sequence either
        return text
    return re.sub(_CONTROL, "", re.sub(_ANSI, "", text))


def printable(text: str) -> str:
    """``text`` as it may reach a terminal on one line: escape sequences and every control
    character (line breaks and tabs too) removed; spaces kept as they are. Server text (model
    ids, messages) goes through this, or one_line, before it is shown."""
    if text.isprintable():
        return text
    return re.sub(_ANY_CONTROL, "", re.sub(_ANSI, "", text))


def one_line(text: str, limit: int = 500) -> str:
    """Text from a server made safe to print inside lmprep's own messages: ANSI codes and
    control characters removed, whitespace (``\\r``, ``\\n``) collapsed, cut to ``limit``."""
    text = " ".join(strip_ansi(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_word(value) -> str:
    """A status word from a server (`paused`, `loading`), fit for a message."""
    return one_line(str(value), 40) if value else "unknown"


class TerminalLines:
    """Feed raw bytes; get back finished lines.

    Each result is ``(text, redraw)``: ``redraw`` is True for a segment that ended in
    ``\\r`` (a progress bar the program will overwrite), False for a real line.
    Empty segments are dropped.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._redrawing = False

    def feed(self, data: bytes) -> list[tuple[str, bool]]:
        self._pending += self._decoder.decode(data)
        return self._drain(final=False)

    def close(self) -> list[tuple[str, bool]]:
        self._pending += self._decoder.decode(b"", final=True)
        return self._drain(final=True)

    def take_partial(self) -> str | None:
        """The clean text of the redraw being written (a progress bar drawn after a ``\\r``, not
        ended yet), consumed; None when there is none, or the segment is a line still being written."""
        if not self._redrawing:
            return None  # a line still being written, not a redraw: it waits for its end
        text, held = self._pending, ""
        if text.endswith("\r"):
            text, held = text[:-1], "\r"
        self._pending = held
        return strip_ansi(text).strip() or None

    def _drain(self, final: bool) -> list[tuple[str, bool]]:
        results: list[tuple[str, bool]] = []
        # "\r\n" is an ordinary line end, not a redraw. A "\r" at the very end of the data
        # may be the first half of a "\r\n" split across chunks: hold it for the next feed.
        text, held = self._pending, ""
        if not final and text.endswith("\r"):
            text, held = text[:-1], "\r"
        parts = re.split(r"(\r\n|\n|\r)", text)
        self._pending = "" if final else parts.pop() + held
        if len(parts) > 1:
            self._redrawing = parts[-1] == "\r"  # what is pending was started after a "\r"
        if final:
            parts.append("")
        for segment, end in zip(parts[0::2], parts[1::2]):
            text = strip_ansi(segment).strip()
            if text:
                results.append((text, end == "\r"))
        return results

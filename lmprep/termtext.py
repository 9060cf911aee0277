"""Turn a terminal program's redraws (``\\r``, ANSI codes) into clean lines."""

from __future__ import annotations

import codecs
import re

# Patterns as text: re compiles (and caches) them on first use, which most runs never reach
# (text that str.isprintable() passes has none of these characters).
_ANSI = (
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # CSI (and its 8-bit form): colours, cursor moves, erase, queries
    # Strings up to their terminator (BEL, ST, 8-bit ST) or, cut off, to the next ESC or the end, as
    # a terminal swallows them: OSC (titles, hyperlinks, OSC 52 clipboard writes), DCS, SOS, PM, APC.
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]"  # other escapes: ESC 7, ESC c, charset selection ESC ( B
)
# C0 controls but \t and \n, DEL, the C1 controls (U+009B is a one-character CSI on some
# terminals), and the bidirectional overrides that make text read other than it is.
_CONTROL = "[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
_ANY_CONTROL = "[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"

#: The most of one line of a child's output kept (its start and its end, the middle dropped): a
#: program that never ends a line costs neither memory nor a rescan of what it wrote before.
LINE_HEAD = 1024
LINE_TAIL = 3072


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


def listed(items, last: str = "and") -> str:
    """"A, B and C" (or "A, B or C"): a list as a sentence says it."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def one_line(text: str, limit: int = 500) -> str:
    """Text from a server made safe to print inside lmprep's own messages: ANSI codes and
    control characters removed, whitespace (``\\r``, ``\\n``) collapsed, cut to ``limit``."""
    text = " ".join(strip_ansi(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def one_word(value) -> str:
    """A status word from a server (`paused`, `loading`), fit for a message."""
    return one_line(str(value), 40) if value else "unknown"


def columns_of(text: str) -> int:
    """How many terminal columns ``text`` (printable) takes: East Asian wide and full-width
    characters two, combining marks and format characters none."""
    if text.isascii():
        return len(text)
    return sum(_char_columns(ch) for ch in text)


def _char_columns(ch: str) -> int:
    if ch < "\u0300":
        return 1
    import unicodedata

    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def fit_columns(text: str, columns: int, *, middle: bool = False) -> str:
    """``text`` cut to ``columns`` terminal columns, an ellipsis where it was cut: at the end, or
    in the middle (the start and the end of a model name, or of a progress line's numbers, say most)."""
    if columns_of(text) <= columns:
        return text
    if columns < 1:
        return ""
    room = columns - 1  # the ellipsis
    if not middle:
        return _first_columns(text, room) + "…"
    head = _first_columns(text, room // 2)
    tail = _first_columns(text[::-1], room - columns_of(head))[::-1]
    return head + "…" + tail


def _first_columns(text: str, columns: int) -> str:
    used = 0
    for index, ch in enumerate(text):
        used += _char_columns(ch)
        if used > columns:
            return text[:index]
    return text


class TerminalLines:
    """Feed raw bytes; get back finished lines.

    Each result is ``(text, redraw)``: ``redraw`` is True for a segment that ended in
    ``\\r`` (a progress bar the program will overwrite), False for a real line.
    Empty segments are dropped. Each piece of data is looked at once (linear in what the
    program writes), and a line longer than LINE_HEAD + LINE_TAIL characters keeps its start
    and its end around an ellipsis, whatever the chunking.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""  # the line being written: all of it, or its first LINE_HEAD characters
        self._tail: str | None = None  # once it is too long: its last LINE_TAIL characters
        self._held = ""  # a "\\r" at the end of the data: maybe the first half of a "\\r\\n"
        self._redrawing = False

    def feed(self, data: bytes) -> list[tuple[str, bool]]:
        return self._take(self._decoder.decode(data), final=False)

    def close(self) -> list[tuple[str, bool]]:
        return self._take(self._decoder.decode(b"", final=True), final=True)

    def take_partial(self, lines_too: bool = False) -> str | None:
        """The clean text of the redraw being written (a progress bar drawn after a ``\\r``, not
        ended yet), consumed; None when there is none, or the segment is a line still being
        written (unless ``lines_too``: then that line's start, consumed too)."""
        text = self.peek_partial(lines_too)
        if text is not None:
            self._pending, self._tail = "", None
        return text

    def peek_partial(self, lines_too: bool = False) -> str | None:
        """What take_partial gives, left in place (for a display that redraws it)."""
        if not self._redrawing and not lines_too:
            return None  # a line still being written, not a redraw: it waits for its end
        return self._clean(self._line()) or None

    def _line(self) -> str:
        return self._pending if self._tail is None else self._pending + "…" + self._tail

    def _append(self, text: str) -> None:
        if self._tail is not None:
            self._tail = (self._tail + text)[-LINE_TAIL:]
            return
        self._pending += text
        if len(self._pending) > LINE_HEAD + LINE_TAIL:
            self._pending, self._tail = self._pending[:LINE_HEAD], self._pending[-LINE_TAIL:]

    @staticmethod
    def _clean(segment: str) -> str:
        return strip_ansi(segment).replace("\t", " ").strip()

    def _take(self, text: str, final: bool) -> list[tuple[str, bool]]:
        # "\r\n" is an ordinary line end, not a redraw. A "\r" at the very end of the data
        # may be the first half of a "\r\n" split across chunks: hold it for the next feed.
        text, self._held = self._held + text, ""
        if not final and text.endswith("\r"):
            text, self._held = text[:-1], "\r"
        parts = re.split(r"(\r\n|\n|\r)", text)
        rest = parts.pop()
        results: list[tuple[str, bool]] = []
        if parts:
            self._redrawing = parts[-1] == "\r"  # what is pending was started after a "\r"
        for segment, end in zip(parts[0::2], parts[1::2]):
            self._append(segment)
            line, self._pending, self._tail = self._line(), "", None
            cleaned = self._clean(line)
            if cleaned:
                results.append((cleaned, end == "\r"))
        self._append(rest)
        if final:
            cleaned = self._clean(self._line())
            self._pending, self._tail = "", None
            if cleaned:
                results.append((cleaned, False))
        return results

"""TerminalLines: a child's raw terminal output (redraws, ANSI codes) → clean lines."""

from __future__ import annotations

import pytest

from lmprep.termtext import TerminalLines, strip_ansi


def run(*chunks: bytes) -> list[tuple[str, bool]]:
    """Feed every chunk, then close; all results in order."""
    lines = TerminalLines()
    results: list[tuple[str, bool]] = []
    for chunk in chunks:
        results += lines.feed(chunk)
    return results + lines.close()


def test_newline_ends_a_line():
    lines = TerminalLines()
    assert lines.feed(b"one\ntwo\n") == [("one", False), ("two", False)]
    assert lines.close() == []


def test_carriage_return_is_a_redraw():
    assert run(b"10%\r20%\r30%\rdone\n") == [("10%", True), ("20%", True), ("30%", True), ("done", False)]


def test_crlf_is_a_line_not_a_redraw():
    assert run(b"one\r\ntwo\r\n") == [("one", False), ("two", False)]


@pytest.mark.parametrize("split", range(1, len(b"one\r\ntwo\r\n")))
def test_crlf_split_across_chunks_is_still_a_line(split):
    data = b"one\r\ntwo\r\n"
    assert run(data[:split], data[split:]) == [("one", False), ("two", False)]


def test_trailing_carriage_return_waits_for_the_next_chunk():
    lines = TerminalLines()
    assert lines.feed(b"50%\r") == []  # could be the first half of "\r\n"
    assert lines.feed(b"60%\r") == [("50%", True)]
    assert lines.close() == [("60%", True)]


def test_incomplete_line_is_held_until_its_end():
    lines = TerminalLines()
    assert lines.feed(b"Down") == []
    assert lines.feed(b"loading") == []
    assert lines.feed(b" model\nnext") == [("Downloading model", False)]
    assert lines.close() == [("next", False)]


def test_close_flushes_the_tail():
    lines = TerminalLines()
    assert lines.feed(b"first\nunterminated tail") == [("first", False)]
    assert lines.close() == [("unterminated tail", False)]


def test_close_on_nothing():
    assert TerminalLines().close() == []


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"\x1b[32mgreen\x1b[0m\n", "green"),
        (b"\x1b[1;31mbold red\x1b[m\n", "bold red"),
        (b"\x1b[2K\x1b[1G50% [=====>    ]\n", "50% [=====>    ]"),
        (b"\x1b[?25lhidden cursor\x1b[?25h\n", "hidden cursor"),
        (b"\x1b[38;5;208morange\x1b[39m\n", "orange"),
        (b"\x1b]0;window title\x07text\n", "text"),
        (b"\x1b]8;;https://lmstudio.ai\x1b\\link\x1b]8;;\x1b\\\n", "link"),
        (b"\x1b(B\x1b[mplain\n", "plain"),  # tput sgr0
        (b"\x1b7saved\x1b8\n", "saved"),
        (b"a\x07b\x08c\x00d\n", "abcd"),  # stray control characters
        (b"  padded  \n", "padded"),
        (b"tab\there\n", "tab here"),  # a tab moves the cursor to where lmprep cannot tell
    ],
)
def test_escape_codes_are_stripped(data, expected):
    assert run(data) == [(expected, False)]


def test_escape_codes_stripped_in_redraws():
    out = run(b"\x1b[2K\r\x1b[36m\xe2\xa0\x8b\x1b[0m Downloading 10%\r\x1b[2K\x1b[36mdone\x1b[0m\n")
    assert out == [("⠋ Downloading 10%", True), ("done", False)]
    for text, _ in out:
        assert "\x1b" not in text and "\r" not in text


def test_empty_segments_are_dropped():
    assert run(b"\n\n\r\r\r\n  \n\x1b[2K\r\x1b[0m\nreal\n\n") == [("real", False)]


def test_utf8_split_across_chunks():
    data = "Téléchargement ⠋ 模型 🚀\n".encode()
    for split in range(1, len(data)):
        assert run(data[:split], data[split:]) == [("Téléchargement ⠋ 模型 🚀", False)], split


def test_utf8_byte_by_byte():
    data = "ü→🚀\r✓ fin\n".encode()
    assert run(*(data[i : i + 1] for i in range(len(data)))) == [("ü→🚀", True), ("✓ fin", False)]


def test_invalid_utf8_is_replaced_not_raised():
    assert run(b"bad \xff byte\n") == [("bad \ufffd byte", False)]


def test_truncated_utf8_at_close_is_replaced():
    lines = TerminalLines()
    assert lines.feed("ok\n€".encode()[:-1]) == [("ok", False)]
    assert lines.close() == [("\ufffd", False)]


def test_strip_ansi():
    assert strip_ansi("\x1b[1mA\x1b[0m\x1b]2;t\x07B\rC") == "ABC"
    assert strip_ansi("plain text") == "plain text"


@pytest.mark.parametrize("seconds, text", [(2.98997, "3"), (0.25, "0.25"), (90.0, "90"), (12.34, "12.3"),
                                           ])
def test_seconds_are_written_as_people_read_them(seconds, text):
    from lmprep.termtext import seconds_text

    assert seconds_text(seconds) == text


def test_spinner_frames_are_not_words():
    from lmprep.lms import last_lines
    from lmprep.termtext import strip_spinner

    assert strip_spinner("⠋ Resolving download plan...") == "Resolving download plan..."
    assert strip_spinner("50% ⠋") == "50% ⠋"
    assert last_lines("⠋ Resolving\r⠙ Resolving\nError: no such model\n") == "Resolving / Resolving / Error: no such model"


def test_a_child_past_its_time_limit_is_said_in_round_seconds():
    import sys

    from lmprep.proc import run_captured

    with pytest.raises(TimeoutError) as caught:
        run_captured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.2998997)
    assert str(caught.value).endswith("did not finish within 0.3 s")

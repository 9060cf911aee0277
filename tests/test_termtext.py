"""TerminalLines: a child's raw terminal output (redraws, ANSI codes) → clean lines."""

from __future__ import annotations

import pytest

from lmprep.termtext import LINE_HEAD, LINE_TAIL, TerminalLines, columns_of, fit_columns, printable, strip_ansi


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


@pytest.mark.parametrize("sequence", [
    "\x1b]52;c;cm0gLXJmIH4K\x07", "\x1b]52;c;cm0gLXJmIH4K\x1b\\", "\x1b]0;title\x07", "\x1b]2;title\x1b\\",
    "\x1b[2J", "\x1b[6n", "\x1bP1$qm\x1b\\", "\x1b_apc\x1b\\", "\x1b^pm\x1b\\", "\x1bXsos\x1b\\",
    "\u009b2J", "\u009d0;title\u009c", "\u009d0;title\x07", "\u00901$qm\u009c",
    "\x1b]52;c;cut off",  # a string sequence never terminated: swallowed, as a terminal would
])
def test_every_kind_of_terminal_sequence_is_removed_whole(sequence):
    for clean in (strip_ansi, printable):
        assert clean(f"a{sequence}b") in ("ab", "a"), repr(clean(f"a{sequence}b"))
    assert run(f"a{sequence}b\n".encode()) in ([("ab", False)], [("a", False)])


def test_a_bare_escape_and_c1_controls_are_dropped():
    assert printable("a\x1b") == "a" and printable("a\x1bcb") == "ab"
    assert printable("a\u0085\u008eb") == "ab"


@pytest.mark.parametrize(("chunk", "length"), [(1, 9000), (7, 30_000), (4096, 300_000), (65536, 300_000),
                                               (1 << 20, 300_000)])
def test_a_line_without_an_end_keeps_its_start_and_its_end_whatever_the_chunking(chunk, length):
    data = b"start " + b"x" * length + b" end\r" + b"y" * length + b"\n"
    lines = TerminalLines()
    results = []
    for offset in range(0, len(data), chunk):
        results += lines.feed(data[offset:offset + chunk])
        partial = lines.peek_partial(lines_too=True)
        assert partial is None or len(partial) <= LINE_HEAD + LINE_TAIL + 1
    results += lines.close()
    assert [redraw for _, redraw in results] == [True, False]
    (first, _), (second, _) = results
    assert first.startswith("start xxx") and first.endswith("xxx end") and "…" in first
    assert len(first) == len(second) == LINE_HEAD + 1 + LINE_TAIL
    assert second == "y" * LINE_HEAD + "…" + "y" * LINE_TAIL


def test_a_line_just_short_of_the_limit_is_kept_whole():
    text = "z" * (LINE_HEAD + LINE_TAIL)
    assert run((text + "\n").encode()) == [(text, False)]


@pytest.mark.parametrize(("text", "columns"), [
    ("plain", 5), ("模型 coder", 10), ("e\u0301te\u0301", 3), ("🚀 go", 5), ("", 0), ("\u200bx", 1),
])
def test_columns_counts_wide_characters_twice_and_marks_not_at_all(text, columns):
    assert columns_of(text) == columns


@pytest.mark.parametrize(("text", "columns", "middle", "expected"), [
    ("hf.co/bartowski/Qwen2.5-Coder", 40, False, "hf.co/bartowski/Qwen2.5-Coder"),
    ("hf.co/bartowski/Qwen2.5-Coder", 12, False, "hf.co/barto…"),
    ("hf.co/bartowski/Qwen2.5-Coder", 12, True, "hf.co…-Coder"),
    ("模型模型模型", 7, False, "模型模…"),  # a wide character that would cross the limit goes whole
    ("模型模型模型", 7, True, "模…模型"),
    ("abc", 1, True, "…"),
    ("abc", 0, False, ""),
])
def test_fit_columns_cuts_at_the_end_or_in_the_middle(text, columns, middle, expected):
    fitted = fit_columns(text, columns, middle=middle)
    assert fitted == expected
    assert columns_of(fitted) <= columns


@pytest.mark.parametrize("items, last, text", [
    ([], "and", ""), (["A"], "and", "A"), (["A", "B"], "and", "A and B"),
    (["A", "B", "C"], "and", "A, B and C"), (["`-p a`", "`-p b`", "`-p c`"], "or", "`-p a`, `-p b` or `-p c`"),
])
def test_a_list_reads_as_a_sentence_says_it(items, last, text):
    from lmprep.termtext import listed

    assert listed(items, last) == text


def test_three_servers_running_are_named_as_a_sentence_names_them():
    from lmprep.detect import several_running

    error = several_running([("lmstudio", "LM Studio", "http://a/v1"), ("ollama", "Ollama", "http://b/v1"),
                             ("llamacpp", "llama.cpp server", "http://c/v1")])
    assert error.message.endswith("LM Studio (http://a/v1), Ollama (http://b/v1) and llama.cpp server (http://c/v1).")
    assert "Choose one with `-p lmstudio`, `-p ollama` or `-p llamacpp`" in error.hint

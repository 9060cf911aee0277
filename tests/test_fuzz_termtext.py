"""Fuzzed `lms` output (TerminalLines and last_lines on arbitrary bytes and chunkings, and
`lms ps --json`), and one_line, which makes any server text printable."""

from __future__ import annotations

import json
import re
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.config import Sourced
from lmprep.lms import last_lines, lms_loaded_contexts
from lmprep.termtext import LINE_HEAD, LINE_TAIL, TerminalLines, one_line, strip_ansi

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(500),
    deadline=None,
    database=None,
    # The only function-scoped fixture is conftest's autouse HOME isolation: nothing here
    # reads HOME, so sharing it between examples is harmless.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# Bytes a terminal program really writes, mixed with anything at all.
TERMINAL_PIECES = st.sampled_from([
    b"\r", b"\n", b"\r\n", b"\x1b", b"\x1b[", b"\x1b[2K", b"\x1b[1A", b"\x1b[32m", b"\x1b[0m", b"\x1b]0;title\x07",
    b"\x1b]8;;http://x\x1b\\", b"\x1b(B", b"\x1b7", b"\x9b", b"\x07", b"\x08", b"\t", b" ", b"\x00", b"\x7f",
    b"50%", b"Downloading", "é".encode(), "⠋".encode(), "😀".encode(), "é".encode()[:1], b"\xff", b"\xc3",
])
TERMINAL_BYTES = st.one_of(
    st.binary(max_size=300),
    st.lists(st.one_of(TERMINAL_PIECES, st.binary(max_size=8)), max_size=60).map(b"".join),
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(cut, len(data)) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[start:end] for start, end in zip(edges, edges[1:])]


def run(chunks: list[bytes]) -> list[tuple[str, bool]]:
    lines = TerminalLines()
    results: list[tuple[str, bool]] = []
    for chunk in chunks:
        results += lines.feed(chunk)
    return results + lines.close()


def assert_clean(text: str) -> None:
    assert text == text.strip()
    assert text
    assert "\r" not in text and "\n" not in text and "\x1b" not in text
    # No C0 control character but TAB survives (they would garble a log or a terminal).
    assert not any(ord(c) < 0x20 and c != "\t" or c == "\x7f" for c in text), repr(text)


@FUZZ
@given(TERMINAL_BYTES, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
@example(b"a\r", [1])
@example(b"one\r\ntwo\r\n", [4])
@example("é".encode(), [1])
@example(b"\x1b[2K50%\r\x1b[2K100%\r\n", [1, 2, 9, 15])
def test_any_chunking_gives_the_same_clean_lines(data, cuts):
    whole = run([data])
    assert run(chunked(data, cuts)) == whole
    assert run([data[i:i + 1] for i in range(len(data))]) == whole
    for text, redraw in whole:
        assert isinstance(redraw, bool)
        assert_clean(text)


# Long runs of a piece, so that lines pass the bound (LINE_HEAD + LINE_TAIL characters) kept of one.
LONG_BYTES = st.lists(st.tuples(st.one_of(TERMINAL_PIECES, st.binary(min_size=1, max_size=4)),
                                st.integers(min_value=1, max_value=3000)), max_size=8).map(
    lambda runs: b"".join(piece * times for piece, times in runs))


@FUZZ
@given(LONG_BYTES, st.lists(st.integers(min_value=0, max_value=20000), max_size=12))
@example(b"x" * 4096 + b"\x1b]52;c;" + b"A" * 5000 + b"\x07\n", [4090, 9000])
def test_long_lines_are_cut_the_same_whatever_the_chunking(data, cuts):
    whole = run([data])
    assert run(chunked(data, cuts)) == whole
    for text, _ in whole:
        assert_clean(text)
        assert len(text) <= LINE_HEAD + 1 + LINE_TAIL


PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
ENDINGS = st.sampled_from(["\n", "\r", "\r\n"])
STYLES = st.sampled_from(["", "\x1b[31m", "\x1b[1;32m", "\x1b[2K", "\x1b]0;title\x07", "\x1b(B"])


@FUZZ
@given(st.lists(st.tuples(STYLES, PRINTABLE, ENDINGS), max_size=12), st.lists(st.integers(0, 300), max_size=6))
def test_printable_lines_survive_colours_and_redraws(lines, cuts):
    """Text between the escapes comes out intact; `\\r` marks a redraw, `\\n` and `\\r\\n` a line."""
    data = "".join(style + text + ("\x1b[0m" if style else "") + end for style, text, end in lines).encode()
    parts = re.split(r"(\r\n|\n|\r)", data.decode())  # a "\r" right before a "\n" makes one "\r\n"
    texts = [(strip_ansi(text).strip(), end) for text, end in zip(parts[0::2], parts[1::2])]
    expected = [(text, end == "\r") for text, end in texts if text]
    assert [text for text, _ in expected] == [text.strip() for _, text, _ in lines if text.strip()]
    assert run(chunked(data, cuts)) == expected


@FUZZ
@given(st.text(max_size=300), st.integers(min_value=1, max_value=8))
@example("line one\r\x1b[2Kline two\n\x1b[31mError: nope\x1b[0m\n", 5)
def test_last_lines_is_one_clean_line(text, count):
    said = last_lines(text, count)
    assert isinstance(said, str)
    assert "\r" not in said and "\n" not in said and "\x1b" not in said
    if "\n" not in text and "\r" not in text:
        assert " / " not in said or " / " in text  # one line in, one line out


@FUZZ
@given(st.text(max_size=200))
def test_strip_ansi_leaves_no_escape(text):
    cleaned = strip_ansi(text)
    assert "\x1b" not in cleaned
    assert strip_ansi(cleaned) == cleaned


@FUZZ
@given(st.one_of(st.text(max_size=200), TERMINAL_BYTES.map(lambda data: data.decode("utf-8", "replace"))),
       st.integers(min_value=1, max_value=600))
@example("x" * 5000, 500)
def test_one_line_is_one_short_clean_line(text, limit):
    line = one_line(text, limit)
    assert len(line) <= limit
    assert line == line.strip()
    assert not any(ord(c) < 0x20 or c == "\x7f" for c in line), repr(line)
    assert not any(c.isspace() and c != " " for c in line)
    if len(line) < limit:
        assert one_line(line, limit) == line


LMS_PS = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10),
                  st.sampled_from(["modelKey", "identifier", "contextLength", 10**30, -1])),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(["modelKey", "identifier", "contextLength", "x"]), inner, max_size=4),
        ),
        max_leaves=10,
    ).map(lambda value: json.dumps(value).encode()),
    st.sampled_from([b"[" * 3000, b"9" * 5000, b"", b"\xff", b'[{"modelKey": "A", "contextLength": 4096}]']),
)


@FUZZ
@given(LMS_PS, st.sampled_from([0, 0, 1, 127]))
@example(b"[" * 3000, 0)
def test_lms_ps_json_output(monkeypatch, output, status):
    """`lms ps --json` (whatever it prints) gives {model: positive context length}, never an exception."""
    import lmprep.lms
    from lmprep.proc import Captured

    ran = []

    def fake_run(argv, **kwargs):  # lms_loaded_contexts runs `lms` through run_captured
        ran.append(argv[1:])
        return Captured(status, output, b"")

    monkeypatch.setattr(lmprep.lms, "run_captured", fake_run)
    contexts = lms_loaded_contexts(Sourced(sys.executable, "test"))
    assert ran == [["ps", "--json"]]  # this output, not a real process, is what was read
    assert isinstance(contexts, dict)
    for key, length in contexts.items():
        assert isinstance(key, str) and key == key.casefold()
        assert isinstance(length, int) and not isinstance(length, bool) and length > 0


def test_lms_ps_json_output_is_read(monkeypatch):
    """The fuzzed test above reads what its fake `lms` prints (it once ran a real process instead)."""
    import lmprep.lms
    from lmprep.proc import Captured

    output = b'[{"modelKey": "Qwen/Q", "identifier": "q:2", "contextLength": 4096}, {"modelKey": "x"}]'
    monkeypatch.setattr(lmprep.lms, "run_captured", lambda argv, **kwargs: Captured(0, output, b""))
    assert lms_loaded_contexts(Sourced(sys.executable, "test")) == {"qwen/q": 4096, "q:2": 4096}

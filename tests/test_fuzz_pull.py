"""Fuzzed Ollama pull streams: PullTracker.follow over arbitrary NDJSON lines.

A pull ends when Ollama says `success`, or with DownloadFailedError (download_failed, exit 7):
a line that is not JSON, an `error` object, or a stream that stops early. Progress reports
stay sane whatever the numbers: never negative, never above the total they announce.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.config import ProviderSettings, Sourced
from lmprep.errors import DownloadFailedError, ExitCode
from lmprep.events import Step, Transfer
from lmprep.providers.ollama import Ollama, PullTracker

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(500),
    deadline=None,
    database=None,
    # The only function-scoped fixture is conftest's autouse HOME isolation, unused here.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

COUNTS = st.one_of(
    st.integers(min_value=-10, max_value=10**13), st.sampled_from([10**100, -(10**100), 0, True, False, None]),
    st.floats(allow_nan=True), st.text(max_size=5),
)
DIGESTS = st.one_of(st.sampled_from(["sha256:aaa", "sha256:bbb", "sha256:ccc", ""]), st.integers(), st.none())
STATUSES = st.one_of(
    st.sampled_from(["pulling manifest", "pulling sha256:aaa", "verifying sha256 digest", "writing manifest",
                     "success", "Success", "downloading", "\x1b[31mred\x1b[0m", "a\rb\nc", "", " "]),
    st.text(max_size=20), st.integers(), st.none(),
)
PROGRESS = st.fixed_dictionaries(
    {}, optional={"status": STATUSES, "digest": DIGESTS, "total": COUNTS, "completed": COUNTS}
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)
ITEMS = st.one_of(
    PROGRESS, PROGRESS, PROGRESS,
    st.fixed_dictionaries({"error": JSON}, optional={"status": STATUSES}),
    JSON,
)
LINES = st.one_of(
    ITEMS.map(lambda item: json.dumps(item, allow_nan=True)),
    st.sampled_from(["", " ", "\t", "not json", "{", "NaN", "[" * 3000, '{"status": "success"', "\x00",
                     '{"completed": ' + "9" * 5000 + "}", '{"status":"success"}', '{"error": null}']),
    st.text(max_size=30),
)


def tracker(events: list) -> PullTracker:
    settings = ProviderSettings("ollama", "ollama", Sourced("http://127.0.0.1:9/v1", "test"), None, None, None)
    return PullTracker("some/model", Ollama(settings, report=events.append))


def expected_outcome(lines: list[str]) -> str:
    """What the contract says a stream means: "ok" or "failed"."""
    for line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            return "failed"
        if not isinstance(item, dict):
            continue
        if "error" in item:
            return "failed"
        if item.get("status") == "success":
            return "ok"
    return "failed"


@FUZZ
@given(st.lists(LINES, max_size=25))
@example(["[" * 3000])
@example(['{"error": null}'])
@example(['{"status": "pulling x", "digest": "sha256:a", "total": 10, "completed": 50}', '{"status": "success"}'])
@example(['{"digest": "d", "total": -5, "completed": -1}', '{"digest": "e", "total": true, "completed": 10}'])
@example(['{"status": "a\\rb\\u001b[2Kc"}', '{"status": "success"}'])
def test_pull_stream_succeeds_or_fails_as_download_failed(lines):
    events: list = []
    try:
        tracker(events).follow(iter(lines))
    except DownloadFailedError as exc:
        assert exc.state == "download_failed" and exc.exit_code == ExitCode.DOWNLOAD_FAILED
        assert exc.message and exc.hint
        assert expected_outcome(lines) == "failed", exc
    else:
        assert expected_outcome(lines) == "ok"

    for event in events:
        if isinstance(event, Transfer):
            assert isinstance(event.completed, int) and not isinstance(event.completed, bool)
            assert event.completed >= 0
            if event.total is not None:
                assert isinstance(event.total, int) and not isinstance(event.total, bool)
                assert event.total > 0
                # The summed progress never exceeds the summed total it is shown against.
                assert event.completed <= event.total, event
        else:
            assert isinstance(event, Step)
            # The server's status text becomes one clean line (non-TTY output has no \r).
            message = event.message
            assert "\r" not in message and "\n" not in message and "\x1b" not in message, message


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["sha256:a", "sha256:b", "sha256:c"]),
                          st.integers(min_value=0, max_value=10**12), st.integers(min_value=1, max_value=10**12)),
                min_size=1, max_size=20))
def test_well_formed_progress_sums_layers(updates):
    """Ollama's own shape: per-layer completed/total; the tracker sums the latest of each layer."""
    lines = [json.dumps({"status": f"pulling {d}", "digest": d, "total": t, "completed": c}) for d, c, t in updates]
    events: list = []
    tracker(events).follow(iter([*lines, '{"status": "success"}']))
    transfers = [e for e in events if isinstance(e, Transfer)]
    assert [e.final for e in transfers] == [False] * len(updates) + [True]  # over at `success` only
    assert transfers[-1][:3] == transfers[-2][:3]
    transfers.pop()
    assert len(transfers) == len(updates)
    latest: dict[str, tuple[int, int]] = {}
    for (digest, completed, total), event in zip(updates, transfers):
        latest[digest] = (min(completed, total), total)
        assert event.completed == sum(c for c, _ in latest.values())
        assert event.total == sum(t for _, t in latest.values())

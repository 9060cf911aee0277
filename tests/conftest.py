"""Shared fixtures: every test runs with its own HOME, config, state and cache dirs,
and none of the user's lmprep/provider variables."""

from __future__ import annotations

import pytest

ISOLATED_VARIABLES = (
    "LMPREP_PROVIDER", "LMPREP_MODEL", "LMPREP_BASE_URL", "LMPREP_LMS", "LMPREP_CONFIG", "LMPREP_DEBUG",
    "CODEX_OSS_BASE_URL", "CODEX_OSS_PORT", "OLLAMA_HOST", "LM_API_TOKEN", "NO_COLOR",
    "LM_STUDIO_BASE_URL", "LM_STUDIO_API_KEY", "CODEX_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in ISOLATED_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return home


from emulators.fixtures import (  # noqa: E402,F401
    emulator_programs, fake_lms, fake_programs, llamacpp_emulator, lmstudio_emulator, ollama_emulator)


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


from realserver.fixtures import llama_server, llama_server_binary, tiny_128k_gguf, tiny_gguf  # noqa: E402,F401


@pytest.fixture(autouse=True)
def mockable_loopback_transport(request, monkeypatch):
    """Tests that mock HTTP with pytest-httpx send loopback requests through httpx too, which it
    hooks; every other test (emulators, real servers, subprocesses) sends them over lmprep's
    own socket transport."""
    if "httpx_mock" in request.fixturenames:
        import lmprep.http

        monkeypatch.setattr(lmprep.http, "PLAIN_LOOPBACK", False)


#: The real agents that ran through lmprep exec and passed, as reported by the tests (also from
#: pytest-xdist's workers: each test says so in its report's user_properties).
REAL_AGENTS_RAN: list[str] = []
#: `lmprep bench`'s projection against each real agent: (projected, real) prefill seconds per pair.
BENCH_PAIRS: list[str] = []
SMOKE_SECONDS: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        BENCH_PAIRS.extend(value for key, value in report.user_properties if key == "bench_pairs")
    if report.when == "call" and report.passed:
        REAL_AGENTS_RAN.extend(value for key, value in report.user_properties if key == "real_agent_ran")
        SMOKE_SECONDS.extend(value for key, value in report.user_properties if key == "smoke_seconds")


def pytest_terminal_summary(terminalreporter):
    """Which real agents ran (the others were skipped, with the reason)."""
    reports = [r for outcome in ("passed", "failed", "skipped") for r in terminalreporter.stats.get(outcome, [])]
    if any("test_real_agents.py" in getattr(report, "nodeid", "") for report in reports):
        ran = ", ".join(sorted(REAL_AGENTS_RAN)) or "none"
        terminalreporter.write_line(f"real agents run through lmprep exec: {ran}")
    if SMOKE_SECONDS:
        terminalreporter.write_line(f"lmprep smoke, each real agent's run: {', '.join(sorted(SMOKE_SECONDS))}")
    for pairs in BENCH_PAIRS:
        terminalreporter.write_line(f"lmprep bench projected vs real prefill seconds, {pairs}")


def _hypothesis_profiles() -> None:
    """`ci` (set by .ci/run): every fuzz test's full count of examples; `dev` (the default): a
    fifth of it (see fuzzing.py), so that the suite stays quick where people run it by hand."""
    from hypothesis import settings

    from fuzzing import PROFILE, examples

    settings.register_profile("ci", settings(print_blob=True))
    settings.register_profile("dev", settings(max_examples=examples(100)))
    settings.load_profile(PROFILE)


_hypothesis_profiles()

"""The invariant suite: whatever a server does, every lmprep run ends with an exit code from the
table, within --timeout plus a margin, under an address-space limit (a memory regression fails
the test instead of taking the machine down), with no secret in any output or file, no
traceback, and on a terminal (a pseudo-terminal) nothing but text, ``\\r``, ``\\n``, colour and
lmprep's own erase-line, from any server or child. The installed lmprep against hostile servers
on 127.0.0.1; one case per behaviour, then Hypothesis mixes behaviours, routes and commands.

Figures (cases, wall time, peak RSS) are printed with ``-s``: ``pytest -s tests/test_invariants.py``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile as h
from e2e import lmprep_argv

pytestmark = pytest.mark.e2e

TIMEOUT = 2.0
#: Process start-up and exit on a busy CI machine, beyond the deadline itself.
MARGIN = 3.0
#: The address space each run gets: lmprep needs well under it; an unbounded read would not.
ADDRESS_SPACE = 1024 * 1024 * 1024
EXIT_CODES = {0, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
PASSWORD = "pw-hunter2-xyz"
TOKEN = "tok-Q7xv93kLmZp2Rw8sYt"
#: How lmprep's base URL spells loopback: each is loopback, none may go through the proxy.
LOOPBACK_SPELLINGS = ["127.0.0.1", "127.1", "0.0.0.0", "[::ffff:127.0.0.1]", "2130706433"]

BEHAVIOURS = {
    "trickle-headers": lambda: h.trickle_headers(0.2),
    "trickle-body": lambda: h.trickle_body(0.2),
    "endless-body": lambda: h.endless_body(),
    "endless-chunked": lambda: h.endless_body(chunked=True),
    "endless-line": h.endless_line,
    "gzip-bomb": lambda: h.gzip_bomb(256),
    "accept-close": lambda: h.accept_and_close,
    "accept-reset": lambda: h.accept_and_reset,
    "never-answer": lambda: h.never_answer,
    "reset-mid-stream": lambda: h.reset_mid_stream(b'{"status": "pulling manifest"}\n'),
    "deep-json": lambda: h.answer(b"[" * 100000),
    "not-json": lambda: h.answer(b"<html>\x1b]0;pwned\x07</html>"),
    "huge-numbers": lambda: h.answer(b'{"data": [{"id": "m", "meta": {"n_ctx": 1' + b"0" * 5000 + b'}}]}'),
    # A refusal that quotes the token and the URL password where lmprep cuts the text it quotes.
    "quotes-secrets": lambda: h.answer(("x" * 148 + f" {TOKEN} {PASSWORD} " + "y" * 480 + TOKEN).encode(),
                                       "401 Unauthorized"),
    "quotes-secrets-json": lambda: h.answer({"error": {"message": "z" * 490 + TOKEN + PASSWORD}}, "403 Forbidden"),
    "dash-model": lambda: h.answer({"data": [{"id": "--dangerously-bypass-approvals-and-sandbox", "owned_by": "x"}]}),
    "surrogate-model": lambda: h.answer(b'{"data": [{"id": "a\\ud800b", "owned_by": "x"}, {"id": "\xe9\x80\x9a-c"}]}'),
}
COMMANDS = {
    "ensure-ollama": ["-p", "ollama", "-m", "llama3"],
    "ensure-lmstudio": ["-p", "lmstudio", "-m", "m", "--warm-up", "wait"],
    "ensure-llamacpp-codex": ["-p", "llamacpp", "--for", "codex"],
    "status": ["status", "-p", "openai"],
    "auto-detect": [],
    "env": ["env", "-p", "vllm"],
}
figures = {"cases": 0, "max_seconds": 0.0, "max_rss_kib": 0, "worst": ""}


def limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_under_limits(args: list[str], env: dict) -> tuple[int, str, str, float, int]:
    """(exit code, stdout, stderr, seconds, peak RSS in KiB) of one lmprep run under RLIMIT_AS."""
    started = time.monotonic()
    process = subprocess.Popen(lmprep_argv() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=env, preexec_fn=limited)
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"lmprep {args} was still running {TIMEOUT + 30} s after --timeout {TIMEOUT}")
    seconds = time.monotonic() - started
    # ru_maxrss of the children waited for so far: the largest, which is what is bounded.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return process.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace"), seconds, peak


def fragments(secret: str) -> list[str]:
    """Every run of 8 characters of ``secret``: none may show, not only the whole."""
    return [secret[i:i + 8] for i in range(len(secret) - 7)]


def check_run(behaviour: str, command: str, hostile_path: str | None, host: str = "127.0.0.1") -> None:
    factory = BEHAVIOURS[behaviour]
    routes = h.ollama_routes(**({hostile_path.strip("/").replace("/", "_"): factory()} if hostile_path else {}))
    default = factory() if hostile_path is None else h.not_found
    with h.HostileServer(routes if hostile_path else {}, default) as server, h.HostileServer() as proxy:
        base = server.base_url.replace("http://127.0.0.1", f"http://alice:{PASSWORD}@{host}")
        proxies = {name: proxy.origin for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")}
        env = {**os.environ, **proxies, "LMPREP_BASE_URL": base, "LM_API_TOKEN": TOKEN}
        args = [*COMMANDS[command], "--timeout", str(TIMEOUT)]
        if command != "env":
            args.append("--json")
        code, stdout, stderr, seconds, peak = run_under_limits(args, env)
        assert proxy.connections == 0, f"a loopback request went through the proxy: {proxy.requests}"
    case = f"{behaviour} on {hostile_path or 'every route'} / {command} at {host}"
    figures["cases"] += 1
    if seconds > figures["max_seconds"]:
        figures["max_seconds"], figures["worst"] = seconds, case
    figures["max_rss_kib"] = max(figures["max_rss_kib"], peak)
    assert code in EXIT_CODES, f"{case}: exit {code}\n{stderr}"
    assert seconds < TIMEOUT + MARGIN, f"{case}: {seconds:.1f} s"
    assert "Traceback" not in stderr and "internal_error" not in stdout, f"{case}:\n{stderr}"
    for piece in fragments(PASSWORD) + fragments(TOKEN):
        assert piece not in stderr, case
        if command != "env":  # env's stdout is the agent's variables, which carry them on purpose
            assert piece not in stdout, case
    if command != "env":
        json.loads(stdout)  # exactly one JSON object
    state = Path(os.environ["XDG_STATE_HOME"])
    for path in state.rglob("*") if state.exists() else ():
        if path.is_file():
            text = path.read_text(errors="replace")
            assert PASSWORD not in text and TOKEN not in text, case


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_every_behaviour_on_every_route(behaviour):
    commands = sorted(COMMANDS)
    index = sorted(BEHAVIOURS).index(behaviour)
    check_run(behaviour, commands[index % len(commands)], None, LOOPBACK_SPELLINGS[index % len(LOOPBACK_SPELLINGS)])


@pytest.mark.parametrize("behaviour", ["trickle-body", "endless-line", "gzip-bomb", "reset-mid-stream",
                                       "never-answer", "huge-numbers"])
def test_every_behaviour_in_the_middle_of_an_ollama_pull(behaviour):
    check_run(behaviour, "ensure-ollama", "/api/pull")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(sorted(BEHAVIOURS)), st.sampled_from(sorted(COMMANDS)),
       st.sampled_from([None, "/api/pull", "/api/tags", "/v1/models", "/lmstudio-greeting", "/props"]),
       st.sampled_from(LOOPBACK_SPELLINGS))
def test_any_behaviour_any_route_any_command(behaviour, command, path, host):
    check_run(behaviour, command, path, host)


#: Every kind of escape sequence that makes a terminal act (OSC 52 writes the clipboard, OSC 0/2 the
#: title, CSI 2J clears the screen, CSI 6n makes it type an answer, DCS, the 8-bit forms, a bare ESC).
ESCAPES = ("\x1b]52;c;cm0gLXJmIH4K\x07 \x1b]52;c;cm0K\x1b\\ \x1b]0;pwned\x07 \x1b]2;pwned\x1b\\ \x1b[2J \x1b[6n "
           "\x1bP1$qm\x1b\\ \u009b2J \u009d0;pwned\u009c \x1b")
HOSTILE_TEXT_SERVERS = {
    # A pull whose status lines and error quote escapes.
    "pull-status": lambda: h.ollama_routes(api_pull=h.answer(
        (json.dumps({"status": "pulling " + ESCAPES}) + "\n" + json.dumps({"error": "bad " + ESCAPES}) + "\n").encode(),
        headers="X-Ignored: 1\r\n")),
    # Model ids with escapes, in Ollama's and the OpenAI listing.
    "model-ids": lambda: {**h.ollama_routes(api_tags=h.answer({"models": [{"name": "m" + ESCAPES}]})),
                          "/v1/models": h.answer({"data": [{"id": "m" + ESCAPES}]})},
    # Every route an error page of escapes.
    "error-body": lambda: {},
}
TERMINAL_COMMANDS = {
    "pull-status": ["-p", "ollama", "-m", "llama3"],
    "model-ids": ["status"],
    "error-body": ["-p", "openai", "-m", "m", "--warm-up", "wait"],
}


def check_terminal_run(case: str, args: list[str], env: dict, secrets: tuple[str, ...] = ()) -> None:
    """One run on a pseudo-terminal (human output, no --json): an exit code from the table, in
    time, no traceback, none of ``secrets``, and only text, \\r, \\n, colour and lmprep's own
    erase-line (a message may quote escapes made visible, as `\\x1b]0;...`)."""
    from pty_screen import run_on_terminal, unclean

    env = {**env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    started = time.monotonic()
    code, raw = run_on_terminal(lmprep_argv() + args + ["--timeout", str(TIMEOUT)], env, timeout=TIMEOUT + 30,
                                preexec_fn=limited)
    seconds = time.monotonic() - started
    text = raw.decode(errors="replace")
    assert code in EXIT_CODES, f"{case}: exit {code}\n{text}"
    assert seconds < TIMEOUT + MARGIN, f"{case}: {seconds:.1f} s"
    assert "Traceback" not in text and "internal_error" not in text, f"{case}:\n{text}"
    assert unclean(raw) == [], f"{case}:\n{text}"
    for secret in secrets:
        assert secret not in text, case


@pytest.mark.parametrize("server", sorted(HOSTILE_TEXT_SERVERS))
def test_only_clean_bytes_reach_a_terminal(server):
    """Servers quoting every kind of escape sequence, in pull status, model ids and error pages."""
    error_page = h.answer(("<html>" + ESCAPES + "</html>").encode(), "500 Internal Server Error")
    with h.HostileServer(HOSTILE_TEXT_SERVERS[server](), error_page) as hostile:
        check_terminal_run(server, TERMINAL_COMMANDS[server], {**os.environ, "LMPREP_BASE_URL": hostile.base_url})


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_every_behaviour_on_a_terminal(behaviour):
    commands = sorted(COMMANDS)
    command = commands[(sorted(BEHAVIOURS).index(behaviour) + 1) % len(commands)]
    with h.HostileServer({}, BEHAVIOURS[behaviour]()) as server:
        env = {**os.environ, "LMPREP_BASE_URL": server.base_url.replace("http://", f"http://alice:{PASSWORD}@"),
               "LM_API_TOKEN": TOKEN}
        # env prints the agent's variables, which carry the secrets on purpose
        check_terminal_run(f"{behaviour} / {command} on a terminal", COMMANDS[command], env,
                           () if command == "env" else (PASSWORD, TOKEN))


def test_only_clean_bytes_reach_a_terminal_from_lms(tmp_path, lmstudio_emulator, fake_lms):
    """`lms get` (the fake, talking to the LM Studio emulator) writing every escape sequence on both streams."""
    from pty_screen import run_on_terminal, unclean

    lmstudio_emulator.catalog = {"m": {"steps": 3, "step_seconds": 0.01}}
    writes = tmp_path / "writes.json"
    writes.write_text(json.dumps([["stdout", "\r" + ESCAPES + "\r50%" + ESCAPES, 1], ["stderr", ESCAPES + "\n", 1]]))
    env = {**os.environ, "FAKE_LMS_GET_WRITES": str(writes), "TERM": "xterm-256color"}
    code, raw = run_on_terminal(lmprep_argv() + ["-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "-m", "m",
                                                 "--warm-up", "off", "--timeout", "20"],
                                env, timeout=50, preexec_fn=limited)
    text = raw.decode(errors="replace")
    assert code == 0, text
    assert unclean(raw) == [], text
    assert "pwned" not in text and "cm0gLXJmIH4K" not in text


def test_zz_report_figures(capsys):
    with capsys.disabled():
        print(f"\ninvariant suite: {figures['cases']} runs, slowest {figures['max_seconds']:.2f} s "
              f"({figures['worst']}), peak RSS of any run {figures['max_rss_kib'] / 1024:.0f} MiB "
              f"under RLIMIT_AS {ADDRESS_SPACE >> 20} MiB")

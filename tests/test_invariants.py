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
import signal
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
#: What a run may take of memory (issue 17: runs reached 1.7 GB on objects the byte caps let in).
MAX_RSS_KIB = 200 * 1024
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
    # issue 17
    "tiny-objects": lambda: h.many_objects(63),
    "endless-sse-event": lambda: h.endless_lines(b"data: " + b"x" * 1000 + b"\n"),
    "int-refused-status": lambda: h.raw("HTTP/1.1 ²³¹ OK\r\nContent-Length: 2\r\n\r\n{}".encode("latin-1")),
    "int-refused-length": lambda: h.raw(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n{}"),
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
    import threading

    started = time.monotonic()
    process = subprocess.Popen(lmprep_argv() + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=env, preexec_fn=limited)
    output: dict[str, bytes] = {}
    readers = [threading.Thread(target=lambda name=name: output.update({name: getattr(process, name).read()}))
               for name in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    killer = threading.Timer(TIMEOUT + 30, process.kill)
    killer.start()
    # The run's own high-water mark, read from /proc while it runs: ru_maxrss would count the
    # pages of this (big) pytest process that the child shared between fork and exec.
    peaks = [0]
    polling = threading.Thread(target=lambda: peaks.append(peak_rss_of_detached_child(process.pid, TIMEOUT + 30)[0]))
    polling.start()
    _, status = os.waitpid(process.pid, 0)
    seconds = time.monotonic() - started
    killed = not killer.is_alive()
    killer.cancel()
    polling.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    process.stdout.close()
    process.stderr.close()
    if killed:
        pytest.fail(f"lmprep {args} was still running {TIMEOUT + 30} s after --timeout {TIMEOUT}")
    return (process.returncode, output["stdout"].decode(errors="replace"), output["stderr"].decode(errors="replace"),
            seconds, max(peaks))


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
    assert peak < MAX_RSS_KIB, f"{case}: {peak // 1024} MiB"
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


# -- issue 17: bounded objects, heads int() refuses, streams that talk without answering -------

MODELS = h.answer({"object": "list", "data": [{"id": "m", "object": "model"}]})
SSE_ENDLESS_DATA = b"data: " + b"x" * 1000 + b"\n"
SSE_ERROR_IN_WORDS = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
                      b"event: error\ndata: the model crashed: out of memory\n\n")
OLLAMA_BIG_IDS = b'{"status": "pulling layers", "digest": "{id}", "total": 10, "completed": 1}'
DMR_BIG_IDS = b'{"type": "progress", "total": 10, "layer": {"id": "{id}", "size": 10, "current": 1}}'
HUGE = b"1" + b"0" * 400
DMR_LISTING = {"/engines/v1/models": h.answer({"object": "list", "data": []})}
LEMONADE_LISTING = {"/api/v1/models": h.answer({"data": []})}


def agent_routes(stream: h.Behaviour) -> dict:
    return {"/v1/models": MODELS, "/v1/responses": h.agent_route(stream)}


CODEX_WAIT = ["-p", "openai", "-m", "m", "--for", "codex", "--warm-up", "wait"]
#: name: (routes, default behaviour, base URL path, arguments, the exit codes it must end with)
ROUND_THREE = {
    "sse-event-whose-data-never-ends": (lambda: agent_routes(h.endless_lines(SSE_ENDLESS_DATA)), None, "/v1",
                                        CODEX_WAIT, {8}),
    "sse-endless-ids": (lambda: agent_routes(h.endless_lines(b"id: " + b"7" * 1000 + b"\n")), None, "/v1",
                        CODEX_WAIT, {8}),
    "sse-keep-alive-comments": (lambda: agent_routes(h.endless_lines(b": keep-alive\n", 0.05)), None, "/v1",
                                CODEX_WAIT, {10}),
    "sse-error-in-plain-words": (lambda: agent_routes(h.raw(SSE_ERROR_IN_WORDS)), None, "/v1", CODEX_WAIT, {9}),
    "listing-of-tiny-objects": (dict, lambda: h.many_objects(63), "/v1", ["-p", "openai", "-m", "m"], {8}),
    "status-of-tiny-objects": (dict, lambda: h.many_objects(63), "/v1", ["status", "-p", "openai"], {8}),
    "superscript-status-code": (dict, lambda: h.raw("HTTP/1.1 ²³¹ OK\r\nContent-Length: 2\r\n\r\n{}".encode("latin-1")),
                                "/v1", ["-p", "openai", "-m", "m"], {8}),
    "content-length-of-5000-digits": (dict, lambda: h.raw(b"HTTP/1.1 200 OK\r\nContent-Length: " + b"9" * 5000
                                                           + b"\r\n\r\n{}"), "/v1", ["status", "-p", "openai"], {8}),
    "no-reason-phrase": (lambda: {"/v1/models": h.raw(b'HTTP/1.1 200\r\nContent-Length: 23\r\n\r\n'
                                                      b'{"data": [{"id": "m"}]}')}, None, "/v1",
                         ["-p", "openai", "-m", "m", "--warm-up", "off"], {0}),
    "interim-answers": (lambda: {"/v1/models": h.raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
                                                     b"Link: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 23\r\n\r\n"
                                                     b'{"data": [{"id": "m"}]}')}, None, "/v1",
                        ["-p", "openai", "-m", "m", "--warm-up", "off"], {0}),
    "ollama-pull-of-megabyte-ids": (lambda: h.ollama_routes(api_pull=h.big_ids(OLLAMA_BIG_IDS, 500_000)), None, "/v1",
                                    ["-p", "ollama", "-m", "llama3"], {7}),
    "dmr-pull-of-megabyte-ids": (lambda: {**DMR_LISTING, "/models/create": h.big_ids(DMR_BIG_IDS, 500_000)}, None,
                                 "/engines/v1", ["-p", "dmr", "-m", "ai/x"], {7}),
    "lemonade-pull-of-huge-numbers": (lambda: {**LEMONADE_LISTING, "/api/v1/pull": h.pull_lines(
        [b'event: progress\ndata: {"bytes_downloaded": ' + HUGE + b', "bytes_total": ' + HUGE + b'0}\n\n'])},
        None, "/api/v1", ["-p", "lemonade", "-m", "x"], {10}),
    "dmr-pull-of-huge-numbers": (lambda: {**DMR_LISTING, "/models/create": h.pull_lines(
        [b'{"type": "progress", "total": ' + HUGE + b', "layer": {"id": "a", "size": 1, "current": ' + HUGE + b'}}\n'])},
        None, "/engines/v1", ["-p", "dmr", "-m", "ai/x"], {10}),
}


def run_case(name: str, extra: list[str] = ()) -> tuple[int, str, str]:
    routes, default, path, args, exits = ROUND_THREE[name]
    with h.HostileServer(routes(), default() if default else None) as server:
        env = {**os.environ, "LMPREP_BASE_URL": server.origin + path, "LM_API_TOKEN": TOKEN}
        # Without --json: progress goes through the renderer, where huge numbers overflowed.
        code, stdout, stderr, seconds, peak = run_under_limits([*args, "--timeout", str(TIMEOUT), *extra], env)
    figures["cases"] += 1
    figures["max_rss_kib"] = max(figures["max_rss_kib"], peak)
    if seconds > figures["max_seconds"]:
        figures["max_seconds"], figures["worst"] = seconds, name
    assert code in exits, f"{name}: exit {code}\n{stdout}\n{stderr}"
    assert seconds < TIMEOUT + MARGIN, f"{name}: {seconds:.1f} s"
    assert peak < MAX_RSS_KIB, f"{name}: {peak // 1024} MiB"
    assert "Traceback" not in stderr and "internal_error" not in stdout and TOKEN not in stdout + stderr, name
    return code, stdout, stderr


@pytest.mark.parametrize("name", sorted(ROUND_THREE))
def test_issue_17_hostile_servers(name):
    run_case(name)


def peak_rss_of_detached_child(pid: int, seconds: float) -> tuple[int, bool]:
    """(the peak RSS in KiB of a process since its exec, whether it ended) within ``seconds``."""
    peak, ended = 0, False
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            ended = True
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        if "\nState:\tZ" in status:
            ended = True
            break
        time.sleep(0.01)
    return peak, ended


@pytest.mark.parametrize("name, routes", [
    ("an SSE event whose data never ends", lambda: agent_routes(h.endless_lines(SSE_ENDLESS_DATA))),
    ("a warm-up answer of tiny objects", lambda: {"/v1/models": MODELS, "/v1/responses": h.many_objects(63)}),
])
def test_the_detached_child_holds_the_same_budgets(name, routes, tmp_path):
    """Issue 17: the background child reached 941 MB in 10 s on an endless event, after lmprep
    had exited 0; its 720 s lifetime was its only bound."""
    from lmprep.warmup import read_states

    args = ["-p", "openai", "-m", "m", "--warm-up", "background", "--json"]
    if "SSE" in name:
        args += ["--for", "codex"]
    with h.HostileServer(routes()) as server:
        env = {**os.environ, "LMPREP_BASE_URL": server.base_url}
        code, stdout, stderr, seconds, peak = run_under_limits(args, env)
        assert code in (0, 8), stderr
        records = read_states()
        assert records and records[0].get("pid"), stdout
        child_peak, ended = peak_rss_of_detached_child(records[0]["pid"], 30)
    assert ended, f"{name}: the child still runs 30 s on"
    assert child_peak < MAX_RSS_KIB, f"{name}: the child took {child_peak // 1024} MiB"
    record = read_states()[0]
    assert record["status"] == "error" and "MiB" in record["error"], record


def test_zz_report_figures(capsys):
    with capsys.disabled():
        print(f"\ninvariant suite: {figures['cases']} runs, slowest {figures['max_seconds']:.2f} s "
              f"({figures['worst']}), peak RSS of any run {figures['max_rss_kib'] / 1024:.0f} MiB "
              f"under RLIMIT_AS {ADDRESS_SPACE >> 20} MiB")


#: How long each hostile server is watched against the detached child: memory that grows without
#: bound shows within it (the 941 MB of issue 17 took 10 s), while a load may rightly take longer.
CHILD_WATCH_SECONDS = 6.0


@pytest.mark.parametrize("behaviour", sorted(BEHAVIOURS))
def test_every_behaviour_against_the_detached_child(behaviour, tmp_path):
    """The background child meets each hostile server on its load request, as the foreground
    run meets it on every route: its memory stays under the same bound, no secret reaches its
    state file or its command line, and it records a state rather than a traceback when it
    ends (a server that never answers keeps it for its load budget: it is stopped here)."""
    from lmprep.warmup import read_states

    routes = {"/v1/models": MODELS}
    with h.HostileServer(routes, BEHAVIOURS[behaviour]()) as server:
        base = server.base_url.replace("http://127.0.0.1", f"http://alice:{PASSWORD}@127.0.0.1")
        env = {**os.environ, "LMPREP_BASE_URL": base}
        code, stdout, stderr, _, _ = run_under_limits(["-p", "openai", "-m", "m", "--warm-up", "background",
                                                       "--json", "--timeout", str(TIMEOUT)], env)
        assert code == 0, stderr
        records = read_states()
        assert records and records[0].get("pid"), stdout
        pid = records[0]["pid"]
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                assert PASSWORD.encode() not in handle.read()
        except OSError:
            pass  # it has ended already
        peak, ended = peak_rss_of_detached_child(pid, CHILD_WATCH_SECONDS)
        if not ended:
            os.kill(pid, signal.SIGKILL)
    assert peak < MAX_RSS_KIB, f"{behaviour}: the child took {peak // 1024} MiB"
    for path in Path(os.environ["XDG_STATE_HOME"]).rglob("*"):
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path
    if ended:
        record = read_states()[0]
        assert record["status"] in ("ok", "error"), record
        assert "Traceback" not in (record.get("error") or ""), record

"""`lmprep exec` keeps the model loaded while PROGRAM runs (lmprep/session.py), against servers
that unload idle models: the Ollama emulator with its idle unload, the real llama-server router
with --sleep-idle-seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from e2e import lmprep_argv, run_lmprep, wait_for
from lmprep.session import Program, process_start, still_running

MODEL = "llama3.2"
#: The emulated server's idle time before it unloads (Ollama's keep_alive), in seconds.
IDLE = 1.0

AGENT = """
import json, sys, time, urllib.request
base, turns, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
for turn in range(turns):
    if turn:
        time.sleep(pause)  # the user reads, thinks, types: longer than the server's idle time
    body = json.dumps({"model": sys.argv[4], "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = urllib.request.Request(base + "/chat/completions", body, {"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
"""


@pytest.fixture
def ollama(ollama_emulator, monkeypatch):
    ollama_emulator.models = {MODEL: 2_000_000_000}
    ollama_emulator.idle_unload = True
    ollama_emulator.default_keep_alive = IDLE
    monkeypatch.setenv("OLLAMA_KEEP_ALIVE", f"{IDLE}s")  # the user's own Ollama setting: what is handed back
    return ollama_emulator


def agent_script(tmp_path):
    script = tmp_path / "agent.py"
    script.write_text(AGENT)
    return str(script)


def keep_alives(emulator) -> list:
    """The keep_alive of every native load request the server saw, in order."""
    return [r.body_object().get("keep_alive") for r in list(emulator.requests) if r.path == "/api/generate"]


def ollama_args(emulator) -> list[str]:
    return ["-p", "ollama", "--base-url", emulator.origin + "/v1", "-m", MODEL, "--warm-up", "wait"]


def session_reloads(emulator, tmp_path, *, under_exec: bool, idle_periods: int = 3) -> int:
    """The agent's turns that had to wait for a load after ``idle_periods`` pauses longer than the
    server's idle time (the first turn, before any pause, not counted)."""
    agent = [sys.executable, agent_script(tmp_path), emulator.origin + "/v1", str(idle_periods + 1), str(IDLE * 2.5),
             MODEL]
    if under_exec:
        result = run_lmprep("exec", *ollama_args(emulator), "--", *agent)
    else:
        result = run_lmprep(*ollama_args(emulator))
        assert result.returncode == 0, result.stderr
        result = subprocess.run(agent, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert len(emulator.inference_loads) == idle_periods + 1
    return sum(emulator.inference_loads[1:])


def test_exec_keeps_an_ollama_model_loaded_over_idle_periods_and_hands_the_policy_back(ollama, tmp_path):
    assert session_reloads(ollama, tmp_path, under_exec=True) == 0
    # The hand-back: the user's OLLAMA_KEEP_ALIVE once PROGRAM has ended, and the model unloads as it would have.
    wait_for(lambda: keep_alives(ollama)[-1:] == [IDLE], timeout=10)
    assert keep_alives(ollama) == [None, -1, IDLE]  # lmprep's load, the hold, the hand-back
    seen = len(ollama.requests)
    time.sleep(IDLE * 2.5)
    assert len(ollama.requests) == seen  # nothing sent once the session is over
    assert ollama.loaded_context(MODEL) is not None  # /api/ps has not been asked yet: nothing expired it
    run_lmprep("status", "-p", "ollama", "--base-url", ollama.origin + "/v1")
    assert ollama.loaded_context(MODEL) is None  # idle past the handed-back keep_alive: unloaded


def test_without_exec_each_idle_period_costs_a_reload(ollama, tmp_path):
    assert session_reloads(ollama, tmp_path, under_exec=False) == 3


def test_the_hold_ends_when_program_is_killed_with_sigkill(ollama, tmp_path):
    sleeper = tmp_path / "sleeper.py"
    sleeper.write_text("import time\ntime.sleep(120)\n")
    program = subprocess.Popen(lmprep_argv() + ["exec", *ollama_args(ollama), "--", sys.executable, str(sleeper)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: -1 in keep_alives(ollama), timeout=30)
    finally:
        os.kill(program.pid, signal.SIGKILL)
    # Not reaped yet: a zombie with the same pid has ended all the same.
    wait_for(lambda: keep_alives(ollama)[-1:] == [IDLE], timeout=10)
    program.wait()
    assert keep_alives(ollama) == [None, -1, IDLE]


def test_the_watcher_is_not_a_child_of_program(ollama, tmp_path):
    probe = ("import os, time\n"
             "time.sleep(0.5)\n"
             "try:\n    os.waitpid(-1, os.WNOHANG)\n    print('a child')\n"
             "except ChildProcessError:\n    print('no child')\n")
    result = run_lmprep("exec", *ollama_args(ollama), "--", sys.executable, "-c", probe)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no child"
    wait_for(lambda: keep_alives(ollama)[-1:] == [IDLE], timeout=10)  # and the watcher did its work


def test_release_unloads_the_model_lmprep_loaded(ollama, tmp_path):
    result = run_lmprep("exec", *ollama_args(ollama), "--release", "--", sys.executable, "-c", "pass")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: keep_alives(ollama)[-1:] == [0], timeout=10)
    assert ollama.loaded_context(MODEL) is None


def test_release_leaves_a_model_that_was_loaded_before(ollama, tmp_path):
    ollama.loaded = {MODEL: 4096}
    ollama.last_used[MODEL] = time.monotonic() + 3600  # loaded by someone else, and not idle
    result = run_lmprep("exec", *ollama_args(ollama), "--release", "--", sys.executable, "-c", "pass")
    assert result.returncode == 0, result.stderr
    wait_for(lambda: keep_alives(ollama)[-1:] == [IDLE], timeout=10)  # handed back, not unloaded
    assert ollama.loaded_context(MODEL) == 4096


def test_a_model_kept_for_ever_is_left_as_it_is(ollama, tmp_path):
    result = run_lmprep("exec", *ollama_args(ollama), "--keep-alive", "-1", "--", sys.executable, "-c", "pass")
    assert result.returncode == 0, result.stderr
    time.sleep(2.5)  # more than a poll of the watcher
    assert keep_alives(ollama) == [-1]  # lmprep's load only: no hold, no hand-back to 5 minutes


def test_a_reused_pid_or_a_zombie_is_not_the_program():
    me = Program(os.getpid(), process_start(os.getpid()))
    assert still_running(me)
    assert not still_running(me._replace(started="1"))  # the same pid, another process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: not still_running(Program(child.pid, process_start(child.pid) or "gone")), timeout=10)
    child.wait()


@pytest.mark.real_server
def test_exec_keeps_a_llama_router_model_awake(llama_server_binary, tmp_path):
    from realserver.server import LlamaServer, http_request
    from realserver.tiny_gguf import write_tiny_gguf

    write_tiny_gguf(tmp_path / "tiny.gguf")
    sleep_after = 4
    with LlamaServer(llama_server_binary, None, models_dir=tmp_path,
                     extra_args=["--no-models-autoload", "--sleep-idle-seconds", str(sleep_after)]) as server:
        def status() -> str:
            body = http_request("GET", server.origin + "/models").json()
            return next(e["status"]["value"] for e in body["data"] if e["id"] == "tiny")

        sleeper = tmp_path / "sleeper.py"
        seen = tmp_path / "seen.txt"
        # PROGRAM looks at the router through three idle periods: never asleep.
        sleeper.write_text(
            "import json, sys, time, urllib.request\n"
            "states = []\n"
            f"for _ in range({sleep_after * 3}):\n"
            "    time.sleep(1)\n"
            f"    body = json.load(urllib.request.urlopen({server.origin + '/models'!r}))\n"
            "    states += [e['status']['value'] for e in body['data'] if e['id'] == 'tiny']\n"
            f"open({str(seen)!r}, 'w').write(' '.join(states))\n")
        result = run_lmprep("exec", "-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--warm-up",
                            "wait", "--", sys.executable, str(sleeper), timeout=120)
        assert result.returncode == 0, result.stderr
        assert set(seen.read_text().split()) == {"loaded"}
        wait_for(lambda: status() == "sleeping", timeout=sleep_after * 3)  # handed back: it sleeps again


class FakeServer:
    """What watch() asks of a provider, recorded."""

    def __init__(self, kind: str, sleeps_after: float | None = None) -> None:
        self.kind = kind
        self.sleeps_after = sleeps_after
        self.calls: list[tuple] = []

    def idle_sleep_seconds(self, model):
        return self.sleeps_after

    def keep_awake(self, model, read_timeout):
        self.calls.append(("completion", read_timeout))

    def _openai_warm_up(self, model, read_timeout):
        self.calls.append(("request", read_timeout))

    def model_state(self, model):
        from lmprep.providers.base import ModelState

        return ModelState(True)

    def unload(self, model):
        self.calls.append(("unload",))
        return True


def run_watch(server, monkeypatch, polls: int, **payload):
    """watch() over a PROGRAM that runs for ``polls`` polls of 0.02 s."""
    import lmprep.session as session

    left = iter([True] * polls)
    monkeypatch.setattr(session, "still_running", lambda program: next(left, False))
    session.watch(server, MODEL, {"timeouts": {"read_timeout": 7.0}, **payload}, Program(1, None), poll=0.02)


def test_a_llama_router_gets_a_completion_per_half_idle_period_and_nothing_after(monkeypatch):
    server = FakeServer("llamacpp", sleeps_after=0.08)
    run_watch(server, monkeypatch, polls=12)
    assert server.calls and set(server.calls) == {("completion", 7.0)}  # the foreground's read budget
    assert len(server.calls) < 12  # one per half period, not one per poll


def test_a_server_without_an_idle_period_gets_nothing(monkeypatch):
    server = FakeServer("llamacpp", sleeps_after=None)
    run_watch(server, monkeypatch, polls=5)
    assert server.calls == []


def test_lm_studio_gets_a_request_per_half_ttl_and_release_unloads(monkeypatch):
    import lmprep.session as session

    monkeypatch.setattr(session, "LMSTUDIO_JIT_TTL", 0.08)
    server = FakeServer("lmstudio")
    run_watch(server, monkeypatch, polls=6, release=True)
    assert ("request", 7.0) in server.calls and server.calls[-1] == ("unload",)
    kept_for_ever = FakeServer("lmstudio")
    run_watch(kept_for_ever, monkeypatch, polls=6, keep_alive=-1.0)
    assert kept_for_ever.calls == []  # loaded explicitly (--keep-alive -1): LM Studio never unloads it


def test_two_sessions_on_one_model_the_last_to_end_hands_back(ollama, tmp_path):
    first_ends, second_ends = tmp_path / "first.done", tmp_path / "second.done"
    waiter = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]):\n    time.sleep(0.05)\n"

    def session(flag):
        return subprocess.Popen(lmprep_argv() + ["exec", *ollama_args(ollama), "--", sys.executable, "-c", waiter,
                                                 str(flag)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    first = session(first_ends)
    wait_for(lambda: keep_alives(ollama).count(-1) == 1, timeout=30)
    second = session(second_ends)
    wait_for(lambda: keep_alives(ollama).count(-1) == 2, timeout=30)
    first_ends.touch()
    first.wait(timeout=30)
    time.sleep(2.5)  # more than a poll of its watcher
    assert IDLE not in keep_alives(ollama)  # the second session still runs: nothing handed back
    second_ends.touch()
    second.wait(timeout=30)
    wait_for(lambda: keep_alives(ollama)[-1:] == [IDLE], timeout=10)
    assert keep_alives(ollama) == [None, -1, -1, IDLE]


@pytest.mark.parametrize(("given", "variable", "handed_back"), [
    (None, None, 300.0),  # Ollama's own 5 minutes
    (None, "10m", 600.0),  # the user's OLLAMA_KEEP_ALIVE
    (None, "0", 0.0),  # unload when idle: keep_alive 0 gives that back
    (None, "-1", None),  # for ever: nothing held, nothing handed back
    (None, "soon", 300.0),  # what Ollama cannot read either: its default
    (1800.0, "10m", 1800.0),  # --keep-alive 30m wins
])
def test_what_is_handed_back_to_ollama(given, variable, handed_back):
    from lmprep.session import hand_back_keep_alive

    environ = {} if variable is None else {"OLLAMA_KEEP_ALIVE": variable}
    assert hand_back_keep_alive(given, environ) == handed_back

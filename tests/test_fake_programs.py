"""The fake server programs (tests/emulators/fake_programs.py) behave as the real ones where lmprep
can tell, and each provider's start plan, run as it is, starts its fake: the right argv and
environment, a server answering where the base URL points. (The runner that spawns plans for
`lmprep` itself is tested end to end in test_start_e2e.py.)"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from e2e import pid_alive, wait_for
from emulators.fake_programs import ollama_listen_address
from lmprep.providers.lemonade import Lemonade
from lmprep.providers.lmstudio import LMStudio
from lmprep.providers.ollama import Ollama
from lmprep.starting import StartRequest

pytestmark = pytest.mark.e2e
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def get(url: str, timeout: float = 2.0) -> bytes:
    with OPENER.open(url, timeout=timeout) as response:
        return response.read()


def answers(url: str) -> bool:
    try:
        get(url, 0.5)
        return True
    except OSError:
        return False


def environ(fakes, **more) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "LMS_", "LEMONADE_"))},
            "PATH": fakes.path_env(), **more}


@pytest.fixture
def spawn(fake_programs):
    """Starts a program as a start runner does (detached, its own session, no stdio of ours but
    a pipe for its stderr); each is killed and reaped after the test."""
    started: list[subprocess.Popen] = []

    def start(argv, env) -> subprocess.Popen:
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True, text=True)
        started.append(process)
        return process

    yield start
    fake_programs.kill_all()
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(10)
        process.stderr.close()


def plan_request(kind, fakes, host, port, path="/v1", **fields) -> StartRequest:
    env = environ(fakes)
    base = {"provider": kind, "kind": kind, "base_url": f"http://{host}:{port}{path}", "host": host, "port": port,
            "window": None, "keep_alive": None, "options": {}, "environ": env,
            "which": lambda name: shutil.which(name, path=env["PATH"])}
    return StartRequest(**{**base, **fields})


# -- ollama serve ----------------------------------------------------------------------------

@pytest.mark.parametrize("value, address", [
    ("", ("127.0.0.1", 11434)), ("127.0.0.1:11500", ("127.0.0.1", 11500)), ("[::1]:11434", ("::1", 11434)),
    ("0.0.0.0", ("0.0.0.0", 11434)), ("http://localhost", ("localhost", 80)), ("https://h:8443/x", ("h", 8443)),
    (" '127.0.0.1:9' ", ("127.0.0.1", 9)), ("::1", ("::1", 11434)), (":11600", ("", 11600)),
])
def test_fake_ollama_listens_where_ollama_host_says(value, address):
    assert ollama_listen_address(value) == address


def test_ollama_plan_starts_the_fake_with_window_and_keep_alive(spawn, fake_programs):
    fake_programs.install("ollama", ollama={"models": {"tiny": 1}})
    port = free_port()
    request = plan_request("ollama", fake_programs, "127.0.0.1", port, window=65536, keep_alive=1800.0)
    plan = Ollama.start_plan(request)
    assert plan.argv == (str(fake_programs.bin / "ollama"), "serve")
    server = spawn(plan.argv, {**request.environ, **plan.env})
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=10)
    assert get(f"http://127.0.0.1:{port}/") == b"Ollama is running"
    [call] = fake_programs.invocations("ollama")
    assert call["argv"] == ["serve"] and call["pid"] == server.pid
    assert call["env"] == {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_CONTEXT_LENGTH": "65536",
                           "OLLAMA_KEEP_ALIVE": "1800s"}
    # The fake loads with that window what asks for none, as Ollama does.
    body = json.dumps({"model": "tiny"}).encode()
    OPENER.open(urllib.request.Request(f"http://127.0.0.1:{port}/api/generate", data=body), timeout=5).read()
    ps = json.loads(get(f"http://127.0.0.1:{port}/api/ps"))
    assert ps["models"][0]["context_length"] == 65536
    server.send_signal(signal.SIGTERM)
    assert server.wait(5) == 0 and not answers(f"http://127.0.0.1:{port}/")


def test_fake_ollama_on_a_taken_port_dies_saying_so(spawn, fake_programs):
    fake_programs.install("ollama")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = spawn([str(fake_programs.bin / "ollama"), "serve"],
                       environ(fake_programs, OLLAMA_HOST=f"127.0.0.1:{port}"))
        assert server.wait(10) == 1
    assert f"Error: listen tcp 127.0.0.1:{port}: bind: address already in use" in server.stderr.read()


def test_fake_ollama_on_ipv6_loopback(spawn, fake_programs):
    fake_programs.install("ollama")
    port = free_port("::1")
    plan = Ollama.start_plan(plan_request("ollama", fake_programs, "[::1]", port))
    assert plan.env == {"OLLAMA_HOST": f"[::1]:{port}"}
    spawn(plan.argv, {**environ(fake_programs), **plan.env})
    wait_for(lambda: answers(f"http://[::1]:{port}/"), timeout=10)


def test_slow_fake_can_be_stopped_before_it_binds(spawn, fake_programs):
    fake_programs.install("ollama", start_seconds={"ollama": 30})
    port = free_port()
    server = spawn([str(fake_programs.bin / "ollama"), "serve"], environ(fake_programs, OLLAMA_HOST=f"127.0.0.1:{port}"))
    wait_for(lambda: fake_programs.invocations("ollama"), timeout=10)
    started = time.monotonic()
    server.send_signal(signal.SIGINT)
    assert server.wait(5) == 0 and time.monotonic() - started < 2
    assert not answers(f"http://127.0.0.1:{port}/")


def test_fake_server_can_die_with_words(spawn, fake_programs):
    fake_programs.install("lemond", fail={"lemond": "Error: no backend for this GPU"})
    server = spawn([str(fake_programs.bin / "lemond"), "--port", str(free_port())], environ(fake_programs))
    assert server.wait(10) == 1 and "no backend for this GPU" in server.stderr.read()


# -- lms server start ------------------------------------------------------------------------

def test_lms_plan_starts_the_daemon_which_outlives_lms(spawn, fake_programs):
    fake_programs.install("lms", lmstudio={"downloaded": ["openai/gpt-oss-20b"]})
    port = free_port()
    plan = LMStudio.start_plan(plan_request("lmstudio", fake_programs, "127.0.0.1", port))
    assert plan.argv == (str(fake_programs.bin / "lms"), "server", "start", "--port", str(port)) and not plan.before
    lms = spawn(plan.argv, {**environ(fake_programs), **plan.env})
    assert lms.wait(20) == 0  # lms returns once the server answers ...
    assert f"Success! Server is now running on port {port}" in lms.stderr.read()
    assert json.loads(get(f"http://127.0.0.1:{port}/lmstudio-greeting")) == {"lmstudio": True}
    daemon = fake_programs.llmster_pid()
    assert pid_alive(daemon) and os.getsid(daemon) != os.getsid(lms.pid if pid_alive(lms.pid) else os.getpid())
    # ... and the daemon keeps serving: what LM Studio lists is there.
    assert [m["id"] for m in json.loads(get(f"http://127.0.0.1:{port}/v1/models"))["data"]] == ["openai/gpt-oss-20b"]
    status = subprocess.run([str(fake_programs.bin / "lms"), "server", "status", "--json"], capture_output=True,
                            text=True, env=environ(fake_programs), timeout=20)
    assert json.loads(status.stdout) == {"running": True, "port": port}
    ls = subprocess.run([str(fake_programs.bin / "lms"), "ls", "--json"], capture_output=True, text=True,
                        env=environ(fake_programs), timeout=20)
    assert [entry["modelKey"] for entry in json.loads(ls.stdout)] == ["openai/gpt-oss-20b"]
    # A second start on the same port finds the running service: no second daemon.
    again = subprocess.run(plan.argv, capture_output=True, text=True, env=environ(fake_programs), timeout=20)
    assert again.returncode == 0 and "Waking up" not in again.stderr and fake_programs.llmster_pid() == daemon
    down = subprocess.run([str(fake_programs.bin / "lms"), "daemon", "down"], capture_output=True, text=True,
                          env=environ(fake_programs), timeout=20)
    assert down.returncode == 0
    wait_for(lambda: not pid_alive(daemon), timeout=10)
    assert not answers(f"http://127.0.0.1:{port}/lmstudio-greeting")


def test_lms_server_start_on_a_taken_port_fails_and_says_so(fake_programs):
    fake_programs.install("lms")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        lms = subprocess.run([str(fake_programs.bin / "lms"), "server", "start", "--port", str(port)],
                             capture_output=True, text=True, env=environ(fake_programs), timeout=30)
    assert lms.returncode == 1 and f"Failed to start the server on port {port}" in lms.stderr


def test_lms_daemon_up_then_status(fake_programs):
    fake_programs.install("lms")
    lms = str(fake_programs.bin / "lms")
    env = environ(fake_programs)
    off = subprocess.run([lms, "daemon", "status", "--json"], capture_output=True, text=True, env=env, timeout=20)
    assert json.loads(off.stdout) == {"status": "not-running"}
    up = subprocess.run([lms, "daemon", "up"], capture_output=True, text=True, env=env, timeout=30)
    assert up.returncode == 0 and up.stdout.startswith("llmster started (PID: ")
    on = subprocess.run([lms, "daemon", "status", "--json"], capture_output=True, text=True, env=env, timeout=20)
    assert json.loads(on.stdout) == {"status": "running", "pid": fake_programs.llmster_pid()}
    server = subprocess.run([lms, "server", "status", "--json"], capture_output=True, text=True, env=env, timeout=20)
    assert json.loads(server.stdout) == {"running": False, "port": None}  # the daemon is up, its server is not


# -- Lemonade --------------------------------------------------------------------------------

@pytest.mark.parametrize("programs, host", [
    (("lemond", "lemonade-server"), "127.0.0.1"), (("lemonade-server",), "localhost"), (("lemond",), "[::1]"),
])
def test_lemonade_plan_starts_its_fake(spawn, fake_programs, programs, host):
    fake_programs.install(*programs, lemonade={"downloaded": ["Qwen3-0.6B-GGUF"]})
    port = free_port(host.strip("[]") if host != "localhost" else "127.0.0.1")
    plan = Lemonade.start_plan(plan_request("lemonade", fake_programs, host, port, path="/api/v1"))
    spawn(plan.argv, {**environ(fake_programs), **plan.env})
    wait_for(lambda: answers(f"http://{host}:{port}/api/v1/health"), timeout=10)
    models = json.loads(get(f"http://{host}:{port}/api/v1/models"))
    assert [m["id"] for m in models["data"]] == ["Qwen3-0.6B-GGUF"]
    [call] = fake_programs.invocations()
    assert call["program"] == programs[0]
    tail = ["--port", str(port), "--host", host.strip("[]")]
    assert call["argv"] == (tail if programs[0] == "lemond" else ["serve", *tail])


def test_fake_lemond_refuses_serve_as_the_real_one_does(fake_programs):
    """`lemond serve` would take `serve` as its cache folder: the fake refuses what it does not know."""
    fake_programs.install("lemond")
    wrong = subprocess.run([str(fake_programs.bin / "lemond"), "--no-tray"], capture_output=True, text=True,
                           env=environ(fake_programs), timeout=20)
    assert wrong.returncode != 0


def test_kill_all_ends_every_started_process(spawn, fake_programs):
    fake_programs.install(lmstudio={}, ollama={})
    port = free_port()
    spawn([str(fake_programs.bin / "ollama"), "serve"], environ(fake_programs, OLLAMA_HOST=f"127.0.0.1:{port}"))
    subprocess.run([str(fake_programs.bin / "lms"), "server", "start", "--port", str(free_port())],
                   env=environ(fake_programs), capture_output=True, timeout=30, check=True)
    wait_for(lambda: answers(f"http://127.0.0.1:{port}/"), timeout=10)
    alive = fake_programs.running()
    assert len(alive) == 2  # ollama serve and the LM Studio daemon (lms itself has exited)
    assert sorted(fake_programs.kill_all()) == alive and fake_programs.running() == []

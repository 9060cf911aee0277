"""From nothing to ready in one command (issue 19): with the server's program installed (a fake
on PATH, tests/emulators/fake_programs.py) and nothing running, `lmprep --for codex` starts LM
Studio, Ollama or Lemonade as their start plans say, detached, and ends ready; a Ctrl-C during the
wait leaves no server behind. The installed lmprep as a real process."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep, wait_for
from lmprep import started

pytestmark = pytest.mark.e2e
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
MODELS = {"lmstudio": "openai/gpt-oss-20b", "ollama": "gpt-oss:20b", "lemonade": "Qwen3-0.6B-GGUF"}
PATHS = {"lmstudio": "/v1", "ollama": "/v1", "lemonade": "/api/v1"}
SERVERS = {"lmstudio": {"downloaded": [MODELS["lmstudio"]]}, "ollama": {"models": {MODELS["ollama"]: 1}},
           "lemonade": {"downloaded": [MODELS["lemonade"]]}}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with OPENER.open(url, timeout=0.5):
            return True
    except OSError:
        return False


def install(fakes, *programs, **knobs):
    fakes.install(*programs, lmstudio=SERVERS["lmstudio"], ollama=SERVERS["ollama"], lemonade=SERVERS["lemonade"],
                  **knobs)
    return {"PATH": fakes.path_env()}


def base_url(kind: str, port: int) -> str:
    return f"http://127.0.0.1:{port}{PATHS[kind]}"


def codex(kind: str, port: int, *more: str) -> list[str]:
    model = ["-m", MODELS[kind]] if kind == "lemonade" else []  # Lemonade has no default model
    return ["--for", "codex", "-p", kind, "--base-url", base_url(kind, port), *model, *more]


EXPECTED = {  # what each plan runs (the fake's argv) and its command as lmprep says it
    "lmstudio": ("lms", lambda port: ["server", "start", "--port", str(port)]),
    "ollama": ("ollama", lambda port: ["serve"]),
    "lemonade": ("lemond", lambda port: ["--port", str(port), "--host", "127.0.0.1"]),
}


@pytest.mark.parametrize("kind", ["lmstudio", "ollama", "lemonade"])
def test_codex_from_nothing_to_ready_in_one_command(fake_programs, kind):
    env = install(fake_programs)
    port = free_port()
    result = run_lmprep(*codex(kind, port, "--json"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    body = result.json
    assert body["state"] == "ready" and body["context_length"] >= 65536  # what Codex needs
    program, argv = EXPECTED[kind]
    shown = {"ollama": f"OLLAMA_HOST=127.0.0.1:{port} OLLAMA_CONTEXT_LENGTH=65536 "}.get(kind, "")  # what lmprep set
    assert body["started"]["command"] == shown + " ".join([program, *argv(port)])
    assert body["started"]["seconds"] < 30
    calls = fake_programs.invocations(program)
    assert calls[0]["argv"] == argv(port)
    # Started detached: it outlives lmprep and serves on.
    assert answers(base_url(kind, port) + "/models")
    if kind == "ollama":
        assert calls[0]["env"] == {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_CONTEXT_LENGTH": "65536"}
    if kind == "lmstudio":
        assert pid_alive(fake_programs.llmster_pid())  # LM Studio's service serves; `lms` has returned
    # The next run finds it running: nothing is started twice.
    again = run_lmprep(*codex(kind, port, "--json"), env=env, timeout=60)
    assert again.returncode == 0 and again.json["started"] is None
    assert [call for call in fake_programs.invocations(program) if call["argv"] == argv(port)] == calls[:1]


def test_ready_line_says_what_was_started(fake_programs):
    """With the variables lmprep set for it, as a command to type: the window is Ollama's setting."""
    env = install(fake_programs, "ollama")
    port = free_port()
    result = run_lmprep(*codex("ollama", port), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (f"; started ollama (`OLLAMA_HOST=127.0.0.1:{port} OLLAMA_CONTEXT_LENGTH=65536 ollama serve`, log ~/"
            in result.stderr)
    [record] = started.started_servers()
    assert record.command == f"OLLAMA_HOST=127.0.0.1:{port} OLLAMA_CONTEXT_LENGTH=65536 ollama serve"
    assert record.env == {"OLLAMA_HOST": f"127.0.0.1:{port}", "OLLAMA_CONTEXT_LENGTH": "65536"}
    assert record.argv[1:] == ("serve",)


def test_the_command_shows_only_what_lmprep_added_and_no_secret(fake_programs):
    """The user's own OLLAMA_HOST at the same address and their OLLAMA_KEEP_ALIVE are theirs, not
    lmprep's: not shown. (Their value elsewhere is replaced, which is lmprep's doing: shown.)"""
    env = install(fake_programs, "ollama")
    port = free_port()
    env.update(OLLAMA_HOST=f"127.0.0.1:{port}", OLLAMA_KEEP_ALIVE="10m")
    result = run_lmprep(*codex("ollama", port, "--keep-alive", "30m", "--json"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.json["started"]["command"] == "OLLAMA_CONTEXT_LENGTH=65536 ollama serve"
    assert fake_programs.invocations("ollama")[0]["env"]["OLLAMA_HOST"] == f"127.0.0.1:{port}"


def test_shown_variables_mask_secrets():
    from lmprep.redact import register_secret

    register_secret("sk-test-0123456789abcdef0123")
    shown = started.shown_variables({"OLLAMA_HOST": "127.0.0.1:11434", "HF_TOKEN": "hf_whatever",
                                     "MY_URL": "http://u:sk-test-0123456789abcdef0123@h/"})
    assert shown["OLLAMA_HOST"] == "127.0.0.1:11434" and shown["HF_TOKEN"] == "***"
    assert "sk-test" not in shown["MY_URL"]
    assert started.command_line(("/usr/bin/x", "serve"), {"A": "has space"}) == "A='has space' x serve"


def test_a_port_another_program_holds_is_said_so(fake_programs):
    """Ollama's own words when its port is taken (a socket bound there that does not listen:
    lmprep's look finds nothing listening, and starts it): exit 4 at once, and a hint that fits."""
    env = install(fake_programs, "ollama")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        begun = time.monotonic()
        result = run_lmprep(*codex("ollama", port, "--json"), env=env, timeout=120)
    assert result.returncode == 4 and time.monotonic() - begun < 30, result.stdout
    error = result.json["error"]
    assert (f"Error: listen tcp 127.0.0.1:{port}: bind: address already in use" in error["message"]
            and error["message"].endswith(f"address already in use. Another program holds port {port}."))
    assert error["hint"].startswith(
        f"Find it (`ss -ltnp 'sport = :{port}'`, or `lsof -i :{port}`) and stop it, or give lmprep another port "
        "(`--base-url http://127.0.0.1:OTHER/v1`, or `base_url` under [providers.ollama] of the config file); the "
        "server's whole log is ~/")
    assert "Fix what it says" not in error["hint"]


def test_the_words_of_a_port_taken():
    from lmprep.server_start import port_taken

    assert port_taken("Error: listen tcp 127.0.0.1:11500: bind: address already in use")
    assert port_taken("0.00.026.338 E srv         start: couldn't bind HTTP server socket, hostname: 127.0.0.1, "
                      "port: 8080 / 0.00.028.697 E srv  llama_server: exiting due to HTTP server error")
    assert port_taken("OSError: [Errno 98] Address already in use")
    assert not port_taken("failed to load model '/m/absent.gguf'")


@pytest.mark.real_server
def test_the_real_llama_server_on_a_port_another_program_holds(tmp_path, llama_server_binary, tiny_gguf):
    """llama-server b11434 binds before it loads its model: "couldn't bind HTTP server socket", exit
    1 within ~0.1 s. A listening socket is never started on: the probe's error stands."""
    config = tmp_path / "config.toml"
    env = {"PATH": f"{llama_server_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        config.write_text(f'[providers.llamacpp]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                          f'model_path = "{tiny_gguf}"\nargs = ["-np", "1", "-t", "1", "--no-webui"]\n')
        result = run_lmprep("-p", "llamacpp", "--config", str(config), "--json", env=env, timeout=120)
        assert result.returncode == 4, result.stdout
        error = result.json["error"]
        assert "couldn't bind HTTP server socket" in error["message"]
        assert error["message"].endswith(f"Another program holds port {port}.")
        assert f"`ss -ltnp 'sport = :{port}'`" in error["hint"] and "[providers.llamacpp]" in error["hint"]
        assert started.started_servers() == []
        holder.listen()  # now it listens, and never answers: lmprep starts nothing there
        listening = run_lmprep("-p", "llamacpp", "--config", str(config), "--json", "--timeout", "5", env=env,
                               timeout=60)
        assert listening.returncode in (4, 10) and listening.json["started"] is None, listening.stdout
        assert "lmprep started" not in listening.json["error"]["message"]


def test_lemonade_server_serve_where_lemond_is_not_installed(fake_programs):
    env = install(fake_programs, "lemonade-server")
    port = free_port()
    result = run_lmprep(*codex("lemonade", port, "--json"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.json["started"]["command"] == f"lemonade-server serve --port {port} --host 127.0.0.1"


def test_ollama_gets_keep_alive_and_the_users_own_values_win(fake_programs):
    env = install(fake_programs, "ollama")
    port = free_port()
    env.update(OLLAMA_KEEP_ALIVE="10m", OLLAMA_HOST="10.0.0.5:11434")  # the user's; the host is elsewhere
    result = run_lmprep(*codex("ollama", port, "--keep-alive", "30m"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    [call] = fake_programs.invocations("ollama")
    assert call["env"] == {"OLLAMA_HOST": f"127.0.0.1:{port}",  # where lmprep looks, not the user's elsewhere
                           "OLLAMA_CONTEXT_LENGTH": "65536", "OLLAMA_KEEP_ALIVE": "10m"}


def test_ollama_gets_keep_alive_from_lmprep(fake_programs):
    env = install(fake_programs, "ollama")
    port = free_port()
    result = run_lmprep(*codex("ollama", port, "--keep-alive", "-1"), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert fake_programs.invocations("ollama")[0]["env"]["OLLAMA_KEEP_ALIVE"] == "-1"


def test_no_start_starts_nothing(fake_programs):
    env = install(fake_programs)
    port = free_port()
    result = run_lmprep(*codex("ollama", port, "--no-start"), env=env, timeout=60)
    assert result.returncode == 4 and fake_programs.invocations() == []


@pytest.mark.parametrize("kind", ["lmstudio", "ollama", "lemonade"])
def test_started_server_holds_no_pipe_of_lmprep(fake_programs, kind):
    """`lmprep --json ... | cat` returns once lmprep has: the server it started holds none of its stdio."""
    env = install(fake_programs)
    port = free_port()
    line = " ".join(["exec"] + [f"'{part}'" for part in lmprep_argv() + codex(kind, port, "--json")]) + " | cat"
    begun = time.monotonic()
    shell = subprocess.run(["sh", "-c", line], capture_output=True, text=True, timeout=60, env={**os.environ, **env},
                           stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - begun
    assert shell.returncode == 0 and json.loads(shell.stdout)["state"] == "ready"
    assert seconds < 20, seconds  # not the server's lifetime
    assert answers(base_url(kind, port) + "/models")  # and the server serves on


def run_and_interrupt(fakes, kind: str, port: int, env: dict, program: str) -> subprocess.CompletedProcess:
    """lmprep --for codex, interrupted (SIGINT) while it waits for the server it started."""
    process = subprocess.Popen(lmprep_argv() + codex(kind, port), env={**os.environ, **env}, text=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: fakes.invocations(program), timeout=30)
        time.sleep(0.3)  # well into the wait
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("kind, program", [("ollama", "ollama"), ("lemonade", "lemond")])
def test_ctrl_c_during_the_wait_leaves_no_server_behind(fake_programs, kind, program):
    env = install(fake_programs, program, start_seconds={program: 60})
    port = free_port()
    result = run_and_interrupt(fake_programs, kind, port, env, program)
    assert result.returncode == 130, result.stderr
    [call] = fake_programs.invocations(program)
    wait_for(lambda: not pid_alive(call["pid"]), timeout=10)  # stopped, not left to come up later
    assert fake_programs.running() == [] and not answers(base_url(kind, port) + "/models")


def test_ctrl_c_while_lms_wakes_lm_studio_leaves_no_server_behind(fake_programs):
    """Interrupted while `lms server start` waits for LM Studio's service: lms is stopped, and no
    HTTP server comes up (the service, which every lms command wakes, may stay)."""
    env = install(fake_programs, "lms", start_seconds={"lms": 3})
    port = free_port()
    result = run_and_interrupt(fake_programs, "lmstudio", port, env, "lms")
    assert result.returncode == 130, result.stderr
    lms = fake_programs.invocations("lms")[0]
    wait_for(lambda: not pid_alive(lms["pid"]), timeout=10)
    time.sleep(4)  # past the service's wake-up: nothing asked it to serve
    assert not answers(f"http://127.0.0.1:{port}/lmstudio-greeting")


@pytest.mark.parametrize("kind, program", [("ollama", "ollama"), ("lemonade", "lemond"), ("lmstudio", "lms")])
def test_a_server_that_dies_is_said_with_its_words_at_once(fake_programs, kind, program):
    env = install(fake_programs, program, fail={program: "Error: this build has no backend for the GPU"})
    port = free_port()
    begun = time.monotonic()
    result = run_lmprep(*codex(kind, port, "--json"), env=env, timeout=120)
    assert result.returncode == 4 and time.monotonic() - begun < 30
    assert "no backend for the GPU" in result.json["error"]["message"]


def test_no_provider_chosen_starts_the_one_configured(fake_programs, tmp_path):
    env = install(fake_programs)
    port = free_port()
    config = tmp_path / "lmprep.toml"
    config.write_text(f'[providers.ollama]\nbase_url = "{base_url("ollama", port)}"\n')
    result = run_lmprep("--for", "codex", "--config", str(config), "--json", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.json["provider"] == "ollama"
    assert result.json["started"]["command"] == f"OLLAMA_HOST=127.0.0.1:{port} OLLAMA_CONTEXT_LENGTH=65536 ollama serve"


DEFAULT_PORTS = (1234, 11434, 8080, 8000, 13305, 12434)


# Both tests need the default ports free, and the first starts a server on one: they run in turn
# on one worker (`--dist loadgroup`), never at once.
@pytest.mark.xdist_group("default_ports")
def test_no_provider_chosen_starts_the_one_installed(fake_programs):
    """Nothing configured and nothing running: the one server installed here (Ollama, on its own
    default port, the one place lmprep looks) is started."""
    if any(answers(f"http://127.0.0.1:{port}/") or not _bindable(port) for port in DEFAULT_PORTS):
        pytest.skip("a default port is in use on this machine")
    env = install(fake_programs, "ollama")
    result = run_lmprep("--for", "codex", "--json", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.json["provider"] == "ollama" and result.json["base_url"] == "http://localhost:11434/v1"
    assert fake_programs.invocations("ollama")[0]["env"]["OLLAMA_HOST"] == "localhost:11434"


@pytest.mark.xdist_group("default_ports")
def test_several_installed_and_none_chosen_starts_none(fake_programs):
    if any(answers(f"http://127.0.0.1:{port}/") for port in DEFAULT_PORTS):
        pytest.skip("a default port is in use on this machine")
    env = install(fake_programs, "ollama", "lms")
    result = run_lmprep("--for", "codex", "--json", env=env, timeout=60)
    assert result.returncode == 4 and fake_programs.invocations() == []
    assert "Several servers are installed here" in result.json["error"]["hint"]


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_a_start_cut_short_after_lm_studio_serves_is_undone_with_lms_server_stop(fake_programs, monkeypatch):
    """`lms server start` has LM Studio's service serve, then returns: stopping `lms` does not stop
    the server, so the plan's `lms server stop` runs when the start is cut short."""
    import shutil

    from lmprep import server_start
    from lmprep.config import ProviderSettings, Sourced
    from lmprep.deadline import Deadline
    from lmprep.events import ignore
    from lmprep.providers.lmstudio import LMStudio

    env = {**os.environ, **install(fake_programs, "lms")}
    port = free_port()
    chosen = ProviderSettings("lmstudio", "lmstudio", Sourced(base_url("lmstudio", port), "--base-url"), None, None,
                              None)
    request = server_start.StartRequest("lmstudio", "lmstudio", base_url("lmstudio", port), "127.0.0.1", port, None,
                                        None, {}, env, lambda name: shutil.which(name, path=env["PATH"]))
    plan = LMStudio.start_plan(request)
    greeting = f"http://127.0.0.1:{port}/lmstudio-greeting"

    def interrupted_once_it_serves(*args, **kwargs):
        wait_for(lambda: answers(greeting), timeout=30)
        raise KeyboardInterrupt

    monkeypatch.setattr(server_start, "_wait_until_answering", interrupted_once_it_serves)
    with pytest.raises(KeyboardInterrupt):
        server_start._start(chosen, request, plan, ignore, Deadline(None))
    assert not answers(greeting)
    assert [call["argv"] for call in fake_programs.invocations("lms")] == [
        ["server", "start", "--port", str(port)], ["server", "stop"]]


def test_lms_path_from_the_config_file_starts_lm_studio(fake_programs, tmp_path):
    """`lms_path` under [providers.lmstudio] (no `lms` on PATH or in LM Studio's home) is the `lms` that starts it."""
    install(fake_programs, "lms")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f'[providers.lmstudio]\nlms_path = "{fake_programs.bin / "lms"}"\n')
    env = {"PATH": os.pathsep.join([str(tmp_path / "empty"), "/usr/bin", "/bin"])}
    result = run_lmprep(*codex("lmstudio", port, "--json", "--config", str(config)), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.json["started"]["command"] == f"lms server start --port {port}"
    assert fake_programs.invocations("lms")[0]["argv"] == ["server", "start", "--port", str(port)]

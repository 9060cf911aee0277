"""lmprep starts a local server that is down (issue 19): the real llama-server (plain and router
mode), a configured `command` (an emulator run as a program), servers that die, parallel runs,
detachment, Ctrl-C, and --no-start / `start = false`. Every server a test starts is stopped at
its end (the `servers` fixture)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e import lmprep_argv, pid_alive, run_lmprep, wait_for
from lmprep import started

TESTS = Path(__file__).resolve().parent
EMULATOR = TESTS / "emulators" / "as_program.py"


@pytest.fixture
def servers():
    """Stops every server lmprep recorded as started in this test (and checks none is left)."""
    yield
    for record in started.started_servers():
        try:
            os.killpg(record.pid, signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def llama_path(llama_server_binary, monkeypatch):
    """PATH with the real llama-server first: lmprep finds it as a user's would be found."""
    path = f"{llama_server_binary.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    return path


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def llamacpp_config(tmp_path, port, model: Path | None = None, models_dir: Path | None = None,
                    args=("-np", "1", "-t", "1", "--no-webui"), extra: str = "") -> Path:
    where = f'model_path = "{model}"' if model else f'models_dir = "{models_dir}"' if models_dir else ""
    return write_config(tmp_path, f"""
[providers.llamacpp]
base_url = "http://127.0.0.1:{port}/v1"
{where}
args = {json.dumps(list(args))}
{extra}
""")


def only_record() -> started.StartedServer:
    records = started.started_servers()
    assert len(records) == 1, records
    return records[0]


# -- the real llama-server --------------------------------------------------------------------


@pytest.mark.real_server
def test_starts_llama_server_detached_and_reports_it(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf)
    begun = time.monotonic()
    # A pipeline: lmprep's stdout is a pipe that `cat` reads to its end, so lmprep returns only
    # when nothing else holds the pipe: the server it started must not.
    shell = subprocess.run(
        f"{' '.join(map(str, lmprep_argv()))} -p llamacpp --config {config} --json | cat",
        shell=True, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    took = time.monotonic() - begun
    result = json.loads(shell.stdout)
    assert result["ok"], result
    assert took < 15
    record = only_record()
    assert result["started"] == {"command": record.command, "pid": record.pid, "log": record.log,
                                 "seconds": record.seconds}
    assert record.command.startswith(f"llama-server -m {tiny_gguf} --host 127.0.0.1 --port {unused_port} --jinja")
    assert "-c" not in record.argv  # no agent, no window asked for: the model's own
    assert record.argv[0] == str(Path(llama_path.split(os.pathsep)[0]) / "llama-server")
    assert Path(record.log).is_file() and Path(record.log).parent == started.servers_dir().parent / "logs"
    assert result["timings_ms"]["start"] == pytest.approx(record.seconds * 1000, abs=1)
    # It outlives lmprep, holds none of its stdio, and answers.
    assert started.is_same_process(record)
    if sys.platform.startswith("linux"):
        for fd in (0, 1, 2):
            target = os.readlink(f"/proc/{record.pid}/fd/{fd}")
            assert target in ("/dev/null", record.log), target
    # The next run finds it running: nothing started.
    again = run_lmprep("-p", "llamacpp", "--config", str(config), "--json")
    assert again.json["ok"] and again.json["started"] is None
    assert only_record() == record


@pytest.mark.real_server
def test_for_codex_from_not_running_to_ready_in_one_command(llama_path, servers, tmp_path, tiny_128k_gguf,
                                                             unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_128k_gguf)
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--for", "codex")
    assert result.returncode == 0, result.stderr
    record = only_record()
    assert "-c 65536" in record.command  # Codex's window, asked for at the start
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("Ready for Codex:") and "context window 65536 tokens" in line
    assert f"started llama-server (`{record.command}`, log ~/" in line


@pytest.mark.real_server
def test_starts_llama_server_in_router_mode(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    models = tmp_path / "models"
    models.mkdir()
    (models / "tiny.gguf").write_bytes(tiny_gguf.read_bytes())
    config = llamacpp_config(tmp_path, unused_port, models_dir=models)
    result = run_lmprep("-p", "llamacpp", "-m", "tiny", "--config", str(config), "--warm-up", "wait", "--json",
                        "--min-context", "2048")
    assert result.json["ok"], result.json
    record = only_record()
    assert record.argv[1:3] == ("--models-dir", str(models)) and "-c" in record.argv
    assert result.json["warm_up"]["status"] in ("ok", "loaded")
    assert result.json["context_length"] == 2048  # the router handed -c to the model's child


@pytest.mark.real_server
@pytest.mark.parametrize("case", ["bad flag", "missing model file", "port taken"])
def test_a_server_that_dies_is_exit_4_at_once_with_its_log(case, llama_path, servers, tmp_path, tiny_gguf,
                                                           unused_port):
    model, args = tiny_gguf, ["-np", "1", "-t", "1"]
    if case == "bad flag":
        args.append("--no-such-flag")
    elif case == "missing model file":
        model = tmp_path / "absent.gguf"
    holder = socket.socket()
    if case == "port taken":  # bound but not listening: connections are refused, yet its bind fails
        holder.bind(("127.0.0.1", unused_port))
    try:
        config = llamacpp_config(tmp_path, unused_port, model, args=args)
        begun = time.monotonic()
        result = run_lmprep("-p", "llamacpp", "--config", str(config), "--json")
        took = time.monotonic() - begun
    finally:
        holder.close()
    assert result.returncode == 4 and result.json["state"] == "unreachable"
    assert took < 10  # at once, not at a deadline
    message = result.json["error"]["message"]
    assert "ended with exit status 1 before it answered" in message
    said = {"bad flag": "invalid argument: --no-such-flag", "missing model file": "failed to load model",
            "port taken": "bind"}[case]
    assert said in message, message
    assert "\x1b" not in message and "\n" not in message
    hint = result.json["error"]["hint"]
    assert "whole log is ~/" in hint
    # Another program holding the port is said so, with how to find it: not "fix the config file".
    assert ("Another program holds port" in message and f"`ss -ltnp 'sport = :{unused_port}'`" in hint) \
        == (case == "port taken"), (message, hint)
    assert started.started_servers() == []  # nothing left to stop


@pytest.mark.real_server
def test_parallel_runs_start_one_server(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf)
    argv = [*lmprep_argv(), "-p", "llamacpp", "--config", str(config), "--json"]
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
            for _ in range(2)]
    results = [json.loads(run.communicate(timeout=60)[0]) for run in runs]
    assert all(result["ok"] for result in results), results
    assert sorted(result["started"] is None for result in results) == [False, True]
    record = only_record()
    assert [result["started"]["pid"] for result in results if result["started"]] == [record.pid]
    if sys.platform.startswith("linux"):
        servers_running = [pid for pid in os.listdir("/proc") if pid.isdigit()
                           and _cmdline(pid).count(f"--port\0{unused_port}\0")]
        assert servers_running == [str(record.pid)]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except OSError:
        return ""


@pytest.mark.real_server
@pytest.mark.parametrize("how", ["--no-start", "start = false", "per provider"])
def test_start_turned_off_is_the_old_exit_4_with_the_start_hint(how, llama_path, servers, tmp_path, tiny_gguf,
                                                               unused_port):
    top = "start = false\n" if how == "start = false" else ""
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf, extra="start = false" if how == "per provider" else "")
    config.write_text(top + config.read_text())
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--json",
                        *(["--no-start"] if how == "--no-start" else []))
    assert result.returncode == 4
    assert result.json["error"]["hint"] == (f"Start it with `llama-server -m MODEL.gguf --port {unused_port}`, "
                                            "or check the base URL.")
    assert result.json["started"] is None and started.started_servers() == []


@pytest.mark.real_server
def test_a_provider_may_start_although_the_file_says_no(llama_path, servers, tmp_path, tiny_gguf, unused_port):
    config = llamacpp_config(tmp_path, unused_port, tiny_gguf, extra="start = true")
    config.write_text("start = false\n" + config.read_text())
    assert run_lmprep("-p", "llamacpp", "--config", str(config), "--json").json["started"] is not None


# -- a configured command ---------------------------------------------------------------------


def emulator_config(tmp_path, port, *extra: str, name: str = "box", kind: str = "vllm", top: str = "") -> Path:
    command = [sys.executable, str(EMULATOR), kind, str(port), *extra]
    return write_config(tmp_path, f"""{top}
[providers.{name}]
kind = "{kind}"
base_url = "http://127.0.0.1:{port}/v1"
command = {json.dumps(command)}
""")


def test_a_configured_command_starts_any_kind(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, "--listen-after", "0.3")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.json["ok"], result.json
    record = only_record()
    assert record.provider == "box" and record.kind == "vllm" and record.base_url == f"http://127.0.0.1:{unused_port}/v1"
    assert record.command == f"{Path(sys.executable).name} {EMULATOR} vllm {unused_port} --listen-after 0.3"
    assert result.json["started"]["seconds"] >= 0.3
    assert "listening at" in Path(record.log).read_text()
    assert result.json["model"] == "Qwen/Qwen3-8B"


def test_nothing_chosen_and_nothing_running_starts_the_first_configured(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, name="mine", kind="vllm")
    result = run_lmprep("--config", str(config), "--json")
    assert result.json["ok"], result.json
    assert result.json["provider"] == "mine" and result.json["provider_source"] == "started (nothing was running)"
    assert only_record().provider == "mine"


def test_a_command_that_dies_says_so_with_its_log(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port, "--exit-after", "0.2")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.returncode == 4
    assert "ended with exit status 3 before it answered" in result.json["error"]["message"]
    assert "the emulator gives up (as told: --exit-after)" in result.json["error"]["message"]
    assert started.started_servers() == []


def test_a_command_that_is_not_there_keeps_exit_4_and_says_so(tmp_path, unused_port):
    config = write_config(tmp_path, f"""
[providers.box]
kind = "vllm"
base_url = "http://127.0.0.1:{unused_port}/v1"
command = ["no-such-server-program", "serve"]
""")
    result = run_lmprep("-p", "box", "--config", str(config), "--json")
    assert result.returncode == 4
    assert "'no-such-server-program'" in result.json["error"]["hint"]


def test_the_deadline_stops_a_server_that_does_not_answer(servers, tmp_path, unused_port):
    pid_file = tmp_path / "server.pid"
    config = emulator_config(tmp_path, unused_port, "--listen-after", "60", "--pid-file", str(pid_file))
    result = run_lmprep("-p", "box", "--config", str(config), "--json", "--timeout", "1.5")
    assert result.returncode == 10, result.json
    assert "lmprep stopped the box (vLLM) it had started" in result.json["error"]["message"]
    assert not pid_alive(int(pid_file.read_text()))
    assert started.started_servers() == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_during_the_wait_leaves_no_server_behind(sig, servers, tmp_path, unused_port):
    pid_file = tmp_path / "server.pid"
    config = emulator_config(tmp_path, unused_port, "--listen-after", "60", "--pid-file", str(pid_file))
    process = subprocess.Popen([*lmprep_argv(), "-p", "box", "--config", str(config), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), timeout=20)
    wait_for(lambda: started.started_servers(), timeout=10)  # recorded: lmprep is waiting for it
    process.send_signal(sig)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == (130 if sig == signal.SIGINT else 143)
    assert json.loads(out)["state"] == "interrupted"
    wait_for(lambda: not pid_alive(int(pid_file.read_text())), timeout=10)
    assert started.started_servers() == []


def test_a_server_answering_elsewhere_than_loopback_is_never_started(tmp_path):
    config = write_config(tmp_path, f"""
[providers.box]
kind = "vllm"
base_url = "http://192.0.2.1:8000/v1"
command = {json.dumps([sys.executable, "-c", f"open({str(tmp_path / 'ran')!r}, 'w')"])}
""")
    result = run_lmprep("-p", "box", "--config", str(config), "--json", "--connect-timeout", "0.2")
    assert result.returncode == 4
    assert not (tmp_path / "ran").exists()


def test_something_listening_that_does_not_answer_is_not_started_again(tmp_path):
    """A port that accepts and never answers is a server in trouble, not one to start: a second
    one could not listen there anyway."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        config = emulator_config(tmp_path, port)
        result = run_lmprep("-p", "box", "--config", str(config), "--json", "--read-timeout", "0.5",
                            "--timeout", "5")
    assert result.returncode in (4, 10)
    assert result.json["started"] is None and started.started_servers() == []


# -- the parts, without a server ---------------------------------------------------------------


def request(options=None, *, window=None, host="127.0.0.1", port=8080, which=lambda name: f"/opt/bin/{name}",
            provider="llamacpp", kind="llamacpp"):
    from lmprep.starting import StartRequest

    return StartRequest(provider=provider, kind=kind, base_url=f"http://{host}:{port}/v1", host=host, port=port,
                        window=window, keep_alive=None, options=options or {}, environ={}, which=which)


def llamacpp_plan(*args, **kwargs):
    from lmprep.providers.openai_compat import LlamaCpp

    return LlamaCpp.start_plan(request(*args, **kwargs))


def test_llama_server_plan_adds_what_lmprep_knows():
    plan = llamacpp_plan({"model_path": "/m/q.gguf", "args": ("-ngl", "99")}, window=65536)
    assert plan.argv == ("/opt/bin/llama-server", "-m", "/m/q.gguf", "--host", "127.0.0.1", "--port", "8080",
                         "--jinja", "-c", "65536", "-ngl", "99")
    assert plan.described == "llama-server -m /m/q.gguf --host 127.0.0.1 --port 8080 --jinja -c 65536 -ngl 99"
    assert plan.env == {} and plan.before == ()


def test_llama_server_plan_router_mode_and_ipv6():
    plan = llamacpp_plan({"models_dir": "/m"}, host="[::1]", port=9000)
    assert plan.argv == ("/opt/bin/llama-server", "--models-dir", "/m", "--host", "::1", "--port", "9000", "--jinja")


def test_the_users_own_flags_win():
    plan = llamacpp_plan({"model_path": "/m/q.gguf", "args": ("--ctx-size=8192", "--no-jinja", "--host", "0.0.0.0")},
                         window=65536)
    assert plan.argv == ("/opt/bin/llama-server", "-m", "/m/q.gguf", "--port", "8080", "--ctx-size=8192",
                         "--no-jinja", "--host", "0.0.0.0")
    plan = llamacpp_plan({"args": ("-hf", "ggml-org/gemma-3-1b-it-GGUF")})  # the args name the model
    assert plan.argv[1:3] == ("--host", "127.0.0.1") and plan.argv[-2:] == ("-hf", "ggml-org/gemma-3-1b-it-GGUF")


def test_llama_server_plan_never_guesses_a_model():
    plan = llamacpp_plan({})
    assert plan.argv == ()
    assert "model_path" in plan.hint and "[providers.llamacpp]" in plan.hint
    assert llamacpp_plan({"model_path": "/m/q.gguf"}, which=lambda name: None) is None  # not installed


def test_other_kinds_have_no_plan_of_their_own():
    from lmprep.providers import provider_class

    assert provider_class("vllm").start_plan(request(kind="vllm")) is None
    assert provider_class("openai").start_plan(request(kind="openai")) is None


def settings_for(tmp_path, text: str, **flags):
    from lmprep.config import Flags, resolve_settings

    path = tmp_path / "config.toml"
    path.write_text(text)
    return resolve_settings(Flags(config_path=str(path), **flags), env={})


def test_a_configured_command_wins_and_is_found_on_path(tmp_path):
    from lmprep.server_start import plan_for, start_request

    settings = settings_for(tmp_path, '[providers.llamacpp]\nmodel_path = "/m/q.gguf"\n'
                                      'command = ["my-server", "--port", "8080"]\n')
    chosen = settings.providers["llamacpp"]
    plan = plan_for(chosen, start_request(chosen, settings, which=lambda name: f"/usr/local/bin/{name}"))
    assert plan.argv == ("/usr/local/bin/my-server", "--port", "8080")
    plan = plan_for(chosen, start_request(chosen, settings, which=lambda name: None))
    assert plan.argv == () and "'my-server'" in plan.hint


def test_start_settings_and_their_precedence(tmp_path):
    from lmprep.server_start import start_allowed

    def allowed(text, **flags):
        settings = settings_for(tmp_path, text + "\n[providers.llamacpp]\n" + flags.pop("own", ""), **flags)
        return start_allowed(settings, settings.providers["llamacpp"])

    assert allowed("")
    assert not allowed("", start=False)
    assert not allowed("start = false")
    assert not allowed("", own="start = false")
    assert allowed("start = false", own="start = true")
    assert not allowed("", own="start = true", start=False)  # --no-start wins over everything
    assert tuple(settings_for(tmp_path, "", start=False).start) == (False, "--no-start")
    assert tuple(settings_for(tmp_path, "start = false").start) == (False, f"config {tmp_path / 'config.toml'}")


@pytest.mark.parametrize("line, said", [
    ('command = "llama-server -m x"', "`providers.llamacpp.command` must be a list of strings, the program first"),
    ("command = []", "`providers.llamacpp.command` must be a list of strings, the program first"),
    ('args = ["-c", 4096]', "`providers.llamacpp.args` must be a list of strings"),
    ("model_path = 3", "`providers.llamacpp.model_path` must be a string"),
    ('start = "no"', "`providers.llamacpp.start` must be true or false"),
])
def test_bad_start_keys_are_exit_3_naming_the_line(tmp_path, line, said):
    from lmprep.errors import NotConfiguredError

    with pytest.raises(NotConfiguredError) as caught:
        settings_for(tmp_path, f"[providers.llamacpp]\n{line}\n")
    assert caught.value.message.endswith(f"line 2, column {len(line.split('=')[0]) + 3}: {said}.")


def test_the_start_keys_reach_the_plan_checked(tmp_path):
    settings = settings_for(tmp_path, '[providers.llamacpp]\nmodel_path = "~/m/q.gguf"\nargs = ["-np", "1"]\n')
    options = settings.providers["llamacpp"].start_options
    assert options == {"model_path": str(Path("~/m/q.gguf").expanduser()), "args": ("-np", "1")}
    assert settings.configured == ("llamacpp",) and settings.warnings == ()


def test_the_library_takes_start_false(tmp_path, unused_port):
    import lmprep

    config = emulator_config(tmp_path, unused_port)
    with pytest.raises(lmprep.UnreachableError) as caught:
        lmprep.ensure_oss_ready("box", config_path=str(config), start=False, connect_timeout=1)
    assert caught.value.readiness.started is None and started.started_servers() == []


def test_the_library_starts_a_server_and_says_so(servers, tmp_path, unused_port):
    import lmprep

    config = emulator_config(tmp_path, unused_port)
    ready = lmprep.ensure_oss_ready("box", config_path=str(config), warm_up="off")
    record = only_record()
    assert ready.started == {"command": record.command, "pid": record.pid, "log": record.log,
                             "seconds": record.seconds}
    assert ready.provider_source == "--local-provider" and ready.model == "Qwen/Qwen3-8B"
    assert ready.to_dict()["started"] == ready.started


class FakePlans:
    """Start plans for kinds whose own plans another module writes: as if their programs were found."""

    def __init__(self, monkeypatch, plans: dict):
        from lmprep.providers import provider_class
        from lmprep.starting import StartPlan

        for kind, argv in plans.items():
            monkeypatch.setattr(provider_class(kind), "start_plan",
                                classmethod(lambda cls, request, argv=argv: StartPlan(tuple(argv))))


def nothing_running(settings):
    from lmprep.errors import UnreachableError

    return UnreachableError("No provider was chosen, and none is running.", "Start one.")


def test_several_installed_and_none_configured_starts_none_and_says_how_to_choose(tmp_path, monkeypatch):
    from lmprep.errors import UnreachableError
    from lmprep.server_start import choose_to_start

    FakePlans(monkeypatch, {"ollama": ["/usr/bin/ollama", "serve"], "lemonade": ["/usr/bin/lemonade-server", "serve"]})
    settings = settings_for(tmp_path, "")
    with pytest.raises(UnreachableError) as caught:
        choose_to_start(settings, nothing_running(settings))
    assert caught.value.hint == (
        "Several servers are installed here: Ollama (`ollama serve`) and Lemonade Server (`lemonade-server serve`); "
        "lmprep starts one only when it knows which. Choose with `-p ollama` or `-p lemonade`, or for good with "
        '`oss_provider = "NAME"` in the config file.')


def test_one_installed_is_started_and_the_first_configured_comes_first(tmp_path, monkeypatch):
    from lmprep.server_start import choose_to_start

    FakePlans(monkeypatch, {"ollama": ["/usr/bin/ollama", "serve"]})
    settings = settings_for(tmp_path, "")
    assert choose_to_start(settings, nothing_running(settings)).name == "ollama"
    settings = settings_for(tmp_path, '[providers.mine]\nkind = "vllm"\nbase_url = "http://localhost:8000/v1"\n'
                                      'command = ["vllm", "serve", "m"]\n')
    assert choose_to_start(settings, nothing_running(settings), which=lambda name: "/usr/bin/vllm").name == "mine"


def test_nothing_to_start_or_start_off_is_the_error_as_it_was(tmp_path, monkeypatch):
    from lmprep.errors import UnreachableError
    from lmprep.server_start import choose_to_start

    settings = settings_for(tmp_path, "")
    error = nothing_running(settings)
    with pytest.raises(UnreachableError) as caught:
        choose_to_start(settings, error, which=lambda name: None)
    assert caught.value is error and error.hint == "Start one."
    FakePlans(monkeypatch, {"ollama": ["/usr/bin/ollama", "serve"]})
    settings = settings_for(tmp_path, "start = false")
    with pytest.raises(UnreachableError):
        choose_to_start(settings, nothing_running(settings))
    # A configured server elsewhere is never started.
    settings = settings_for(tmp_path, '[providers.ollama]\nbase_url = "http://10.0.0.5:11434/v1"\n')
    with pytest.raises(UnreachableError):
        choose_to_start(settings, nothing_running(settings))


def test_the_ready_path_imports_none_of_this(llamacpp_emulator):
    """A server that answers costs nothing of the start machinery: not even an import."""
    code = ("import sys, lmprep; lmprep.ensure_oss_ready('llamacpp', base_url=sys.argv[1], warm_up='off'); "
            "print(sorted(m for m in ('lmprep.server_start', 'lmprep.started', 'lmprep.starting') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, llamacpp_emulator.base_url], capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_the_log_tail_is_cleaned_and_bounded(tmp_path):
    from lmprep.server_start import LOG_TAIL_BYTES, _log_tail

    log = tmp_path / "server.log"
    log.write_bytes(b"x" * (LOG_TAIL_BYTES * 4) + b"\nfirst\n\x1b[31mred\x1b[0m \x07bell\n" + b"\n".join(
        f"line {n}".encode() for n in range(10)) + b"\n" + b"y" * 5000)
    tail = _log_tail(log)
    assert tail.startswith("line 6 / line 7 / line 8 / line 9 / yyy")
    assert "\x1b" not in tail and "\x07" not in tail and len(tail) < 400
    assert _log_tail(tmp_path / "absent.log") == ""
    os.mkfifo(tmp_path / "fifo.log")
    assert _log_tail(tmp_path / "fifo.log") == ""  # refused, never waited on


def test_a_failure_after_the_start_says_the_server_keeps_running(servers, tmp_path, unused_port):
    config = emulator_config(tmp_path, unused_port)
    result = run_lmprep("-p", "box", "-m", "no-such-model", "--config", str(config), "--json")
    assert result.returncode == 6
    record = only_record()
    assert result.json["started"]["pid"] == record.pid and started.is_same_process(record)
    assert result.json["error"]["hint"].endswith(
        f"The server lmprep started for this run keeps running (pid {record.pid}, log {record.log}).")


def test_the_plan_gets_lms_path_from_the_config_file(tmp_path):
    from lmprep.config import Flags, resolve_settings
    from lmprep.server_start import start_request

    path = tmp_path / "config.toml"
    path.write_text('[providers.lmstudio]\nlms_path = "/opt/lms/bin/lms"\n')
    settings = resolve_settings(Flags(config_path=str(path)), env={})
    assert start_request(settings.providers["lmstudio"], settings).options["lms_path"] == "/opt/lms/bin/lms"
    settings = resolve_settings(Flags(config_path=str(path)), env={"LMPREP_LMS": "/elsewhere/lms"})
    assert "lms_path" not in start_request(settings.providers["lmstudio"], settings).options  # the plan reads it


def fake_gpu(folder: Path, free_mib: int) -> Path:
    """An `nvidia-smi` that answers lmprep's memory query with one 8 GiB GPU of ``free_mib`` free."""
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "nvidia-smi"
    tool.write_text(f"#!/bin/sh\necho '8192, {8192 - free_mib}, {free_mib}'\n")
    tool.chmod(0o755)
    return folder


def test_a_window_that_does_not_fit_is_refused_before_llama_server_starts(tmp_path, tiny_128k_gguf, unused_port):
    bin_folder = fake_gpu(tmp_path / "bin", 10)
    marker = tmp_path / "ran"
    server = bin_folder / "llama-server"
    server.write_text(f"#!/bin/sh\ntouch {marker}\nsleep 30\n")
    server.chmod(0o755)
    config = llamacpp_config(tmp_path, unused_port, tiny_128k_gguf)
    env = {"PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}"}
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--for", "codex", "--json", env=env)
    assert result.returncode == 11, result.json
    assert "at 65,536 tokens needs ~17.3 MB" in result.json["error"]["message"]
    # The tiny model's heads are 16 long: a quantised KV cache (-ctk q8_0) would fail to load, so
    # it is not among the ways out, and the hint says why (fit.head_size_problem).
    assert "-ctk q8_0" not in result.json["error"]["hint"]
    assert "A quantised KV cache is none for this model" in result.json["error"]["hint"]
    assert not marker.exists() and result.json["started"] is None and started.started_servers() == []


@pytest.mark.real_server
def test_ignore_fit_starts_it_anyway_with_the_warning(llama_path, servers, tmp_path, tiny_128k_gguf, unused_port):
    bin_folder = fake_gpu(tmp_path / "bin", 10)
    config = llamacpp_config(tmp_path, unused_port, tiny_128k_gguf)
    env = {"PATH": f"{bin_folder}{os.pathsep}{llama_path}"}
    result = run_lmprep("-p", "llamacpp", "--config", str(config), "--for", "codex", "--ignore-fit", env=env)
    assert result.returncode == 0, result.stderr
    assert "needs ~17.3 MB" in result.stderr and "it will not fit" in result.stderr
    assert "started llama-server" in result.stderr
    assert only_record().argv[-7:-5] == ("-c", "65536")

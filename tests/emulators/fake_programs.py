"""Fake server programs on PATH that start the emulators: `lms`, `ollama`, `lemonade-server`, `lemond`.

What lmprep runs to start a server that is down (its start plans) is run for real in the tests:
:class:`FakePrograms` writes executables (a ``#!`` line with this interpreter) into a ``bin``
folder, each starting the matching emulator on the port and address it is asked for, and behaving
as the real program does where lmprep can tell:

* ``ollama serve`` listens where ``OLLAMA_HOST`` says (Ollama's own parsing, envconfig.Host), takes
  ``OLLAMA_CONTEXT_LENGTH`` as the window of loads that ask for none, ``OLLAMA_KEEP_ALIVE`` as the
  default keep-alive, ``OLLAMA_KV_CACHE_TYPE`` and ``OLLAMA_FLASH_ATTENTION`` as the cache its loads
  make (a quantised one fails to load with flash attention off, HTTP 500), and serves in the foreground until SIGINT/SIGTERM; a port in use is
  ``Error: listen tcp HOST:PORT: bind: address already in use``, exit 1.
* ``lemond [--port P] [--host H]`` and ``lemonade-server serve [--port P] [--host H] [--no-tray]``
  serve the Lemonade emulator in the foreground.
* ``lms server start [-p/--port P] [--bind ADDR] [--cors]`` does what lmstudio-ai/lms does
  (src/subcommands/server.ts, src/createClient.ts): it finds LM Studio's service (the headless
  daemon, llmster) or starts it, detached, holding none of its stdio; asks it to open the HTTP
  server; checks ``/lmstudio-greeting`` up to 5 times a second apart; and exits, 0 ("Success! Server
  is now running on port P") or 1. The daemon keeps serving after `lms` has exited. ``lms daemon
  up|down|status [--json]`` and ``lms server stop|status [--json]`` work on that daemon; every other
  command is the fake ``lms`` of :mod:`._lms_script` against the daemon's server.

Every invocation is logged (``invocations()``: program, argv, pid, the OLLAMA_/LMS_/LEMONADE_
variables it got). Knobs (``install``): the emulator's keyword arguments per server
(``ollama={"models": {...}}``), ``start_seconds`` before a server binds its port (a slow start, to
interrupt; for ``lms``, before its daemon answers), ``fail`` a message a server prints before it dies (exit 1) instead of serving.
``kill_all()`` ends every process the fakes started (checked by its command line), for the tests'
clean-up.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["FakePrograms", "ollama_listen_address"]

PROGRAMS = ("lms", "ollama", "lemonade-server", "lemond")
_TESTS = str(Path(__file__).resolve().parent.parent)
_ENTRY = """#!{python}
import sys
sys.path.insert(0, {tests!r})
from emulators.fake_programs import main
sys.exit(main({program!r}, {state!r}, sys.argv[1:]))
"""
_LLMSTER = ("import sys; sys.path.insert(0, {tests!r}); from emulators.fake_programs import llmster; "
            "sys.exit(llmster({state!r}))")
_RECORDED_PREFIXES = ("OLLAMA_", "LMS_", "LEMONADE_")


class FakePrograms:
    """The fake programs of one test: ``bin`` (put it first on PATH) and ``state`` (their config
    and logs), both under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.bin = self.root / "bin"
        self.state = self.root / "fake-state"

    def install(self, *programs: str, lmstudio: dict | None = None, ollama: dict | None = None,
                lemonade: dict | None = None, start_seconds: dict[str, float] | None = None,
                fail: dict[str, str] | None = None) -> Path:
        """Writes the executables named (default: all) and the servers' configuration."""
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        config = {"lmstudio": lmstudio or {}, "ollama": ollama or {}, "lemonade": lemonade or {},
                  "start_seconds": start_seconds or {}, "fail": fail or {}}
        (self.state / "config.json").write_text(json.dumps(config), encoding="utf-8")
        for program in programs or PROGRAMS:
            if program not in PROGRAMS:
                raise ValueError(f"no fake {program!r}")
            path = self.bin / program
            path.write_text(_ENTRY.format(python=sys.executable, tests=_TESTS, program=program,
                                          state=str(self.state)), encoding="utf-8")
            path.chmod(0o755)
        return self.bin

    def path_env(self, *more: str) -> str:
        """A PATH with the fakes first, then ``more``, then the interpreter's folder only: no real
        server program of this machine is found."""
        return os.pathsep.join([str(self.bin), *more, str(Path(sys.executable).parent), "/usr/bin", "/bin"])

    def invocations(self, program: str | None = None) -> list[dict[str, Any]]:
        path = self.state / "invocations.jsonl"
        if not path.exists():
            return []
        entries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [entry for entry in entries if program is None or entry["program"] == program]

    def emulator_errors(self) -> str:
        """Exceptions raised inside the started emulators' routes (their bugs), '' for none."""
        path = self.state / "emulator-errors.txt"
        return path.read_text(encoding="utf-8") if path.exists() else ""

    def llmster_pid(self) -> int | None:
        status = _read_json(self.state / "llmster.json")
        return status.get("pid") if status else None

    def running(self) -> list[int]:
        """The pids of the fakes' processes still alive (servers, the daemon)."""
        pids = {entry["pid"] for entry in self.invocations()}
        if self.llmster_pid():
            pids.add(self.llmster_pid())
        return sorted(pid for pid in pids if self._ours(pid))

    def _ours(self, pid: int) -> bool:
        """Alive, not a zombie, and started by these fakes (its command line names our folders):
        a pid reused by another process is never signalled."""
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
                if handle.read().rsplit(")", 1)[-1].split()[0] == "Z":
                    return False
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                cmdline = handle.read().decode("utf-8", "replace")
        except OSError:
            return False
        return str(self.bin) in cmdline or str(self.state) in cmdline

    def kill_all(self, grace: float = 2.0) -> list[int]:
        """SIGTERM every process the fakes started and is still alive, then SIGKILL what is left
        after ``grace`` seconds; returns the pids that were alive."""
        alive = self.running()
        for pid in alive:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self._ours(pid) for pid in alive):
            time.sleep(0.02)
        for pid in alive:
            if self._ours(pid):
                _signal(pid, signal.SIGKILL)
        return alive


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _read_json(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------- in the fake's process


_STATE: list[str] = []  # the state folder of this fake's process


def main(program: str, state: str, argv: list[str]) -> int:
    state_dir = Path(state)
    _STATE[:] = [state]
    _record(state_dir, program, argv)
    config = _read_json(state_dir / "config.json") or {}
    if program == "ollama":
        return _ollama(config, argv)
    if program == "lemond":
        return _lemond(config, argv)
    if program == "lemonade-server":
        return _lemonade_server(config, argv)
    return _lms(config, state_dir, argv)


def _record(state_dir: Path, program: str, argv: list[str]) -> None:
    entry = {"program": program, "argv": argv, "pid": os.getpid(), "time": time.time(),
             "env": {name: value for name, value in os.environ.items() if name.startswith(_RECORDED_PREFIXES)}}
    with open(state_dir / "invocations.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _Stop:
    """SIGINT/SIGTERM end a foreground server: the handler only sets a flag the main loop polls."""

    def __init__(self) -> None:
        self.event = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.event.set())

    def wait(self, seconds: float | None = None) -> bool:
        """Sleeps ``seconds`` (None: until stopped); True when a signal came."""
        end = None if seconds is None else time.monotonic() + seconds
        while not self.event.is_set():
            if end is not None and time.monotonic() >= end:
                return False
            self.event.wait(0.05)
        return True


def _serve(emulator, host: str, port: int, program: str, config: dict, started: str,
           in_use: str) -> int:
    """Runs ``emulator`` on host:port in the foreground until SIGINT/SIGTERM (exit 0)."""
    stop = _Stop()
    if stop.wait(float(config.get("start_seconds", {}).get(program, 0))):
        return 0
    failure = config.get("fail", {}).get(program)
    if failure:
        _say(failure)
        return 1
    emulator.bind_host, emulator.bind_port = host, port
    try:
        emulator.start()
    except OSError:
        _say(in_use)
        return 1
    _say(started)
    try:
        stop.wait()
    finally:
        emulator.stop()
        _keep_errors(emulator)
    return 0


def _keep_errors(emulator) -> None:
    """An emulator's own bugs (exceptions inside its routes), for FakePrograms.emulator_errors()."""
    if emulator.errors and _STATE:
        with open(Path(_STATE[0]) / "emulator-errors.txt", "a", encoding="utf-8") as log:
            log.write("\n".join(emulator.errors) + "\n")


# -- ollama --------------------------------------------------------------------------------


def ollama_listen_address(value: str) -> tuple[str, int]:
    """Where `ollama serve` listens for an OLLAMA_HOST value (ollama/ollama envconfig/config.go
    `Host`: spaces and quotes trimmed, `[scheme://]host[:port][/path]`, no scheme → http and
    11434, `http://` without a port → 80, `https://` → 443, unparsable → 127.0.0.1)."""
    import ipaddress

    text = value.strip().strip("\"'")
    scheme, sep, hostport = text.partition("://")
    default = 11434
    if not sep:
        hostport = text
    elif scheme == "http":
        default = 80
    elif scheme == "https":
        default = 443
    hostport = hostport.split("/", 1)[0]
    host: str | None = None
    port: str | int = default
    if hostport.startswith("[") and "]:" in hostport:
        host, port = hostport[1:].split("]:", 1)
    elif hostport.count(":") == 1:
        host, port = hostport.split(":")
    if host is None:
        host, port = "127.0.0.1", default
        try:
            host = str(ipaddress.ip_address(hostport.strip("[]")))
        except ValueError:
            if hostport:
                host = hostport
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        number = default
    return host, number


def _keep_alive_seconds(value: str) -> float | None:
    """OLLAMA_KEEP_ALIVE as envconfig.KeepAlive reads it: a Go duration or whole seconds,
    negative for ever (``inf``); None where it is not one (Ollama then keeps its 5 minutes)."""
    from .ollama import keep_alive_variable_seconds

    return keep_alive_variable_seconds(value)


def _ollama(config: dict, argv: list[str]) -> int:
    if argv[:1] in (["-v"], ["--version"]):
        print("ollama version is 0.13.5 (fake)")
        return 0
    if argv[:1] != ["serve"]:
        _say(f"Error: the fake ollama runs only `serve`, not {argv!r}")
        return 1
    from .ollama import OllamaEmulator

    host, port = ollama_listen_address(os.environ.get("OLLAMA_HOST", ""))
    emulator = OllamaEmulator(**config.get("ollama", {}))
    window = os.environ.get("OLLAMA_CONTEXT_LENGTH", "").strip().strip("\"'")
    if window.isdigit() and int(window) > 0:
        emulator.default_num_ctx = int(window)
    keep_alive = _keep_alive_seconds(os.environ.get("OLLAMA_KEEP_ALIVE", ""))
    if keep_alive is not None:
        emulator.default_keep_alive = keep_alive
    emulator.kv_cache_type = os.environ.get("OLLAMA_KV_CACHE_TYPE", "").strip().strip("\"'").lower()
    emulator.flash_attention_off = os.environ.get("OLLAMA_FLASH_ATTENTION", "").strip().strip("\"'") in (
        "0", "f", "F", "false", "False", "FALSE")  # strconv.ParseBool's false
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return _serve(emulator, host, port, "ollama", config,
                  f'time={time.strftime("%Y-%m-%dT%H:%M:%S")} level=INFO source=routes.go msg="Listening on '
                  f'{shown} (version {emulator.version})"',
                  f"Error: listen tcp {shown}: bind: address already in use")


# -- Lemonade ------------------------------------------------------------------------------


def _options(argv: list[str], valued: tuple[str, ...], flags: tuple[str, ...]) -> tuple[dict, list[str]] | None:
    options: dict[str, Any] = {}
    rest: list[str] = []
    items = list(argv)
    while items:
        arg = items.pop(0)
        name, has_value, value = arg.partition("=")
        if name in valued:
            if not has_value:
                if not items:
                    return None
                value = items.pop(0)
            options[name] = value
        elif arg in flags:
            options[arg] = True
        elif arg.startswith("-"):
            return None
        else:
            rest.append(arg)
    return options, rest


def _lemonade(config: dict, program: str, options: dict) -> int:
    from .lemonade import LemonadeEmulator

    host = options.get("--host", "127.0.0.1")
    try:
        port = int(options.get("--port", 13305))
    except ValueError:
        _say(f"--port: Value {options['--port']} could not be converted")
        return 105
    emulator = LemonadeEmulator(**config.get("lemonade", {}))
    _say("Starting Lemonade Server...")
    return _serve(emulator, host, port, program, config, f"  Port: {port}\n  Host: {host}\nServer running",
                  f"Error: failed to bind {host}:{port}: address already in use")


def _lemond(config: dict, argv: list[str]) -> int:
    """lemond [cache_dir] [config_dir] [--port P] [--host H] (CLI11: an unknown option is an error)."""
    parsed = _options(argv, ("--port", "--host"), ("--broadcast", "--no-broadcast"))
    if parsed is None or len(parsed[1]) > 2:
        _say(f"The following arguments were not expected: {' '.join(argv)}\nRun with --help for more information.")
        return 109
    return _lemonade(config, "lemond", parsed[0])


def _lemonade_server(config: dict, argv: list[str]) -> int:
    if argv[:1] != ["serve"]:
        _say(f"Error: the fake lemonade-server runs only `serve`, not {argv!r}")
        return 1
    parsed = _options(argv[1:], ("--port", "--host", "--log-level", "--ctx-size"), ("--no-tray",))
    if parsed is None or parsed[1]:
        _say(f"Error: unknown arguments {argv[1:]!r}")
        return 1
    return _lemonade(config, "lemonade-server", parsed[0])


# -- lms and its daemon --------------------------------------------------------------------


def _lms(config: dict, state_dir: Path, argv: list[str]) -> int:
    if argv[:2] == ["server", "start"]:
        return _lms_server_start(state_dir, argv[2:])
    if argv[:2] in (["server", "stop"], ["server", "status"]):
        return _lms_server_other(state_dir, argv[1], argv[2:])
    if argv[:1] == ["daemon"] and argv[1:2] in (["up"], ["down"], ["status"]):
        return _lms_daemon(state_dir, argv[1], argv[2:])
    # Everything else: the fake lms of the other tests, against the daemon's HTTP server.
    server = _daemon_call(state_dir, "GET", "/status") or {}
    if server.get("server"):
        os.environ["FAKE_LMS_SERVER"] = server["server"]["origin"]
    from . import _lms_script

    return _lms_script.main(argv)


def _daemon_call(state_dir: Path, method: str, path: str, payload: dict | None = None,
                 timeout: float = 10.0) -> dict | None:
    """A request to the running daemon's control port; None when no daemon answers."""
    import urllib.error
    import urllib.request

    status = _read_json(state_dir / "llmster.json")
    if not status or not status.get("control"):
        return None  # no daemon, or one still waking up
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{status['control']}{path}", data=data, method=method)
    try:
        with opener.open(request, timeout=timeout) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        with error:
            return json.loads(error.read() or b"{}")
    except (OSError, ValueError):
        return None


def _find_or_start_daemon(state_dir: Path) -> dict | None:
    """findOrStartLlmster: the daemon's status, starting it (detached, no stdio) when none answers."""
    import subprocess

    status = _daemon_call(state_dir, "GET", "/status")
    if status is not None:
        return status
    _say("Waking up LM Studio service...")
    child = subprocess.Popen([sys.executable, "-c", _LLMSTER.format(tests=_TESTS, state=str(state_dir))],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 60  # lms polls the service 60 times, a second apart
    while time.monotonic() < deadline and child.poll() is None:
        status = _daemon_call(state_dir, "GET", "/status")
        if status is not None:
            return status
        time.sleep(0.02)
    return None


def _greeting(host: str, port: int) -> bool:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{host}:{port}/lmstudio-greeting", timeout=0.5) as response:
            return response.status == 200 and json.loads(response.read()).get("lmstudio") is True
    except (OSError, ValueError, AttributeError):
        return False


def _lms_server_start(state_dir: Path, argv: list[str]) -> int:
    parsed = _options(argv, ("-p", "--port", "--bind", "--log-level"), ("--cors", "--verbose", "--quiet"))
    if parsed is None or parsed[1]:
        _say(f"error: unknown option '{argv[0] if argv else ''}'")
        return 1
    options = parsed[0]
    last = _read_json(state_dir / "http-server-config.json") or {}
    port_text = options.get("-p", options.get("--port"))
    port = int(port_text) if port_text is not None else int(last.get("port", 1234))
    bind = options.get("--bind") or os.environ.get("LMS_SERVER_HOST") or "127.0.0.1"
    if _find_or_start_daemon(state_dir) is None:
        _say("Failed to start or connect to local LM Studio API server.")
        return 1
    answer = _daemon_call(state_dir, "POST", "/server/start",
                          {"port": port, "bind": bind, "cors": bool(options.get("--cors"))})
    if not answer or answer.get("error"):
        _say(f"Error: {(answer or {}).get('error', 'LM Studio did not answer')}")
        return 1
    for _ in range(5):  # checkHttpServerWithRetries(..., 5)
        if _greeting(bind, port):
            _say(f"Success! Server is now running on port {port}")
            return 0
        time.sleep(1)
    _say("Failed to verify the server is running. Please try to use another port.")
    return 1


def _lms_server_other(state_dir: Path, command: str, argv: list[str]) -> int:
    status = _daemon_call(state_dir, "GET", "/status") or {}
    server = status.get("server")
    if command == "status":
        if "--json" in argv:
            print(json.dumps({"running": bool(server), "port": (server or {}).get("port")}))
        else:
            _say(f"The server is running on port {server['port']}." if server else "The server is not running.")
        return 0
    if not server:
        _say("The server is not running.")
        return 1
    _daemon_call(state_dir, "POST", "/server/stop", {})
    _say(f"Stopped the server on port {server['port']}.")
    return 0


def _lms_daemon(state_dir: Path, command: str, argv: list[str]) -> int:
    if command == "status":
        status = _daemon_call(state_dir, "GET", "/status")
        if "--json" in argv:
            print(json.dumps({"status": "running", "pid": status["pid"]} if status else {"status": "not-running"}))
        else:
            _say(f"llmster is running (PID: {status['pid']})" if status else "LM Studio is not running")
        return 0
    if command == "down":
        status = _daemon_call(state_dir, "POST", "/down", {})
        _say("llmster stopped." if status is not None else "The daemon is not running.")
        return 0
    before = _daemon_call(state_dir, "GET", "/status")
    status = _find_or_start_daemon(state_dir)
    if status is None:
        _say("Failed to start or connect to local LM Studio API server.")
        return 1
    if "--json" in argv:
        print(json.dumps({"status": "running", "pid": status["pid"], "isDaemon": True, "version": "0.0.0-fake"}))
    elif before is not None:
        print(f"The daemon is already running (PID: {status['pid']}).")
    else:
        print(f"llmster started (PID: {status['pid']}).")
    return 0


def llmster(state: str) -> int:
    """The fake headless LM Studio service: a control port (its state in llmster.json) that opens
    and closes the LM Studio emulator's HTTP server on the port `lms server start` asks for."""
    from .http_emulator import HTTPEmulator, json_reply
    from .lmstudio import LMStudioEmulator

    state_dir = Path(state)
    _STATE[:] = [state]
    config = _read_json(state_dir / "config.json") or {}
    stop = _Stop()
    serving: dict[str, Any] = {}

    class Control(HTTPEmulator):
        def routes(self):
            return {("GET", "/status"): status, ("POST", "/server/start"): start,
                    ("POST", "/server/stop"): stop_server, ("POST", "/down"): down}

    def status(request):
        server = serving.get("emulator")
        return json_reply({"pid": os.getpid(), "server": None if server is None else
                           {"port": server.port, "bind": serving["bind"], "origin": server.origin}})

    def start(request):
        body = request.body_object()
        port, bind = int(body.get("port", 1234)), str(body.get("bind", "127.0.0.1"))
        with control.lock:
            current = serving.get("emulator")
            if current is not None and (current.port, serving["bind"]) == (port, bind):
                return json_reply({"ok": True})
            if current is not None:
                current.stop()
                _keep_errors(current)
                serving.clear()
            failure = config.get("fail", {}).get("lms")
            if failure:
                return json_reply({"error": failure}, 500)
            emulator = LMStudioEmulator(**config.get("lmstudio", {}))
            emulator.bind_host, emulator.bind_port = bind, port
            try:
                emulator.start()
            except OSError as exc:
                return json_reply({"error": f"Failed to start the server on port {port}: {exc.strerror or exc}"},
                                  500)
            serving.update(emulator=emulator, bind=bind)
            (state_dir / "http-server-config.json").write_text(json.dumps({"port": port, "networkInterface": bind}))
        return json_reply({"ok": True})

    def stop_server(request):
        with control.lock:
            if serving.get("emulator") is not None:
                stopped = serving.pop("emulator")
                stopped.stop()
                _keep_errors(stopped)
        return json_reply({"ok": True})

    def down(request):
        stop.event.set()
        return json_reply({"ok": True})

    # What takes long in a real start is waking the service (lms waits up to 60 s), not opening
    # its HTTP server: the slow start of `lms` is here, before the daemon answers.
    (state_dir / "llmster.json").write_text(json.dumps({"pid": os.getpid(), "control": None}))  # for kill_all
    if stop.wait(float(config.get("start_seconds", {}).get("lms", 0))):
        return 0
    control = Control().start()
    (state_dir / "llmster.json").write_text(json.dumps({"pid": os.getpid(), "control": control.port}))
    try:
        stop.wait()
    finally:
        if serving.get("emulator") is not None:
            serving["emulator"].stop()
            _keep_errors(serving["emulator"])
        control.stop()
        (state_dir / "llmster.json").unlink(missing_ok=True)
    return 0

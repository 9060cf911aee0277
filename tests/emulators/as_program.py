"""An emulator run as a server's own program, for tests of lmprep starting a server that is down:

    python tests/emulators/as_program.py KIND PORT [--listen-after S] [--exit-after S] [--pid-file PATH]

serves the emulator of KIND (vllm, llamacpp, ollama, lmstudio, lemonade, dmr) on 127.0.0.1:PORT
until SIGTERM or SIGINT. ``--listen-after``: sleep that long first (a server that takes a while to
come up); ``--exit-after``: end with exit status 3 after that long, without ever listening (a
server that dies); ``--pid-file``: write its pid there first. It says what it does on stdout,
which lmprep sends to the server's log.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

KINDS = {
    "vllm": ("vllm", "VLLMEmulator"),
    "llamacpp": ("llamacpp", "LlamaServerEmulator"),
    "ollama": ("ollama", "OllamaEmulator"),
    "lmstudio": ("lmstudio", "LMStudioEmulator"),
    "lemonade": ("lemonade", "LemonadeEmulator"),
    "dmr": ("dmr", "DockerModelRunnerEmulator"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("port", type=int)
    parser.add_argument("--listen-after", type=float, default=0.0)
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--pid-file")
    options = parser.parse_args(argv)
    if options.pid_file:
        with open(options.pid_file, "w") as handle:
            handle.write(str(os.getpid()))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"emulator {options.kind} starting, pid {os.getpid()}", flush=True)
    if options.exit_after is not None:
        stop.wait(options.exit_after)
        print("error: the emulator gives up (as told: --exit-after)", file=sys.stderr, flush=True)
        return 3
    if stop.wait(options.listen_after):
        return 0
    import importlib

    module_name, class_name = KINDS[options.kind]
    module = importlib.import_module(f"emulators.{module_name}")
    emulator_class = getattr(module, class_name)
    emulator_class.bind_port = options.port
    with emulator_class() as emulator:
        print(f"emulator {options.kind} listening at {emulator.origin}", flush=True)
        while not stop.wait(0.1):
            pass
    return 0


if __name__ == "__main__":
    # Run as a file (`python tests/emulators/as_program.py`), as a configured `command` would: the
    # folder holding the emulators package is not on the path otherwise.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())

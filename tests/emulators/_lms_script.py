"""A stand-in for LM Studio's ``lms`` CLI, driven by a running LMStudioEmulator.

emulators.fake_lms.install_fake_lms copies this file into a ``bin`` directory as an executable
``lms`` (shebang: the test interpreter) and embeds the emulator's origin below; ``$FAKE_LMS_SERVER``
overrides it. Standard library only: the copy must run without the repository on ``sys.path``.

Reproduced from the real CLI (providers.md): progress on stdout rewritten with ``\\r`` and ANSI
codes even when piped, status and errors on stderr, exit 1 for every error, unknown options, and
Ctrl-C; ``lms get`` without ``--yes`` asks for confirmation on stdin.

Test hooks: ``$FAKE_LMS_LOG`` gets one JSON line per invocation (``{"argv": [...], "pid": N}``);
``$FAKE_LMS_PIDFILE`` gets the pid of the running invocation; ``$FAKE_LMS_GET_WRITES`` names a
JSON file ``[[stream, text, times], ...]`` that ``lms get`` writes first (hostile output: escape
sequences, megabytes without a line end).
"""

import os
import signal
import sys


def _exit_on_signal(signum, frame):
    raise SystemExit(1)  # the real lms exits 1 on Ctrl-C; installed first so no window is missed


signal.signal(signal.SIGINT, _exit_on_signal)
signal.signal(signal.SIGTERM, _exit_on_signal)

import json  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402
import urllib.request  # noqa: E402

EMBEDDED_SERVER_ORIGIN = None  # install_fake_lms writes the emulator's origin here

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
CLEAR_LINE = "\x1b[2K"
HIDE_CURSOR = "\x1b[?25l"
SHOW_CURSOR = "\x1b[?25h"
BAR_WIDTH = 30
# Proxy-free: HTTP_PROXY in the test environment must not capture loopback traffic.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Failure(Exception):
    """Ends the command: message on stderr, exit 1."""


class NotRunning(Exception):
    pass


def out(text):
    # Bytes, so the spinner survives a C locale; flushed, so a pipe sees every redraw at once.
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def err(text):
    sys.stderr.buffer.write(text.encode("utf-8"))
    sys.stderr.buffer.flush()


def server_origin():
    origin = os.environ.get("FAKE_LMS_SERVER") or EMBEDDED_SERVER_ORIGIN
    if not origin:
        raise NotRunning()
    return origin.rstrip("/")


def call(method, path, payload=None):
    """JSON request to the emulator's admin routes → (status, parsed body)."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(
        server_origin() + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with OPENER.open(request, timeout=300) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read() or b"null")
    except (urllib.error.URLError, OSError) as error:
        raise NotRunning() from error


def parse(command, args, flags=(), valued=(), max_positionals=1):
    """Commander-style parsing: ``flags`` take no value, ``valued`` options take one (``-c 8`` or
    ``--context-length=8``). Returns (positionals, {option: value or True})."""
    positionals, options = [], {}
    remaining = list(args)
    while remaining:
        arg = remaining.pop(0)
        if arg == "--":
            positionals += remaining
            break
        name, has_inline, inline = arg.partition("=")
        if arg.startswith("-") and name in valued:
            if has_inline:
                options[name] = inline
            elif remaining:
                options[name] = remaining.pop(0)
            else:
                raise Failure(f"error: option '{name}' argument missing")
        elif arg in flags:
            options[arg] = True
        elif arg.startswith("-") and arg != "-":
            raise Failure(f"error: unknown option '{arg}'")
        else:
            positionals.append(arg)
    if len(positionals) > max_positionals:
        raise Failure(
            f"error: too many arguments for '{command}'. Expected {max_positionals} argument"
            f"{'s' if max_positionals != 1 else ''} but got {len(positionals)}."
        )
    return positionals, options


def human_size(size):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if size >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def error_message(body):
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", error))
    return str(error or body)


def models():
    return call("GET", "/__emulator/lms/state")[1]["models"]


# ---------------------------------------------------------------------- commands


def command_get(args):
    positionals, options = parse(
        "get", args, flags=("-y", "--yes", "--gguf", "--mlx", "--select"), valued=(), max_positionals=1
    )
    if not positionals:
        raise Failure("Error: Please specify a model to download.")
    if "--gguf" in options and "--mlx" in options:
        raise Failure("Error: --gguf and --mlx cannot be used together.")
    model = positionals[0]
    plan = call("POST", "/__emulator/lms/get", {"model": model})[1]
    if plan["status"] == "already":
        out(f"Model already downloaded. To use, run: lms load {model}\n")
        return 0
    if plan["status"] == "unknown":
        raise Failure(f"Error: Cannot find a model matching {model}")

    extra_writes()
    size = plan["size_bytes"]
    out(f"Searching for models with the term {model}\n\n   \u2193 To download: {model} - {human_size(size)}\n\n")
    if not ("-y" in options or "--yes" in options):
        out("? Start download? (Y/n) ")
        answer = sys.stdin.readline() if sys.stdin else ""
        if not answer:
            raise Failure("Error: User force closed the prompt")
        if answer.strip().lower().startswith("n"):
            raise Failure("Error: Download cancelled.")
    show_progress(plan["steps"], plan["step_seconds"], size)
    if plan["error"]:
        raise Failure(f"Error: {plan['error']}")
    err("Finalizing download...\n")
    call("POST", "/__emulator/lms/downloaded", {"model": model})
    err("Download completed.\n")
    return 0


def extra_writes():
    path = os.environ.get("FAKE_LMS_GET_WRITES")
    if not path:
        return
    with open(path, encoding="utf-8") as file:
        writes = json.load(file)
    for stream, text, times in writes:
        write = out if stream == "stdout" else err
        piece = text * max(1, 65536 // max(len(text), 1))  # about 64 kB a write, as a busy program does
        whole, rest = divmod(times * len(text), len(piece))
        for _ in range(whole):
            write(piece)
        write(text * (rest // len(text)) if rest else "")


def show_progress(steps, step_seconds, size):
    out(HIDE_CURSOR)
    try:
        for step in range(steps + 1):
            if step:
                time.sleep(step_seconds)
            fraction = step / steps if steps else 1.0
            filled = int(fraction * BAR_WIDTH)
            bar = ("=" * max(filled - 1, 0) + (">" if filled else "")).ljust(BAR_WIDTH)
            speed = size / steps / step_seconds if steps and step_seconds > 0 else size
            out(
                f"{CLEAR_LINE}\r{SPINNER[step % len(SPINNER)]} Downloading [{bar}] {fraction * 100:.2f}% | "
                f"{human_size(int(size * fraction))}/{human_size(size)} | {human_size(int(speed))}/s"
            )
    finally:
        out(SHOW_CURSOR + "\n")


def command_load(args):
    positionals, options = parse(
        "load",
        args,
        flags=("-y", "--yes", "--exact", "--estimate-only"),
        valued=("-c", "--context-length", "--ttl", "--gpu", "--identifier"),
    )
    if not positionals:
        raise Failure("Error: Please specify a model key to load.")
    if "--estimate-only" in options:
        return estimate_only(positionals[0], options.get("-c", options.get("--context-length")))
    payload = {"model": positionals[0]}
    context = options.get("-c", options.get("--context-length"))
    if context is not None:
        if not context.isdigit():
            raise Failure(f"error: option '-c, --context-length <length>' argument '{context}' is invalid.")
        payload["context_length"] = int(context)
    started = time.monotonic()
    status, body = call("POST", "/__emulator/lms/load", payload)
    if status != 200:
        raise Failure(f"Error: {error_message(body)}")
    out(f"Model loaded successfully in {time.monotonic() - started:.2f}s.\nIdentifier: {body['instance_id']}\n")
    return 0


def sized(count):
    """lms's formatSizeBytes1024: the largest binary unit below the value, two decimals."""
    units, index = ["Bytes", "KiB", "MiB", "GiB", "TiB"], 0
    while index < 4 and count >= 1024 ** (index + 1):
        index += 1
    return f"{count} Bytes" if index == 0 else f"{count / 1024 ** index:.2f} {units[index]}"


def estimate_only(model, context):
    """`lms load --estimate-only` as lms 0.3.43 prints it (src/subcommands/load.ts, to stderr, sizes
    by formatSizeBytes1024); $FAKE_LMS_ESTIMATE is the total in bytes. Unset: an lms before
    0.3.27, which has no such option (commander's message)."""
    total = os.environ.get("FAKE_LMS_ESTIMATE")
    if total is None:
        raise Failure("error: unknown option '--estimate-only'")
    if model not in [m["key"] for m in models()]:
        raise Failure(f"Error: Cannot find a model matching {model}")
    context_line = f"Context Length: {int(context):,}\n" if context else ""
    size = sized(int(total))
    err(f"Model: {model}\n{context_line}Estimated GPU Memory:   {size}\n"
        f"Estimated Total Memory: {size}\n\n"
        "Estimate: This model may be loaded based on your resource guardrails settings.\n")
    return 0


def command_ps(args):
    _, options = parse("ps", args, flags=("--json",), max_positionals=0)
    loaded = [m for m in models() if m["loaded_context_length"] is not None]
    if "--json" in options:
        instances = [
            {
                "type": "llm",
                "identifier": m["key"],
                "modelKey": m["key"],
                "displayName": m["key"].rsplit("/", 1)[-1],
                "sizeBytes": m["size_bytes"],
                "contextLength": m["loaded_context_length"],
                "maxContextLength": m["max_context_length"],
                "status": "idle",
            }
            for m in loaded
        ]
        out(json.dumps(instances) + "\n")
    elif not loaded:
        out("No models are currently loaded\n")
    else:
        out("".join(f"{m['key']}  {m['loaded_context_length']}  IDLE\n" for m in loaded))
    return 0


def command_ls(args):
    _, options = parse("ls", args, flags=("--json", "--llm", "--embedding", "--detailed"), max_positionals=1)
    downloaded = models()
    if "--json" in options:
        entries = [
            {
                "type": "llm",
                "modelKey": m["key"],
                "format": "gguf",
                "displayName": m["key"].rsplit("/", 1)[-1],
                "path": f"{m['key']}/model.gguf",
                "sizeBytes": m["size_bytes"],
                "maxContextLength": m["max_context_length"],
                "architecture": "llama",
            }
            for m in downloaded
        ]
        out(json.dumps(entries) + "\n")
    else:
        out("".join(f"{m['key']}  {human_size(m['size_bytes'])}\n" for m in downloaded))
    return 0


def command_server(args):
    if args[:1] != ["status"]:
        raise Failure(f"error: unknown command '{args[0] if args else ''}'")
    _, options = parse("status", args[1:], flags=("--json", "--verbose", "--quiet"), max_positionals=0)
    try:
        port = call("GET", "/__emulator/lms/state")[1]["port"]
        status = {"running": True, "port": port}
        text = f"The server is running on port {port}.\n"
    except NotRunning:
        status, text = {"running": False}, "The server is not running.\n"
    out(json.dumps(status) + "\n" if "--json" in options else text)
    return 0


COMMANDS = {"get": command_get, "load": command_load, "ps": command_ps, "ls": command_ls, "server": command_server}


def record_invocation():
    log_path = os.environ.get("FAKE_LMS_LOG")
    if log_path:
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"argv": sys.argv[1:], "pid": os.getpid()}) + "\n")
    pid_path = os.environ.get("FAKE_LMS_PIDFILE")
    if pid_path:
        with open(pid_path, "w", encoding="utf-8") as pid_file:
            pid_file.write(f"{os.getpid()}\n")


def main(argv):
    record_invocation()
    if not argv or argv[0] in ("-h", "--help", "help"):
        out("Usage: lms <command> [options]\n\nCommands: " + ", ".join(COMMANDS) + ", version\n")
        return 0
    if argv[0] in ("version", "--version", "-v"):
        out("lms - LM Studio CLI - v0.0.0 (fake)\n")
        return 0
    command = COMMANDS.get(argv[0])
    try:
        if command is None:
            raise Failure(f"error: unknown command '{argv[0]}'")
        return command(argv[1:])
    except Failure as failure:
        err(f"{failure}\n")
    except NotRunning:
        err("Error: LM Studio is not running\n")
    except BrokenPipeError:
        pass  # the reader went away
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`lmprep config init`: a commented starter config file that changes nothing until edited."""

from __future__ import annotations

from pathlib import Path

STARTER_CONFIG = """\
# lmprep configuration, written by `lmprep config init`.
# Every setting is commented out: lmprep behaves as without this file until you edit it.
# Precedence, highest first: command-line flags, LMPREP_* variables, the ecosystem's
# variables (CODEX_OSS_BASE_URL, CODEX_OSS_PORT, OLLAMA_HOST, LM_STUDIO_BASE_URL, LM_API_TOKEN),
# this file, Codex's own oss_provider (in ~/.codex/config.toml, or $CODEX_HOME/config.toml),
# built-in defaults. `lmprep config show` prints every value and where it came from.

# Provider used when --local-provider / LMPREP_PROVIDER is not given. Without it, lmprep probes
# LM Studio (1234), Ollama (11434), llama.cpp (8080), vLLM (8000), Lemonade Server (13305) and
# Docker Model Runner (12434) at once and uses the one that is running.
# One of: lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai, or the name of a [providers.NAME] entry.
# oss_provider = "lmstudio"

# How to load the model once it is present: "background" (default), "wait" or "off".
# warm_up = "background"

# true: never download; a missing model is an error (exit 6).
# offline = false

# Seconds to wait for a connection (default 5), seconds a server has to answer a request (default
# 10; loads and pulls have their own limits), and an overall deadline (default none; past it, exit 10).
# connect_timeout = 5
# read_timeout = 10
# timeout = 900

# Seconds a download may go without progress before it counts as failed (default 120).
# stall_timeout = 120

# The context window the loaded model must have, in tokens (each --for AGENT implies the one that
# agent needs: 65536 for codex, 100000 for claude, ...; the README lists them all).
# "64k" means 65536 (k: 1024, as agents' and Ollama's docs write windows).
# min_context = 65536

# How long the server keeps the model loaded after lmprep loads it: "30m", "2h", "90s", seconds,
# or -1 for ever. Default: the server's own.
# keep_alive = "2h"

# The agent you run (one of codex, claude, opencode, aider, qwen, goose, llm, copilot, kilo, pi,
# droid, cline, openai): a bare `lmprep` then acts as `lmprep --for codex`, so the model is loaded
# once, with the window that agent needs. LMPREP_FOR and --for override it (`--for openai`: the
# generic OpenAI client, no agent's minimum); "none": no agent. Also per provider, below.
# for = "codex"

# Before a load, lmprep estimates the memory the model needs at its window (weights + KV cache)
# and refuses a required window that does not fit the free GPU (or system) memory, exit 11;
# true loads it anyway (as --ignore-fit does).
# ignore_fit = false

# A server on this machine (a localhost base URL) that is down is started, detached, where lmprep
# knows how: llama-server from model_path/models_dir below, or any provider's `command`; its log
# goes under lmprep's state folder (~/.local/state/lmprep/logs). false: never (as --no-start
# does); also per provider, below.
# start = true

# Each provider's table: base_url and model; lms_path (LM Studio only): where `lms` is;
# api_key_env: the NAME of the variable holding the server's token, never the token.
# A base_url without a path (http://localhost:11434) means the server's API base under it
# (/v1; Lemonade /api/v1, Docker Model Runner /engines/v1); kind = "openai" takes it as written.
# [providers.lmstudio]
# base_url = "http://localhost:1234/v1"
# model = "openai/gpt-oss-20b"
# lms_path = "~/.lmstudio/bin/lms"
# api_key_env = "LM_API_TOKEN"

# [providers.ollama]
# base_url = "http://localhost:11434/v1"
# model = "gpt-oss:20b"
# for = "claude"                     # the agent used with this provider (over the top-level `for`)

# [providers.llamacpp]
# base_url = "http://localhost:8080/v1"
# model = "my-model"
# Starting llama-server when it is down: the model (model_path, or models_dir for router mode;
# lmprep never guesses one) and extra flags; lmprep adds --host/--port from base_url, --jinja,
# and -c with the agent's window.
# model_path = "~/models/qwen3-coder-30b-q4_k_m.gguf"
# models_dir = "~/models"
# args = ["-ngl", "99", "-np", "1"]
# start = false                      # never start this one (over the top-level `start`)

# Any server (vLLM, a script of yours): the whole command lmprep runs to start it (a list, no
# shell); it wins over what lmprep would run.
# [providers.vllm]
# command = ["vllm", "serve", "Qwen/Qwen3-8B", "--port", "8000"]

# A LiteLLM proxy on a shared box (not auto-detected): its key (the master key, or a virtual key
# where it has a database) in the variable that LiteLLM's own client reads.
# [providers.litellm]
# base_url = "https://gpu-box.lan:4000/v1"
# model = "qwen3-coder"
# api_key_env = "LITELLM_PROXY_API_KEY"

# A custom entry: any name, with kind = lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap or openai.
# Select it with `--local-provider gpu-box` or `oss_provider = "gpu-box"`.
# [providers.gpu-box]
# kind = "openai"
# base_url = "http://10.0.0.5:8000/v1"
# model = "Qwen/Qwen3-8B"
# api_key_env = "GPU_BOX_TOKEN"
# ca_cert = "~/certs/team-ca.pem"    # an https server whose certificate a private CA signed
"""


class AlreadyExists(Exception):
    """The config file exists and replacing it was not asked for."""


def write_starter(path: Path, *, force: bool = False) -> Path | None:
    """Write the starter file at ``path`` (parents created); returns the backup of a replaced
    file, if any (FILE.bak, else FILE.bak.1, ...: an earlier backup is never overwritten).
    Raises AlreadyExists when ``path`` exists and ``force`` is false, OSError when it cannot be
    written; then nothing is lost and nothing half-written is left (not even an empty file).
    Raises files.NotARegularFile, with or without ``force``, when a FIFO, a device, a folder or
    a symbolic link is at ``path``: replacing renames it away (as root, /dev/null itself)."""
    from .files import check_regular_or_absent, replace_keeping_backup, write_new

    path = Path(path)
    data = STARTER_CONFIG.encode("utf-8")
    check_regular_or_absent(path)
    if not force:
        try:
            write_new(path, data)
        except FileExistsError:
            raise AlreadyExists(str(path)) from None
        return None
    return replace_keeping_backup(path, data)

"""lmprep on a real terminal (a pseudo-terminal): live lines fit its width, and nothing but text,
``\\r``, ``\\n`` and colour reaches it from a child (`lms`) or a server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from e2e import lmprep_argv, run_lmprep
from pty_screen import rows_needed, run_on_terminal, screen_rows, unclean

pytestmark = pytest.mark.e2e

MODEL = "openai/gpt-oss-20b"
HF_MODEL = "hf.co/bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M"

#: What a hostile `lms` (or any child) may write to make a terminal act: each reaches none.
HOSTILE_SEQUENCES = {
    "osc-52-bel": "\x1b]52;c;cm0gLXJmIH4K\x07",  # writes the clipboard ("rm -rf ~")
    "osc-52-st": "\x1b]52;c;cm0gLXJmIH4K\x1b\\",
    "osc-0-title": "\x1b]0;pwned title\x07",
    "osc-2-title": "\x1b]2;pwned title\x1b\\",
    "csi-2j-clear": "\x1b[2J\x1b[H",
    "csi-6n-query": "\x1b[6n",  # the terminal answers on stdin, as if typed
    "dcs": "\x1bP1$qm\x1b\\",
    "c1-csi": "\u009b2J",  # the 8-bit forms, as UTF-8
    "c1-osc": "\u009d0;pwned title\u009c",
    "bare-esc": "\x1bc\x1b",
}


def lmprep_on_terminal(*args: str, env: dict | None = None, columns: int = 80) -> tuple[int, bytes]:
    environment = {**os.environ, "TERM": "xterm-256color", **(env or {})}
    environment.pop("NO_COLOR", None)
    environment.pop("COLUMNS", None)  # the terminal's own width, as lmprep reads it
    return run_on_terminal(lmprep_argv() + list(args), environment, columns=columns)


@pytest.mark.parametrize(("model", "source"), [
    (HF_MODEL, "from Hugging Face"),
    ("qwen2.5-coder:7b", "from the Ollama library"),
])
def test_an_ollama_pull_leaves_one_row_per_line_at_80_columns(ollama_emulator, model, source):
    """A redraw wider than the terminal wraps, and the next ``\\r`` goes back to the start of its
    last row only: each redraw of the pull left a row behind (one per tenth of a second)."""
    ollama_emulator.pull_catalog = {model: {"layers": [4_700_000_000, 12_000, 485], "chunks": 12,
                                            "chunk_seconds": 0.05}}
    code, raw = lmprep_on_terminal("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", model,
                                   "--warm-up", "off")
    text = raw.decode()
    assert code == 0, text
    assert f"Pulling {model} {source}" in text
    redraws = text.count("\r\x1b[2KPulling")
    assert redraws >= 5, text  # the pull was drawn live, several times
    rows = screen_rows(raw, 80)
    assert len(rows) == rows_needed(raw, 80), "\n".join(rows)
    assert unclean(raw) == []


@pytest.mark.parametrize(("model", "source"), [
    ("llama3", "the Ollama library"), ("library/llama3:8b", "the Ollama library"),
    ("registry.ollama.ai/library/llama3", "the Ollama library"), ("someone/their-model", "ollama.com"),
    ("hf.co/bartowski/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M", "Hugging Face"), ("HF.co/u/r", "Hugging Face"),
    ("huggingface.co/unsloth/gemma-3-4b-it-GGUF", "Hugging Face"),
    ("registry.example.com:5000/team/model:1", "registry.example.com:5000"),
])
def test_a_pull_says_where_ollama_pulls_from(model, source):
    from lmprep.providers.ollama import pull_source

    assert pull_source(model) == source


def test_a_progress_line_keeps_its_numbers_and_loses_the_middle_of_the_name(ollama_emulator):
    ollama_emulator.pull_catalog = {HF_MODEL: {"layers": [4_700_000_000], "chunks": 8, "chunk_seconds": 0.05}}
    code, raw = lmprep_on_terminal("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", HF_MODEL,
                                   "--warm-up", "off", columns=60)
    assert code == 0, raw.decode()
    draws = [draw for draw in raw.decode().split("\r\x1b[2K") if draw.startswith("Pulling")]
    assert draws
    for draw in draws:
        assert len(draw) <= 59, draw
        assert draw.startswith("Pulling") and "…" in draw and re.search(r"B of 4\.7 GB \(\d+%\)", draw), draw


def hostile_lms(tmp_path, lmstudio_emulator, fake_lms, writes) -> dict:
    lmstudio_emulator.catalog = {MODEL: {"steps": 4, "step_seconds": 0.01}}
    path = tmp_path / "writes.json"
    path.write_text(json.dumps(writes))
    return {"FAKE_LMS_GET_WRITES": str(path)}


@pytest.mark.parametrize("name", sorted(HOSTILE_SEQUENCES))
def test_no_escape_sequence_from_lms_reaches_the_terminal(tmp_path, lmstudio_emulator, fake_lms, name):
    sequence = HOSTILE_SEQUENCES[name]
    env = hostile_lms(tmp_path, lmstudio_emulator, fake_lms, [
        ["stdout", f"before {sequence} after\r\x1b[2K\r50% {sequence}", 1],
        ["stderr", f"warn {sequence}\n", 1],
        ["stdout", f"\r\x1b[32mcoloured\x1b[0m {sequence}\n", 1],
    ])
    code, raw = lmprep_on_terminal("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                                   env=env)
    text = raw.decode(errors="replace")
    assert code == 0, text
    assert unclean(raw) == [], text
    assert "pwned" not in text and "cm0gLXJmIH4K" not in text
    assert "warn" in text and "coloured" in text and "Download completed." in text


def test_lms_progress_on_a_terminal_fits_its_width_and_keeps_its_lines(tmp_path, lmstudio_emulator, fake_lms):
    lmstudio_emulator.catalog = {MODEL: {"steps": 10, "step_seconds": 0.02}}
    code, raw = lmprep_on_terminal("-p", "lmstudio", "--base-url", lmstudio_emulator.base_url, "--warm-up", "off",
                                   columns=70)
    assert code == 0, raw.decode()
    rows = screen_rows(raw, 70)
    assert unclean(raw) == []  # `lms`'s own erase-line and cursor hiding are its own, not passed on
    assert "Finalizing download..." in rows and "Download completed." in rows
    assert any(row.startswith("⠋ Downloading [") and "100.00%" in row for row in rows), rows
    draws = [draw for draw in raw.decode().split("\r\x1b[2K") if "Downloading [" in draw and "\n" not in draw]
    assert draws and all(len(draw) <= 69 for draw in draws), draws


def test_lms_output_without_a_line_end_is_read_linearly_and_shown_bounded(tmp_path, lmstudio_emulator, fake_lms):
    """20 MB without a line break: every byte is read once (the run ends; it took minutes of CPU
    before), memory stays bounded, and the line shown keeps its start and its end only."""
    env = hostile_lms(tmp_path, lmstudio_emulator, fake_lms, [["stderr", "start ", 1], ["stderr", "x", 20_000_000],
                                                               ["stderr", " end\n", 1]])
    with open(tmp_path / "stderr", "w+b") as stderr:
        # Measured by a small parent: a child forked from pytest inherits pytest's peak RSS.
        measured = subprocess.run([sys.executable, "-c", MEASURE, *lmprep_argv(), "-p", "lmstudio", "--base-url",
                                   lmstudio_emulator.base_url, "--warm-up", "off"],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                                  env={**os.environ, **env}, timeout=300, check=True)
        stderr.seek(0)
        text = stderr.read().decode()
    code, peak_kib, cpu = json.loads(measured.stdout)
    assert code == 0, text[-2000:]
    line = next(line for line in text.splitlines() if line.startswith("start "))
    assert line.endswith("x end") and "…" in line and len(line) < 5000
    assert len(text) < 20_000
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB"
    print(f"20 MB without a line end: {cpu:.1f} s of CPU, peak RSS {peak_kib >> 10} MiB")


#: Runs argv, its stdio inherited; prints [exit code, peak RSS in KiB, CPU seconds] of it alone.
MEASURE = """
import json, os, subprocess, sys
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(json.dumps([os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime]))
"""


def test_config_path_and_init_print_no_control_character(tmp_path):
    path = str(tmp_path / "a\x1b]52;c;cm0K\x07b\x1b[2J.toml")
    shown = run_lmprep("config", "path", env={"LMPREP_CONFIG": path})
    assert shown.returncode == 0 and "\x1b" not in shown.stdout + shown.stderr and "\x07" not in shown.stdout
    written = run_lmprep("config", "init", env={"LMPREP_CONFIG": path})
    assert written.returncode == 0 and os.path.exists(path)
    again = run_lmprep("config", "init", env={"LMPREP_CONFIG": path})
    assert again.returncode == 2
    for run in (written, again):
        assert "\x1b" not in run.stderr and "\x07" not in run.stderr, run.stderr

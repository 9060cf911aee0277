"""The README's first two commands set everything up on a fresh machine, also where the system
Python refuses to install into itself (PEP 668): they make a virtual environment and use it; and
CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def first_commands() -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)[:2]


def test_the_first_two_commands_install_into_a_virtual_environment_they_create():
    install, test = first_commands()
    for command in (install, test):
        steps = [step.strip() for step in command.split("&&")]
        assert steps[:2] == ["python3 -m venv .venv", ". .venv/bin/activate"], command
        assert steps[2].startswith("python -m pip install ")  # the venv's python, not the system's
    assert install.endswith("&& lmprep --help")


def test_ci_runs_the_readme_test_command_in_a_virtual_environment():
    _, test = first_commands()
    readme_test = test.split("&&")[-1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert ci[-1] == readme_test == "python -m pytest"
    assert "python3 -m venv .venv" in ci and ". .venv/bin/activate" in ci
    assert "export LMPREP_HYPOTHESIS_PROFILE=ci" in ci  # CI runs every property test's full count


def test_the_readme_names_the_user_installers_and_completion():
    text = (ROOT / "README.md").read_text()
    assert "pipx install ." in text and "uv tool install ." in text
    for shell in ("bash", "zsh", "fish"):
        assert f"lmprep completion {shell}" in text

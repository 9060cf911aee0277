"""Finding LM Studio's `lms` CLI and downloading a model with it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

from .config import Sourced
from .deadline import Deadline
from .errors import DownloadFailedError
from .events import ChildOutput, Reporter, Step
from .proc import is_executable_file, run_streaming
from .termtext import TerminalLines

LMS_NAME = "lms.exe" if sys.platform == "win32" else "lms"
INSTALL_HINT = (
    "Install LM Studio from https://lmstudio.ai/download and run it once, or run "
    "`~/.lmstudio/bin/lms bootstrap` to put `lms` on PATH; or set LMPREP_LMS to its path."
)


def lmstudio_homes(home: Path) -> list[Path]:
    """LM Studio's home folders in the order `lms` itself looks at them."""
    homes: list[Path] = []
    pointer = home / ".lmstudio-home-pointer"
    try:
        target = pointer.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        target = ""
    if target:
        homes.append(Path(target).expanduser())
    homes += [home / ".lmstudio", home / ".cache" / "lm-studio"]
    return homes


def find_lms(configured: Sourced[str] | None, environ: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """Where `lms` is: the configured path, else PATH, else LM Studio's home folders.

    Raises DownloadFailedError when none is an executable file.
    """
    if configured is not None:
        path = Path(configured.value).expanduser()
        if is_executable_file(path):
            return path
        raise DownloadFailedError(
            f"`lms` from {configured.source} ({path}) is not an executable file.",
            f"Fix {configured.source}, or unset it to let lmprep look on PATH and in ~/.lmstudio/bin.",
        )
    environ = os.environ if environ is None else environ
    on_path = shutil.which(LMS_NAME, path=environ.get("PATH"))
    if on_path:
        return Path(on_path)
    home = Path(environ.get("HOME") or Path.home()) if home is None else home
    looked = []
    for lm_home in lmstudio_homes(home):
        candidate = lm_home / "bin" / LMS_NAME
        looked.append(str(candidate))
        if is_executable_file(candidate):
            return candidate
    raise DownloadFailedError(
        f"LM Studio's `lms` command was not found (looked on PATH and at {', '.join(looked)}).",
        INSTALL_HINT,
    )


def lms_get(lms: Path, model: str, *, report: Reporter, deadline: Deadline) -> None:
    """Run `lms get --yes MODEL`, streaming its output to ``report``; raises on failure."""
    report(Step(f"Downloading {model} with {lms} get --yes {model}"))
    try:
        result = run_streaming(
            [str(lms), "get", "--yes", model],
            on_output=lambda data, stream: report(ChildOutput(data, stream)),
            deadline=deadline,
            doing=f"downloading {model} with lms",
        )
    except OSError as exc:
        raise DownloadFailedError(f"Could not run {lms}: {exc.strerror or exc}.", INSTALL_HINT) from None
    if result.returncode != 0:
        said = last_lines(result.stderr_tail) or last_lines(result.stdout_tail) or "no output"
        raise DownloadFailedError(
            f"`lms get --yes {model}` failed with exit status {result.returncode}: {said}",
            "Check the model id (owner/name, e.g. openai/gpt-oss-20b) and your network, then run lmprep again.",
        )


def last_lines(text: str, count: int = 5) -> str:
    """The last few clean lines of a terminal program's output."""
    cleaner = TerminalLines()
    lines = [line for line, _ in cleaner.feed(text.encode()) + cleaner.close()]
    return " / ".join(lines[-count:])

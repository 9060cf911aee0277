"""Finding LM Studio's `lms` CLI and downloading a model with it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from .config import Sourced, expand_user, lmstudio_homes
from .deadline import Deadline
from .errors import DownloadFailedError, LmprepError, TimedOutError
from .events import ChildOutput, Reporter, Step
from .proc import is_executable_file, run_captured, run_streaming
from .termtext import TerminalLines, seconds_text, strip_spinner

LMS_NAME = "lms.exe" if sys.platform == "win32" else "lms"
#: `lms` is wanted once LM Studio's server has answered: LM Studio is there, its CLI is not found.
INSTALL_HINT = (
    "`lms` comes with LM Studio: run `~/.lmstudio/bin/lms bootstrap` once to put it on PATH, or set "
    "LMPREP_LMS (or `lms_path` in the config file) to where it is. Without LM Studio: "
    "https://lmstudio.ai/download."
)


def find_lms(configured: Sourced[str] | None, environ: Mapping[str, str] | None = None, home: Path | None = None,
             which: Callable[[str], str | None] | None = None) -> Path:
    """Where `lms` is: the configured path, else PATH (``which``, else shutil.which on
    ``environ``'s PATH), else LM Studio's home folders.

    Raises DownloadFailedError when none is an executable file.
    """
    if configured is not None:
        path = expand_user(configured.value)
        if is_executable_file(path):
            return path
        raise DownloadFailedError(
            f"`lms` from {configured.source} ({path}) is not an executable file.",
            f"Fix {configured.source}, or unset it to let lmprep look on PATH and in ~/.lmstudio/bin.",
        )
    environ = os.environ if environ is None else environ
    on_path = which(LMS_NAME) if which is not None else shutil.which(LMS_NAME, path=environ.get("PATH"))
    if on_path:
        return Path(on_path)
    if home is None:
        from .dirs import home_dir

        home = Path(environ["HOME"]) if environ.get("HOME") else home_dir()
    looked = []
    for lm_home in lmstudio_homes(home) if home is not None else ():
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
    except LmprepError:
        raise  # the deadline (TimedOutError is an OSError too, but it is exit 10, not 7)
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
    lines = [strip_spinner(line) for line, _ in cleaner.feed(text.encode()) + cleaner.close()]
    lines = [line for line in lines if line]
    return " / ".join(lines[-count:])


def _lms_json(command: str, configured: Sourced[str] | None, timeout: float, deadline: Deadline | None,
              doing: str):
    """What `lms COMMAND --json` prints, parsed; None where `lms` is missing, fails or prints no JSON
    (``deadline``'s TimedOutError past the deadline)."""
    import json

    try:
        completed = run_captured([str(find_lms(configured)), command, "--json"], timeout=timeout, deadline=deadline,
                                 doing=doing)
        return json.loads(completed.stdout) if completed.returncode == 0 else None
    except TimedOutError:
        raise
    except (DownloadFailedError, OSError, ValueError, RecursionError):  # TimeoutError is an OSError
        return None


def lms_loaded_contexts(configured: Sourced[str] | None, timeout: float = 10.0,
                        deadline: Deadline | None = None) -> dict[str, int]:
    """Context length of each loaded model by `lms ps --json` (keys casefolded), or {} when
    `lms` is missing or says nothing usable; ``deadline``'s TimedOutError past the deadline."""
    from .providers.base import positive_int

    entries = _lms_json("ps", configured, timeout, deadline, "asking `lms ps` what is loaded")
    if entries is None:
        return {}
    contexts: dict[str, int] = {}
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict):
            continue
        length = positive_int(entry.get("contextLength"))
        if length:
            for key in (entry.get("modelKey"), entry.get("identifier")):
                if isinstance(key, str):
                    contexts[key.casefold()] = length
    return contexts


def lms_load(model: str, context_length: int | None, configured: Sourced[str] | None, timeout: float,
             deadline: Deadline | None = None) -> None:
    """`lms load MODEL [-c N] -y`: LM Studio before 0.4 has no HTTP route that loads a model.
    A model loaded by `lms load` has no idle TTL: it stays until it is unloaded."""
    from .errors import WarmupFailedError

    window = [] if context_length is None else ["-c", str(context_length)]
    described = f"`lms load {model}" + (f" -c {context_length}`" if window else "`")
    try:
        lms = find_lms(configured)
    except DownloadFailedError as exc:
        raise WarmupFailedError(f"Cannot run {described}: {exc.message}", exc.hint) from None
    try:
        completed = run_captured([str(lms), "load", model, *window, "-y"], timeout=timeout, deadline=deadline,
                                 doing=f"loading {model} with lms")
    except LmprepError:
        raise  # the deadline: exit 10
    except TimeoutError:
        if deadline is not None and deadline.expired:
            raise deadline.error(f"loading {model} with lms") from None
        raise WarmupFailedError(f"{described} did not finish within {seconds_text(timeout)} s.",
                                "Look at LM Studio's server log (`lms log stream`).") from None
    except OSError as exc:
        raise WarmupFailedError(f"Could not run {lms}: {exc.strerror or exc}.", INSTALL_HINT) from None
    if completed.returncode != 0:
        said = last_lines(completed.stderr.decode("utf-8", "replace")) or "no output"
        raise WarmupFailedError(f"{described} failed: {said}",
                                "Check `lms ls` for the exact model key, and the machine's free memory.")


def lms_model_file(model: str, configured: Sourced[str] | None, timeout: float = 10.0,
                   deadline: Deadline | None = None) -> Path | None:
    """The GGUF file of ``model`` by `lms ls --json` (`path`, relative to LM Studio's models
    folder, `models` in its home), or None where `lms` is missing, says nothing usable, or the
    model is not one GGUF file lmprep finds."""
    from .dirs import home_dir

    entries = _lms_json("ls", configured, timeout, deadline, "asking `lms ls` where the model is")
    wanted = model.casefold()
    for entry in entries if isinstance(entries, list) else ():
        if not isinstance(entry, dict) or str(entry.get("modelKey", "")).casefold() != wanted:
            continue
        path = entry.get("path")
        if not isinstance(path, str) or entry.get("format") not in (None, "gguf") or "\0" in path:
            return None
        if Path(path).is_absolute():
            return Path(path)
        home = home_dir()
        for lm_home in lmstudio_homes(home) if home is not None else ():
            candidate = lmstudio_models_folder(lm_home) / path
            if ".." not in Path(path).parts and candidate.is_file():
                return candidate
        return None
    return None


#: `lms load --estimate-only` (lms 0.3.27+, lmstudio-ai/lms src/subcommands/load.ts) prints, to
#: stderr, "Estimated GPU Memory:   12.34 GiB" and "Estimated Total Memory: 14.00 GiB": binary
#: units since lms of February 2026 (src/formatBytes.ts formatSizeBytes1024), decimal "GB" before.
_ESTIMATE_UNITS = {"bytes": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
                   "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def parse_lms_estimate(text: str) -> float | None:
    """The bytes of "Estimated Total Memory" in `lms load --estimate-only`'s output; None where it has none."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # chalk's colours, where lms thought it had a terminal
    found = re.search(r"Estimated Total Memory:\s*([\d.]{1,20})\s*([A-Za-z]{1,5})", text)
    unit = _ESTIMATE_UNITS.get(found[2].lower()) if found else None
    try:
        value = float(found[1]) * unit if found and unit else None
    except ValueError:
        return None
    return value if value is not None and 0 < value < 1e15 else None


def lms_estimate(model: str, context_length: int, configured: Sourced[str] | None, timeout: float = 20.0,
                 deadline: Deadline | None = None) -> float | None:
    """LM Studio's own estimate of the memory a load of ``model`` at ``context_length`` needs
    (`lms load MODEL -c N --estimate-only -y`, which loads nothing), in bytes; None where `lms`
    is missing, older than 0.3.27 (no such flag), or says nothing usable."""
    try:
        completed = run_captured([str(find_lms(configured)), "load", model, "-c", str(context_length),
                                  "--estimate-only", "-y"], timeout=timeout, deadline=deadline,
                                 doing=f"asking `lms load --estimate-only` about {model}")
    except TimedOutError:
        raise
    except (DownloadFailedError, OSError, ValueError):  # TimeoutError is an OSError
        return None
    if completed.returncode != 0:
        return None
    return parse_lms_estimate((completed.stderr + completed.stdout).decode("utf-8", "replace"))


def lmstudio_models_folder(lm_home: Path) -> Path:
    """Where LM Studio keeps its models: `downloadsFolder` in its settings.json (the user may
    move it), else `models` in its home (as `lms import` finds it, src/subcommands/importCmd.ts)."""
    import json

    from .files import read_regular

    try:
        folder = json.loads(read_regular(lm_home / "settings.json", 1 << 20)).get("downloadsFolder")
    except (OSError, ValueError, AttributeError, RecursionError):
        folder = None
    return Path(folder) if isinstance(folder, str) and folder and Path(folder).is_absolute() else lm_home / "models"

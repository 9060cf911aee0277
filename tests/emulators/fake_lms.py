"""Installs a fake ``lms`` executable (source: ``_lms_script.py``) that talks to an LMStudioEmulator.

The fake finds the emulator through the origin embedded at install time, or ``$FAKE_LMS_SERVER``
when set, and uses only the emulator's ``/__emulator/lms/*`` admin routes (never the token-protected
API, like the real ``lms``, which does not need the API token).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

__all__ = [
    "ENV_LOG",
    "ENV_PIDFILE",
    "ENV_SERVER",
    "install_fake_lms",
    "read_invocations",
]

#: Overrides the emulator origin embedded in the script.
ENV_SERVER = "FAKE_LMS_SERVER"
#: File that gets one JSON line ``{"argv": [...], "pid": N}`` per invocation.
ENV_LOG = "FAKE_LMS_LOG"
#: File that gets the pid of the (latest) running invocation.
ENV_PIDFILE = "FAKE_LMS_PIDFILE"

_SCRIPT_SOURCE = Path(__file__).with_name("_lms_script.py")
_ORIGIN_PLACEHOLDER = "EMBEDDED_SERVER_ORIGIN = None"


def install_fake_lms(bin_dir: Path, server_origin: str) -> Path:
    """Writes an executable ``lms`` into ``bin_dir`` (created if needed) bound to ``server_origin``."""
    source = _SCRIPT_SOURCE.read_text(encoding="utf-8")
    if source.count(_ORIGIN_PLACEHOLDER) != 1:
        raise RuntimeError(f"{_SCRIPT_SOURCE} must contain {_ORIGIN_PLACEHOLDER!r} exactly once")
    script = f"#!{sys.executable}\n" + source.replace(
        _ORIGIN_PLACEHOLDER, f"EMBEDDED_SERVER_ORIGIN = {server_origin!r}"
    )
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "lms"
    path.write_text(script, encoding="utf-8")
    path.chmod(0o755)
    return path


def read_invocations(log_path: Path) -> list[list[str]]:
    """The argv (without the program name) of every invocation logged to ``$FAKE_LMS_LOG``."""
    if not os.path.exists(log_path):
        return []
    lines = Path(log_path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["argv"] for line in lines if line.strip()]

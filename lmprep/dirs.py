"""Where lmprep keeps its files: the config file, state (warm-up records, agents' files) and
cache (locks).

platformdirs decides, except on Linux, where the answer is the XDG Base Directory rule, a few
lines here (a variable counts only when it holds an absolute path, as the spec says and
platformdirs 4 does): importing platformdirs costs about 6 ms, a tenth of a ready run.
tests/test_dirs.py checks that both give the same paths.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "lmprep"
_XDG = {"config": ("XDG_CONFIG_HOME", "~/.config"), "state": ("XDG_STATE_HOME", "~/.local/state"),
        "cache": ("XDG_CACHE_HOME", "~/.cache")}


def _user_path(kind: str) -> Path:
    if sys.platform.startswith("linux"):
        variable, default = _XDG[kind]
        base = os.environ.get(variable, "")
        return Path(base if os.path.isabs(base) else os.path.expanduser(default)) / APP
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_path")(APP)


def config_dir() -> Path:
    return _user_path("config")


def state_dir() -> Path:
    return _user_path("state")


def cache_dir() -> Path:
    return _user_path("cache")

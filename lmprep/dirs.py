"""Where lmprep keeps its files: the config file, state (warm-up records, agents' files) and
cache (locks).

platformdirs decides, except on Linux, where the answer is the XDG Base Directory rule, a few
lines here (a variable counts only when it holds an absolute path, as the spec says and
platformdirs 4 does): importing platformdirs costs about 6 ms, a tenth of a ready run.
With no usable home folder (no HOME and no passwd entry, or HOME=/dev/null), the files go to a
folder of the user's own under the temporary folder, and lmprep warns (fallback_warning).
tests/test_dirs.py checks that both give the same paths.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = "lmprep"
_XDG = {"config": ("XDG_CONFIG_HOME", "~/.config"), "state": ("XDG_STATE_HOME", "~/.local/state"),
        "cache": ("XDG_CACHE_HOME", "~/.cache")}


def home_dir() -> Path | None:
    """The user's home folder: $HOME when it is an absolute path that is a folder (or not yet
    there), else the account's from the passwd database; None when there is neither, as for a
    uid with no passwd entry and no HOME (`docker run -u 12345`) or HOME=/dev/null."""
    for candidate in (os.environ.get("HOME", ""), _passwd_home()):
        if candidate and os.path.isabs(candidate) and (os.path.isdir(candidate) or not os.path.lexists(candidate)):
            return Path(candidate)
    return None


def _passwd_home() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir
    except (ImportError, KeyError, OSError):  # no pwd module (Windows), no entry for this uid
        return ""


def fallback_warning() -> str | None:
    """What to tell the user when there is no home folder to keep lmprep's files in."""
    if not sys.platform.startswith("linux") or home_dir() is not None \
            or all(os.path.isabs(os.environ.get(variable, "")) for variable, _ in _XDG.values()):
        return None
    home = os.environ.get("HOME")
    said = "HOME is not set" if home is None else f"HOME={home!r} is not a folder"
    return (f"There is no usable home folder ({said}, and the account has none): "
            f"lmprep keeps its files in {_fallback_base()} for now; set HOME to keep them across reboots.")


def _fallback_base() -> Path:
    """A folder of this user's own under the temporary folder: created 0700, and used only when
    it is a real folder owned by this user (another user may have made one by that name first)."""
    import stat
    import tempfile

    base = Path(tempfile.gettempdir()) / f"lmprep-{os.getuid()}"
    try:
        os.mkdir(base, 0o700)
    except OSError:
        pass
    try:
        info = os.lstat(base)
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
            return base
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix=f"lmprep-{os.getuid()}-"))


def _user_path(kind: str) -> Path:
    if sys.platform.startswith("linux"):
        variable, default = _XDG[kind]
        base = os.environ.get(variable, "")
        if os.path.isabs(base):
            return Path(base) / APP
        home = home_dir()
        if home is None:
            return _fallback_base() / kind
        return home / default.removeprefix("~/") / APP
    import platformdirs

    return getattr(platformdirs, f"user_{kind}_path")(APP)


def config_dir() -> Path:
    return _user_path("config")


def state_dir() -> Path:
    return _user_path("state")


def cache_dir() -> Path:
    return _user_path("cache")


def record_name(provider: str, *parts: str) -> str:
    """The file name (without its suffix) of what lmprep keeps about one server and model: the
    provider's name cleaned, as a label only (it never chooses where the file goes), and a key of
    the provider and ``parts``, so that each server, model, ... has a file of its own."""
    import hashlib
    import re

    key = hashlib.sha256("\0".join((provider, *parts)).encode()).hexdigest()[:16]
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", provider).strip(".")[:40] or "provider"
    return f"{label}-{key}"

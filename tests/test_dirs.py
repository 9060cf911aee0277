"""lmprep's own XDG rule gives the paths platformdirs gives (on Linux, where it is used)."""

from __future__ import annotations

import sys

import platformdirs
import pytest

from lmprep import dirs

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fast path is Linux's")


@pytest.mark.parametrize("value", [None, "", "   ", "/srv/xdg", "relative/dir", "/with space/x"])
@pytest.mark.parametrize("kind, variable", [("config", "XDG_CONFIG_HOME"), ("state", "XDG_STATE_HOME"),
                                            ("cache", "XDG_CACHE_HOME")])
def test_same_paths_as_platformdirs(kind, variable, value, monkeypatch):
    if value is None:
        monkeypatch.delenv(variable, raising=False)
    else:
        monkeypatch.setenv(variable, value)
    ours = getattr(dirs, f"{kind}_dir")()
    theirs = getattr(platformdirs, f"user_{kind}_path")("lmprep")
    assert ours == theirs

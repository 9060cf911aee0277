"""The `lmprep` command: one module per command, the shared rendering in render.py, and the
process's signals and outputs in _main.py. Only this package imports click."""

from __future__ import annotations

from . import ensure as _ensure  # noqa: F401  (defines the default command on the group)
from ._group import cli
from ._main import main
from .render import json_result, success_line

__all__ = ["cli", "json_result", "main", "success_line"]

"""Small builders shared by the unit tests."""

from __future__ import annotations

from lmprep.config import Flags, resolve_settings


def provider_settings(name: str = "lmstudio", env: dict | None = None, **flags):
    """The resolved settings of one provider, as the pipeline would see them."""
    return resolve_settings(Flags(**flags), env or {}).providers[name]


def settings(env: dict | None = None, **flags):
    return resolve_settings(Flags(**flags), env or {})

"""Small builders shared by the unit tests."""

from __future__ import annotations

from lmprep.config import Flags, resolve_settings


def provider_settings(name: str = "lmstudio", env: dict | None = None, **flags):
    """The resolved settings of one provider, as the pipeline would see them."""
    return resolve_settings(Flags(**flags), env or {}).providers[name]


def settings(env: dict | None = None, **flags):
    return resolve_settings(Flags(**flags), env or {})


def refuse(httpx_mock, url: str, message: str = "[Errno 111] Connection refused", exception=None) -> None:
    """Nothing listens at ``url``: for a localhost URL, lmprep also tries 127.0.0.1."""
    import httpx

    exception = exception or httpx.ConnectError(message)
    httpx_mock.add_exception(exception, url=url)
    if "//localhost" in url:
        httpx_mock.add_exception(exception, url=url.replace("//localhost", "//127.0.0.1", 1))

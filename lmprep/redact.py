"""Secrets never reach an output: one redaction for every message, progress line, JSON object,
table and file lmprep writes, and a check that a token can be sent at all.

Two kinds of secret: passwords (and bare user names, often tokens) in a URL's userinfo, found
by their shape wherever a URL appears in a text; and API tokens, registered when the settings
are resolved, replaced wherever they appear.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import NotConfiguredError

MASK = "***"
#: Shorter tokens are not replaced in free text: that would mangle ordinary words.
MIN_REGISTERED_LENGTH = 6
# As text: compiled on first use, by a text with an "@" (few are).
_USERINFO = r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s@?#]*)@"
_secrets: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Redact ``secret`` from every output of this process from now on."""
    if secret and len(secret) >= MIN_REGISTERED_LENGTH:
        _secrets.add(secret)


def _mask_userinfo(match: re.Match) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}:{MASK}@" if colon else f"{match.group(1)}{MASK}@"


def redact(text: str) -> str:
    """``text`` without URL passwords and without any registered token."""
    if "@" in text:
        text = re.sub(_USERINFO, _mask_userinfo, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_url(url: str) -> str:
    return redact(url)


def redact_data(value: Any) -> Any:
    """A JSON-like value with every string redacted (dict keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item) for item in value]
    return value


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be an HTTP header value (None: it can). Never quotes the token."""
    for ch in token:
        if ch in "\r\n":
            return "a line break (\\r or \\n)"
        if ch != "\t" and not " " <= ch <= "~":
            return "a control or non-ASCII character"
    return None


def check_token(token: str | None, variable: str | None = None) -> None:
    """NotConfiguredError (exit 3) for a token no HTTP header can carry; the message never shows it."""
    if token is None:
        return
    problem = token_problem(token)
    if problem is None:
        return
    where = f"${variable}" if variable else "The API token"
    raise NotConfiguredError(
        f"{where} contains {problem}, which an HTTP header cannot carry (its value is not shown).",
        "Set it again without it: a token read from a file with Windows line ends ends in \\r; "
        "e.g. VAR=\"$(tr -d '\\r\\n' < token.txt)\".",
    )

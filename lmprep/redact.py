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
#: Tokens at least this long are replaced wherever they appear, and so is every run of
#: FRAGMENT characters of one (a server's page quoting the token, cut anywhere, still hides it);
#: shorter ones only where they stand as a word, which does not mangle ordinary words.
MIN_REGISTERED_LENGTH = 6
FRAGMENT = 8
# As text: compiled on first use, by a text with an "@" (few are). The userinfo runs to the
# last "@" of the authority, as urlsplit and curl split it: a password may hold an "@".
_USERINFO = r"(?i)\b([a-z][a-z0-9+.\-]*://)([^/\s?#]*)@"
_secrets: set[str] = set()
_short_secrets: set[str] = set()
_fragments: dict[str, frozenset[str]] = {}


def register_secret(secret: str | None) -> None:
    """Redact ``secret`` from every output of this process from now on."""
    if not secret:
        return
    if len(secret) >= MIN_REGISTERED_LENGTH:
        _secrets.add(secret)
        if len(secret) > FRAGMENT:
            _fragments[secret] = frozenset(secret[i:i + FRAGMENT] for i in range(len(secret) - FRAGMENT + 1))
    else:
        _short_secrets.add(secret)


def _mask_userinfo(match: re.Match) -> str:
    user, colon, _ = match.group(2).partition(":")
    return f"{match.group(1)}{user}:{MASK}@" if colon else f"{match.group(1)}{MASK}@"


def _mask_fragments(text: str, fragments: frozenset[str]) -> str:
    """``text`` with every run of FRAGMENT or more characters of one token masked."""
    spans = []
    for fragment in fragments:
        start = text.find(fragment)
        while start >= 0:
            spans.append((start, start + FRAGMENT))
            start = text.find(fragment, start + 1)
    if not spans:
        return text
    spans.sort()
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    pieces, at = [], 0
    for start, end in merged:
        pieces += [text[at:start], MASK]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


_CUT = "…"  # what termtext.one_line ends a cut text with


def _mask_cut_ends(text: str, secret: str) -> str:
    """A text cut inside a token (before redaction, say by the server) ends with its first
    characters, or starts with its last: fewer than FRAGMENT of them. Four or more are masked
    before a cut mark, six or more at the very end or start (where a cut leaves no mark)."""
    for size in range(min(FRAGMENT, len(secret)) - 1, 3, -1):
        head, tail = secret[:size], secret[-size:]
        if size >= MIN_REGISTERED_LENGTH and text.endswith(head):
            text = text[:-size] + MASK
        if head + _CUT in text:
            text = text.replace(head + _CUT, MASK + _CUT)
        if size >= MIN_REGISTERED_LENGTH and text.startswith(tail):
            text = MASK + text[size:]
        if _CUT + tail in text:
            text = text.replace(_CUT + tail, _CUT + MASK)
    return text


def redact(text: str) -> str:
    """``text`` without URL passwords and without any registered token (nor a long piece of one)."""
    if "@" in text:
        text = re.sub(_USERINFO, _mask_userinfo, text)
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
        fragments = _fragments.get(secret)
        if fragments and any(fragment in text for fragment in fragments):
            text = _mask_fragments(text, fragments)
        text = _mask_cut_ends(text, secret)
    for secret in _short_secrets:
        if secret in text:
            text = re.sub(r"(?<![0-9A-Za-z])" + re.escape(secret) + r"(?![0-9A-Za-z])", MASK, text)
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

"""Render environment variables so that a shell (or a dotenv reader) gets exactly these values.

Every value is quoted so that nothing in it is interpreted: no expansion of ``$`` or
backticks, no word splitting, no command substitution, newlines kept. Pure functions, no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

FORMATS = ("sh", "fish", "powershell", "dotenv", "json")

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# PowerShell also ends a single-quoted string at the typographic single quotes.
_POWERSHELL_QUOTES = "'\u2018\u2019\u201a\u201b"


def quote_sh(value: str) -> str:
    """POSIX sh: inside single quotes nothing is special; a quote is closed, escaped, reopened."""
    return "'" + value.replace("'", "'\\''") + "'"


def quote_fish(value: str) -> str:
    """fish: single quotes know only ``\\\\`` and ``\\'``. Newlines and carriage returns are
    written as ``\\n``/``\\r`` outside the quotes, so that every assignment stays on one line
    (``eval (lmprep env --format fish)`` splits its input into lines)."""
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return quoted.replace("\n", "'\\n'").replace("\r", "'\\r'")


def quote_powershell(value: str) -> str:
    """PowerShell: a verbatim single-quoted string; each quote character is doubled."""
    return "'" + "".join(ch * 2 if ch in _POWERSHELL_QUOTES else ch for ch in value) + "'"


def quote_dotenv(value: str) -> str:
    """dotenv, as python-dotenv reads it (docker compose and node's dotenv agree on the
    common cases): single quotes when the value has no quote, backslash or line break,
    else double quotes with ``\\\\``, ``\\"``, ``\\n``, ``\\r`` escapes. ValueError for a value
    that ends in a backslash (no dotenv form that python-dotenv reads back), and for a value
    with a ``$`` that single quotes cannot hold: inside double quotes python-dotenv (with its
    default interpolation) expands ``${VAR}`` and docker compose ``$VAR`` too, and the two
    disagree on escaping it (compose: ``$$``; python-dotenv: none), so a served model id
    ``x'${AWS_SECRET_ACCESS_KEY}`` would become the secret. python-dotenv expands ``${VAR}``
    inside single quotes too, with no escape: a value holding ``${`` is refused in any case."""
    if "${" in value:
        # python-dotenv expands ${VAR} even inside single quotes, and has no escape for it.
        raise ValueError("a value with '${' cannot be written in dotenv format without python-dotenv expanding it")
    if not any(ch in value for ch in "'\\\n\r"):
        return "'" + value + "'"
    if "$" in value:
        raise ValueError("a value with a '$' and a quote, backslash or line break cannot be written in dotenv "
                         "format without a reader expanding it")
    if value.endswith("\\"):
        raise ValueError("a value that ends in a backslash cannot be written in dotenv format")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped + '"'


def render(variables: Mapping[str, str], fmt: str) -> str:
    """The text that sets ``variables`` in format ``fmt`` (one of FORMATS), ending in a newline."""
    for name in variables:
        if not _NAME.match(name):
            raise ValueError(f"not a variable name: {name!r}")
    if fmt == "json":
        return json.dumps(dict(variables), indent=2) + "\n"
    if fmt == "sh":
        lines = [f"export {name}={quote_sh(value)}" for name, value in variables.items()]
    elif fmt == "fish":
        lines = [f"set -gx {name} {quote_fish(value)};" for name, value in variables.items()]
    elif fmt == "powershell":
        lines = [f"$env:{name} = {quote_powershell(value)}" for name, value in variables.items()]
    elif fmt == "dotenv":
        lines = []
        for name, value in variables.items():
            try:
                lines.append(f"{name}={quote_dotenv(value)}")
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    return "".join(line + "\n" for line in lines)


def failure(fmt: str, code: int) -> str:
    """What `lmprep env` prints on stdout when it fails with exit ``code``: one line that, when
    evaluated the way its format is, sets no variable and fails with that status, so that
    ``eval "$(lmprep env)" && agent`` (and fish's ``| source; and agent``) does not start the
    agent on an empty evaluation, which would succeed. Empty for dotenv and json, which nothing
    evaluates.

    sh: ``(exit N)`` sets ``$?`` to N in a subshell; ``exit N`` would close an interactive shell
    that evaluates it, ``return N`` returns from the caller's function, and ``false`` loses the code.
    fish: ``return`` at the top of ``eval`` exits fish, and inside ``| source`` returns from the
    enclosing function; a function that erases itself and returns N does neither. PowerShell:
    ``throw`` stops ``Invoke-Expression`` and what follows it, ``$LASTEXITCODE`` keeps the code.
    """
    why = f"lmprep env failed (exit {code}): nothing was set; its error is on stderr"
    if fmt == "sh":
        return f"(exit {code})  # {why}\n"
    if fmt == "fish":
        return (f"function __lmprep_failed; functions --erase __lmprep_failed; return {code}; end; "
                f"__lmprep_failed  # {why}\n")
    if fmt == "powershell":
        return f"$global:LASTEXITCODE = {code}; throw {quote_powershell(why)}\n"
    return ""


def quote_argv(argv: list[str]) -> str:
    """A command line for a human to copy into a POSIX shell (control characters made visible)."""
    import shlex

    text = shlex.join(argv)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)

"""Under WSL, where a server running on Windows is.

In WSL 2's default NAT mode, `localhost` inside Linux is the Linux VM, not Windows: a server on
the Windows host (LM Studio, Ollama for Windows) is at the host's address on the virtual
network (ollama/ollama#5008, NousResearch/hermes-agent#34477). That address is the VM's default
gateway (/proc/net/route, as `ip route` shows it), and the nameserver WSL writes into
/etc/resolv.conf (unless `generateResolvConf = false`). In mirrored mode `localhost` reaches
Windows already, and this is never needed. The server must listen beyond 127.0.0.1 on Windows
(Ollama: OLLAMA_HOST=0.0.0.0; LM Studio: "Serve on Local Network").

The paths are module constants so that tests can point them at files of their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

PROC_VERSION = "/proc/version"
ROUTE_TABLE = "/proc/net/route"
RESOLV_CONF = "/etc/resolv.conf"
_LIMIT = 256 * 1024  # these files are small; anything larger is not what lmprep reads here

#: What to do when nothing answers on the Windows host either.
LISTEN_HINT = ("A server on Windows must listen beyond 127.0.0.1 to be seen from WSL: set OLLAMA_HOST=0.0.0.0 for "
               "Ollama, turn on \"Serve on Local Network\" in LM Studio; or set networkingMode=mirrored in "
               ".wslconfig, where localhost reaches Windows.")


def _read(path: str) -> str:
    from pathlib import Path

    from .files import read_regular

    try:
        return read_regular(Path(path), _LIMIT).decode("utf-8", "replace")
    except OSError:
        return ""


def under_wsl(env: Mapping[str, str] = os.environ) -> bool:
    """Whether lmprep runs in Windows Subsystem for Linux (WSL sets WSL_DISTRO_NAME; its
    kernel's version string names Microsoft)."""
    return bool(env.get("WSL_DISTRO_NAME")) or "microsoft" in _read(PROC_VERSION).lower()


def _ipv4(text: str) -> str | None:
    parts = text.split(".")
    if len(parts) == 4 and all(part.isdigit() and len(part) <= 3 and int(part) <= 255 for part in parts):
        address = ".".join(str(int(part)) for part in parts)
        return None if address.startswith("0.") else address
    return None


def default_gateway() -> str | None:
    """The gateway of the default route in /proc/net/route (hex, little-endian), or None."""
    for line in _read(ROUTE_TABLE).splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000":
            try:
                value = int(fields[2], 16)
            except ValueError:
                continue
            if 0 < value <= 0xFFFFFFFF:
                return _ipv4(".".join(str(byte) for byte in value.to_bytes(4, "little")))
    return None


def resolv_nameserver() -> str | None:
    """The first IPv4 nameserver of /etc/resolv.conf that is not on loopback (systemd-resolved's
    127.0.0.53 is this machine's, not Windows), or None."""
    for line in _read(RESOLV_CONF).splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) >= 2 and fields[0] == "nameserver":
            address = _ipv4(fields[1])
            if address is not None and not address.startswith("127."):
                return address
    return None


def on_host(url: str, host: str) -> str:
    """``url`` with its host replaced by ``host`` (port, path and all kept)."""
    parts = urlsplit(url)
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

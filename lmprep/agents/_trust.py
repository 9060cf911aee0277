"""Handing the private CA of an https box (its `ca_cert`) on to the agent, so that the agent
trusts the server lmprep checked, in the variable the agent's runtime reads.

Each agent module names its runtime's variables in ``CA_VARIABLES`` (read from the installed
agents, 2026-12; see each module). Two kinds:

- a variable that *adds* to the runtime's own roots (Node's and Bun's NODE_EXTRA_CA_CERTS) gets
  the CA alone;
- a variable that *replaces* them (Python's SSL_CERT_FILE as httpx reads it, requests'
  REQUESTS_CA_BUNDLE, Codex's CODEX_CA_CERTIFICATE) gets a bundle of the CA and the public roots
  (certifi's, which lmprep's httpx has), written in lmprep's state directory: with the CA alone,
  every other https host the agent (or a command it runs) talks to would fail to verify.

A variable the user set already wins, and so does any the user set that the runtime reads
first (Codex reads CODEX_CA_CERTIFICATE, then SSL_CERT_FILE): the user chose that runtime's CA.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple

#: A CA file (or each file of a CA folder) lmprep reads for the hand-off: PEM bundles are
#: kilobytes; a system bundle is ~300 kB.
MAX_CA_BYTES = 4 * 1024 * 1024
#: Files read from a CA folder (an OpenSSL hashed folder holds one file per certificate).
MAX_CA_FILES = 1000
PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


class CaVariable(NamedTuple):
    name: str
    replaces_roots: bool  # True: the runtime trusts only what it names (it gets the CA and the public roots)
    user_names: tuple[str, ...] = ()  # the user's variables that already choose this runtime's CA (its own included)

    @property
    def chosen_by(self) -> tuple[str, ...]:
        return self.user_names or (self.name,)


#: Node and Bun (claude, opencode, kilo, droid, cline are Bun builds; qwen, pi and copilot Node):
#: certificates added to the bundled roots.
NODE = CaVariable("NODE_EXTRA_CA_CERTS", False)
#: Python's httpx (the openai SDK, litellm): SSL_CERT_FILE, else SSL_CERT_DIR, else certifi.
PYTHON = CaVariable("SSL_CERT_FILE", True, ("SSL_CERT_FILE", "SSL_CERT_DIR"))
#: litellm 1.81 (aider 0.86.2's; llms/custom_httpx/http_handler.py, get_ssl_configuration): SSL_VERIFY
#: (False, or a CA file) first, else SSL_CERT_FILE, else certifi; the context it builds is
#: handed to httpx, so SSL_CERT_DIR plays no part.
LITELLM = CaVariable("SSL_CERT_FILE", True, ("SSL_CERT_FILE", "SSL_VERIFY"))
#: requests: REQUESTS_CA_BUNDLE, else CURL_CA_BUNDLE, else certifi.
REQUESTS = CaVariable("REQUESTS_CA_BUNDLE", True, ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"))
#: Codex 0.171 (its codex-rs http-client, custom_ca.rs, in the binary): CODEX_CA_CERTIFICATE, else
#: SSL_CERT_FILE, "a PEM file containing one or more CERTIFICATE blocks", used in place of the
#: system roots ("using system root certificates because no CA override environment variable
#: was selected").
CODEX = CaVariable("CODEX_CA_CERTIFICATE", True, ("CODEX_CA_CERTIFICATE", "SSL_CERT_FILE"))
#: Rust programs on rustls-native-certs or OpenSSL: SSL_CERT_FILE in place of the system roots.
RUST = CaVariable("SSL_CERT_FILE", True, ("SSL_CERT_FILE", "SSL_CERT_DIR"))


def hand_off_ca(setup, module, ca_cert: str, environ: Mapping[str, str]) -> None:
    """Add to ``setup`` (variables, files, notes) what makes the agent of ``module`` trust
    ``ca_cert`` (a PEM file or a folder of them). NotConfiguredError when it cannot be read."""
    label = module.LABEL
    wanted = getattr(module, "CA_VARIABLES", None)
    if not wanted:
        setup.notes.append(f"lmprep does not know how {label} is told to trust a private CA: "
                           f"give it {ca_cert} yourself, or it will refuse the server's certificate.")
        return
    pem = None
    for variable in wanted:
        if variable.name in setup.variables:
            continue  # set by an earlier entry (two runtimes reading the same variable)
        mine = next((name for name in variable.chosen_by if environ.get(name, "").strip()), None)
        if mine is not None:
            pem = read_ca(ca_cert) if pem is None else pem
            if not _holds(environ[mine].strip(), pem):
                setup.notes.append(
                    f"{label} verifies the server with your {mine} ({environ[mine].strip()}), which lmprep leaves "
                    f"as it is: unless that holds the CA in {ca_cert} (lmprep's ca_cert), {label} will refuse the "
                    f"server's certificate. Add the CA there, or unset {mine} for lmprep to hand it on.")
            continue
        if not variable.replaces_roots and os.path.isfile(ca_cert):
            setup.variables[variable.name] = ca_cert
            continue
        pem = read_ca(ca_cert) if pem is None else pem
        if variable.replaces_roots:
            setup.files[variable.name] = ("ca-bundle.pem", pem + public_roots())
        else:
            setup.files[variable.name] = ("private-ca.pem", pem)  # a folder: its certificates in one file


def read_ca(ca_cert: str) -> str:
    """The PEM certificates of ``ca_cert`` (a file, or every file in a folder that holds one), as
    one text ending in a newline."""
    from ..errors import NotConfiguredError
    from ..files import read_regular

    try:
        if os.path.isdir(ca_cert):
            names = sorted(os.listdir(ca_cert))[:MAX_CA_FILES]
            texts = []
            for name in names:
                try:
                    texts.append(read_regular(os.path.join(ca_cert, name), MAX_CA_BYTES).decode("ascii", "replace"))
                except OSError:
                    continue  # a subfolder, a FIFO, an unreadable file: not a certificate lmprep used either
        else:
            texts = [read_regular(ca_cert, MAX_CA_BYTES).decode("ascii", "replace")]
    except OSError as exc:
        raise NotConfiguredError(f"Cannot read the CA certificates in {ca_cert} to give them to the agent: "
                                 f"{exc.strerror or exc}.", "Check the file's permissions.") from None
    pem = "".join(text if text.endswith("\n") else text + "\n" for text in texts if PEM_BEGIN in text)
    if not pem:
        raise NotConfiguredError(f"{ca_cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----) to give the agent.",
                                 "Set ca_cert to the CA's certificate in PEM form.")
    return pem


def _holds(where: str, pem: str) -> bool:
    """Whether the user's CA file ``where`` has every certificate of ``pem`` (a folder, or a
    value that is not a file, such as SSL_VERIFY=False: not known, so not)."""
    from ..files import read_regular

    try:
        text = read_regular(where, MAX_CA_BYTES).decode("ascii", "replace")
    except (OSError, ValueError):
        return False
    theirs = "".join(text.split())
    return all("".join(block.split()) in theirs for block in _blocks(pem))


def _blocks(pem: str) -> list[str]:
    end = "-----END CERTIFICATE-----"
    return [PEM_BEGIN + part.split(end, 1)[0] + end for part in pem.split(PEM_BEGIN)[1:] if end in part]


def public_roots() -> str:
    """The public CAs (certifi's bundle: the one lmprep itself trusts without ca_cert)."""
    import certifi

    return certifi.contents()

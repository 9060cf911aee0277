"""goose: its Ollama or OpenAI provider by variables; Chat Completions, streamed, with tools."""

from urllib.parse import urlsplit

from ..hosts import origin_of
from ..protocols import CHAT, AgentNeeds
from . import SMOKE_PROMPT, AgentSetup
from ._trust import RUST

LABEL = "goose"
COMMAND = "goose"
# goose ships no npm or pip package: its own installer script (no version of it is pinned by lmprep).
INSTALL = "curl -fsSL https://github.com/aaif-goose/goose/releases/download/stable/download_cli.sh | bash"
#: `lmprep smoke`: `goose run --text TEXT` runs one instruction and exits, --no-session keeps no
#: session file (goose's CLI commands guide, block.github.io/goose/docs/guides/goose-cli-commands).
#: Not checked against a real goose: CI installs none (no npm or pip package).
SMOKE_ARGV = ("run", "--no-session", "--text", SMOKE_PROMPT)
MIN_CONTEXT = 65536  # Ollama's guidance for coding agents: tools and instructions fill small windows
#: Its private CA: SSL_CERT_FILE, as Rust's rustls-native-certs and OpenSSL read it (goose is a Rust
#: program; not checked against it: it is in none of the registries lmprep is tested from).
CA_VARIABLES = (RUST,)
# On Ollama too, the window as loaded: goose talks to its OpenAI-compatible route, which takes no num_ctx.
FIRST_REQUEST = None  # never measured: goose is in none of the package registries lmprep is tested from


def needs(kind: str) -> AgentNeeds:
    return AgentNeeds(LABEL, CHAT, tools=True)


def setup(*, kind, host, v1, model, key, context_length, **_) -> AgentSetup:
    limit = {"GOOSE_INPUT_LIMIT": str(context_length)} if context_length else {}
    if kind == "ollama":
        return AgentSetup("goose", {"GOOSE_PROVIDER": "ollama", "OLLAMA_HOST": host, "GOOSE_MODEL": model, **limit})
    base_path = (urlsplit(v1).path.strip("/") + "/chat/completions").lstrip("/")
    return AgentSetup("goose", {
        "GOOSE_PROVIDER": "openai", "OPENAI_HOST": origin_of(v1), "OPENAI_BASE_PATH": base_path,
        "OPENAI_API_KEY": key, "GOOSE_MODEL": model, **limit,
    })

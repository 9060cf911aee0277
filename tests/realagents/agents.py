"""Where the real agents are, and how each is run once, non-interactively.

.ci/install-agents puts them in .ci-agents/ (or $LMPREP_AGENTS_DIR): npm packages under npm/,
aider and llm in virtual environments of their own. An agent that is not there is skipped
with the reason (its install failed, or .ci/install-agents was not run).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROMPT = "say hi"

#: Each agent's own switches against telemetry, update checks and anything that would need
#: the network beyond loopback (from their documentation).
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
    "OPENCODE_DISABLE_MODELS_FETCH": "1",
    "OPENCODE_DISABLE_DEFAULT_PLUGINS": "1",
    "OPENCODE_DISABLE_SHARE": "1",
    "COPILOT_OFFLINE": "true",
    "COPILOT_AUTO_UPDATE": "false",
    "KILO_DISABLE_AUTOUPDATE": "1",
    "KILO_DISABLE_SHARE": "1",
    "KILO_DISABLE_MODELS_FETCH": "1",
    "PI_OFFLINE": "1",
    "CLINE_NO_AUTO_UPDATE": "1",
}

_OPENAI_SDK_SCRIPT = (
    "import os; from openai import OpenAI; "
    "answer = OpenAI().chat.completions.create(model=os.environ['OPENAI_MODEL'], max_tokens=4, "
    "messages=[{'role': 'user', 'content': 'say hi'}]); print(answer.choices[0].finish_reason)"
)


@dataclass(frozen=True)
class RealAgent:
    name: str  # the --for value
    program: Path | None  # None: not installed
    argv: tuple[str, ...]  # after the program
    route: str  # the path its model request goes to

    def command(self) -> list[str]:
        assert self.program is not None
        return [str(self.program), *self.argv]


def agents_dir() -> Path:
    return Path(os.environ.get("LMPREP_AGENTS_DIR") or REPO / ".ci-agents")


def find(name: str) -> RealAgent:
    root = agents_dir()
    npm_bin = root / "npm" / "node_modules" / ".bin"
    runs = {
        "codex": (npm_bin / "codex", ("exec", "--skip-git-repo-check", PROMPT), "/v1/responses"),
        "claude": (npm_bin / "claude", ("-p", PROMPT), "/v1/messages"),
        "opencode": (npm_bin / "opencode", ("run", PROMPT), "/v1/chat/completions"),
        "qwen": (npm_bin / "qwen", (PROMPT,), "/v1/chat/completions"),
        "aider": (root / "aider" / "bin" / "aider", ("--message", PROMPT, "--yes-always", "--no-git"),
                  "/v1/chat/completions"),
        "llm": (root / "llm" / "bin" / "llm", (PROMPT,), "/v1/chat/completions"),
        "openai": (root / "llm" / "bin" / "python", ("-c", _OPENAI_SDK_SCRIPT), "/v1/chat/completions"),
        "copilot": (npm_bin / "copilot", ("-p", PROMPT, "-s", "--allow-all-tools"), "/v1/chat/completions"),
        "kilo": (npm_bin / "kilo", ("run", PROMPT), "/v1/chat/completions"),
        "pi": (npm_bin / "pi", ("-p", PROMPT), "/v1/chat/completions"),
        "droid": (npm_bin / "droid", ("exec", PROMPT), "/v1/chat/completions"),
        "cline": (npm_bin / "cline", (PROMPT,), "/v1/chat/completions"),
    }
    program, argv, route = runs[name]
    return RealAgent(name, program if program.is_file() else None, argv, route)


def install_report() -> str:
    """What .ci/install-agents said, for skip reasons."""
    try:
        return (agents_dir() / "installed.txt").read_text().strip().replace("\n", "; ")
    except OSError:
        return f"nothing in {agents_dir()}: run .ci/install-agents"

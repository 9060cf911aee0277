"""The README, true line by line: every command example in it runs here, as written, against the
emulators, and this module fails when one stops working.

Each line of a ```sh block (or, for a script, the whole block) is either in RUN, with what it must
do, or in SKIPPED, with the reason it cannot run here; a README example in neither fails
`test_every_readme_example_is_run_or_skipped`, so the README cannot drift from what is tested. The
examples run with bash (zsh and fish for theirs), `lmprep` on PATH, an isolated HOME, the LM Studio
and Ollama emulators found through `LM_STUDIO_BASE_URL` and `OLLAMA_HOST` (or a closed port where
an example needs auto-detection to find only one of them), a config file that puts every other
provider on a closed port, and stub agents (`codex`, `claude`, `aider`, `goose`, `ollama`) that
record how they were started. The real agents are tested in test_real_agents.py; here it is the
README's commands.

Also checked against the real thing: the ```json samples (keys, and the values a run with the same
state prints), the options table and the synopses (exactly the options `--help` lists), and the
inline `lmprep -V` / `lmprep stauts` claims.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e import lmprep_argv, wait_for, warm_up_states
from lmprep.agents.codex import OFFLINE_OPTIONS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
MODEL = "openai/gpt-oss-20b"  # LM Studio's default model
OLLAMA_MODEL = "gpt-oss:20b"  # Ollama's
AGENTS = ("codex", "claude", "aider", "goose", "ollama")
CLOSED_PROVIDERS = ("llamacpp", "vllm", "lemonade", "dmr")


# -- the README's fenced blocks ------------------------------------------------------------------

@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int  # the line of its opening fence in README.md

    @property
    def lines(self) -> list[str]:
        return [line for _, line in self.numbered()]

    def numbered(self) -> list[tuple[int, str]]:
        """(line number in README.md, text) of each line that is not blank."""
        return [(self.line + 1 + index, line) for index, line in enumerate(self.text.splitlines()) if line.strip()]


def readme_blocks() -> list[Block]:
    text = README.read_text()
    return [Block(match["lang"], match["body"], text.count("\n", 0, match.start()) + 1)
            for match in re.finditer(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", text, re.S | re.M)]


def sh_blocks() -> list[Block]:
    return [block for block in readme_blocks() if block.lang == "sh"]


def block_starting(first_line: str, lang: str = "sh") -> Block:
    """The README block whose first line is ``first_line`` (fails when the README lost it)."""
    found = [block for block in readme_blocks() if block.lang == lang and block.lines[:1] == [first_line]]
    assert len(found) == 1, f"README.md has no ```{lang} block starting with {first_line!r} any more"
    return found[0]


def readme_line(line: str) -> str:
    """``line`` as the README has it (fails when the README lost it): the text that is run."""
    found = [text for block in sh_blocks() for text in block.lines if text == line]
    assert found, f"README.md has no ```sh line {line!r} any more: update RUN"
    return found[0]


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n{title}\n")
    end = re.search(r"^##", text[start + len(title) + 2:], re.M)
    return text[start: start + len(title) + 2 + (end.start() if end else len(text))]


# -- running an example -------------------------------------------------------------------------

@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


STUB = """#!{python}
import json, os, sys
with open(os.environ["README_AGENT_LOG"], "a") as log:
    log.write(json.dumps({{"name": os.path.basename(sys.argv[0]), "argv": sys.argv[1:],
                          "env": dict(os.environ)}}) + "\\n")
"""


class Readme:
    """The stage the examples run on: both emulators, stub agents, closed ports for everything
    else, an isolated HOME (the autouse fixture's)."""

    def __init__(self, tmp_path: Path, home: Path, lmstudio, ollama) -> None:
        self.tmp, self.home, self.lmstudio, self.ollama = tmp_path, home, lmstudio, ollama
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        for agent in AGENTS:
            stub = self.bin / agent
            stub.write_text(STUB.format(python=sys.executable))
            stub.chmod(0o755)
        lmprep = lmprep_argv()
        if len(lmprep) > 1:  # no console script next to this python: a shim in its place
            shim = self.bin / "lmprep"
            shim.write_text(f'#!/bin/sh\nexec {shlex.join(lmprep)} "$@"\n')
            shim.chmod(0o755)
        self.log = tmp_path / "agents.jsonl"
        self.cwd = tmp_path / "work"
        self.cwd.mkdir()
        # Bound but never listening: a connection is refused at once, and no other test can take
        # the port while this one holds it.
        self._closed: list[socket.socket] = []
        self.config = tmp_path / "config.toml"
        self.config.write_text("".join(f'[providers.{name}]\nbase_url = "{self.closed_url()}/v1"\n'
                                       for name in CLOSED_PROVIDERS))

    def closed_url(self) -> str:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self._closed.append(sock)
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    def close(self) -> None:
        for sock in self._closed:
            sock.close()

    def env(self, servers: frozenset[str], config: bool = True) -> dict[str, str]:
        env = dict(os.environ)  # HOME and the XDG dirs isolated by conftest's autouse fixture
        env.update(
            PATH=os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), env.get("PATH", "")]),
            LM_STUDIO_BASE_URL=self.lmstudio.origin if "lmstudio" in servers else self.closed_url(),
            OLLAMA_HOST=self.ollama.origin if "ollama" in servers else self.closed_url(),
            README_AGENT_LOG=str(self.log),
        )
        if config:
            env["LMPREP_CONFIG"] = str(self.config)
        return env

    def run(self, script: str, *, servers: frozenset[str], shell: str = "bash", cwd: Path | None = None,
            config: bool = True, timeout: float = 60) -> Result:
        argv = {"bash": ["bash", "--norc", "--noprofile", "-c"], "zsh": ["zsh", "-f", "-c"],
                "fish": ["fish", "-c"]}[shell]
        if shell == "bash":
            script = "set -o pipefail\n" + script
        completed = subprocess.run(argv + [script], capture_output=True, text=True, timeout=timeout,
                                   env=self.env(servers, config), cwd=cwd or self.cwd, stdin=subprocess.DEVNULL)
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def agents(self) -> list[dict]:
        """Every stub agent started, in order: name, argv, env."""
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def agent(self, name: str) -> dict:
        """The one start of ``name`` (fails unless exactly one agent, that one, was started)."""
        started = self.agents()
        assert [entry["name"] for entry in started] == [name], started
        return started[0]


@pytest.fixture
def readme(tmp_path, isolated_home, lmstudio_emulator, ollama_emulator) -> Iterator[Readme]:
    """Both emulators in the state the examples assume: LM Studio has its default model on disk,
    loaded with its default 4096-token window (so `--for codex` reloads it with 65536); Ollama new
    enough for Codex's and Claude's APIs, with a server default window of 131072
    (OLLAMA_CONTEXT_LENGTH), and the models the examples name, loaded."""
    lmstudio_emulator.downloaded = [MODEL]
    lmstudio_emulator.loaded = {MODEL: 4096}
    ollama_emulator.version = "0.33.0"
    ollama_emulator.default_num_ctx = 131072
    ollama_emulator.models = {name: 2_000_000_000 for name in ("llama3.2", "qwen3-coder", OLLAMA_MODEL)}
    ollama_emulator.loaded = {name: 131072 for name in ollama_emulator.models}
    stage = Readme(tmp_path, isolated_home, lmstudio_emulator, ollama_emulator)
    yield stage
    stage.close()


# -- what each example must do -------------------------------------------------------------------

LMSTUDIO = frozenset({"lmstudio"})  # only LM Studio answers: auto-detection finds it
OLLAMA = frozenset({"ollama"})
BOTH = frozenset({"lmstudio", "ollama"})  # for examples that name their provider


@dataclass(frozen=True)
class Example:
    check: Callable[[Readme, Result], None]
    servers: frozenset[str] = LMSTUDIO
    setup: Callable[[Readme], None] | None = None
    shell: str = "bash"
    needs: tuple[str, ...] = ()  # programs besides bash and the stubs: skipped where one is missing
    before: str = ""  # what the README says is there already (zsh's compinit)
    after: str = ""  # shell code run after the example, in the same shell, to look at what it did
    cwd: Path | None = None
    config: bool = True  # LMPREP_CONFIG: every provider but LM Studio and Ollama on a closed port
    block: bool = False  # the key is the first line of a block that runs as one script
    synopsis: bool = False  # `cmd [--opt] [--opt ARG]`: run bare, then with each option


def codex_oss_only(stage: Readme, result: Result) -> None:
    assert stage.agent("codex")["argv"] == ["--oss"]
    assert f"{MODEL} on LM Studio at {stage.lmstudio.base_url}" in result.stderr


def codex_for_codex(stage: Readme, result: Result) -> None:
    codex_oss_only(stage, result)
    assert stage.lmstudio.loaded == {MODEL: 65536}  # reloaded with the window Codex needs
    assert stage.lmstudio.requests_to("POST", "/v1/responses")  # and its first request tried


def codex_exec(*program_args: str) -> Callable[[Readme, Result], None]:
    def check(stage: Readme, result: Result) -> None:
        codex = stage.agent("codex")
        offline = [part for option in OFFLINE_OPTIONS for part in option]  # README: "Offline"
        assert codex["argv"] == [*offline, "--oss", "--local-provider", "lmstudio", "-m", MODEL,
                                 "-c", "model_context_window=65536", *program_args]
        assert codex["env"]["CODEX_OSS_BASE_URL"] == stage.lmstudio.base_url
    return check


def aider_from_env(stage: Readme, result: Result) -> None:
    aider = stage.agent("aider")
    assert aider["argv"] == []
    assert aider["env"]["AIDER_MODEL"] == f"lm_studio/{MODEL}"
    assert aider["env"]["LM_STUDIO_API_BASE"] == stage.lmstudio.base_url
    assert Path(aider["env"]["AIDER_MODEL_METADATA_FILE"]).is_file()


def claude_on_ollama(stage: Readme, result: Result) -> None:
    claude = stage.agent("claude")
    assert claude["argv"] == []
    env = claude["env"]
    assert env["ANTHROPIC_BASE_URL"] == stage.ollama.origin
    assert env["ANTHROPIC_MODEL"] == env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "qwen3-coder"
    assert env["CLAUDE_CODE_AUTO_COMPACT_WINDOW"] == "131072"
    assert stage.ollama.requests_to("POST", "/v1/messages")


def goose_on_ollama(stage: Readme, result: Result) -> None:
    goose = stage.agent("goose")
    assert goose["argv"] == ["session"]
    env = goose["env"]
    assert (env["GOOSE_PROVIDER"], env["OLLAMA_HOST"], env["GOOSE_MODEL"]) == ("ollama", stage.ollama.origin,
                                                                                 OLLAMA_MODEL)
    assert env["GOOSE_INPUT_LIMIT"] == "131072"


def ollama_unloaded(stage: Readme) -> None:
    stage.ollama.loaded = {}


def ollama_waited_for(stage: Readme, result: Result) -> None:
    assert stage.ollama.loaded == {"llama3.2": 131072}  # loaded while lmprep waited
    assert f"llama3.2 on Ollama at {stage.ollama.base_url}" in result.stderr


def stdout_is(expected: Callable[[Readme], str]) -> Callable[[Readme, Result], None]:
    def check(stage: Readme, result: Result) -> None:
        assert result.stdout == expected(stage)
    return check


def dotenv_written(stage: Readme, result: Result) -> None:
    assert result.stdout == ""
    written = (stage.cwd / ".env.local").read_text().splitlines()
    assert f"OPENAI_BASE_URL='{stage.lmstudio.base_url}'" in written
    assert f"OPENAI_MODEL='{MODEL}'" in written


def config_path_printed(stage: Readme, result: Result) -> None:
    assert result.stdout == f"{stage.config}\n"
    assert "LMPREP_CONFIG" in result.stderr


def config_shown(stage: Readme, result: Result) -> None:
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["config", "file", str(stage.config), "(LMPREP_CONFIG;", "loaded)"]
    assert f"  base_url       {stage.ollama.base_url} (OLLAMA_HOST)" in lines


def config_shown_as_json(stage: Readme, result: Result) -> None:
    shown = json.loads(result.stdout)
    assert shown["oss_provider"] == {"value": "ollama", "source": "--local-provider"}
    assert shown["providers"]["ollama"]["base_url"] == {"value": stage.ollama.base_url, "source": "OLLAMA_HOST"}


def config_init(stage: Readme, result: Result) -> None:
    config = stage.home / ".config" / "lmprep" / "config.toml"
    assert config.is_file() and (config.parent / "config.toml.bak").is_file()
    assert (stage.tmp / "example.toml").read_text() == config.read_text()


def shell_script(stage: Readme, result: Result) -> None:
    assert result.stdout.splitlines() == [
        "go",  # the case statement's `ready` branch
        f"ollama {stage.ollama.base_url}",  # `lmprep status --json | jq ...`: the running provider
        f"url={stage.ollama.base_url}",  # what `url=$(...)` got (echoed after the block)
    ]
    assert stage.agents() == []  # `ollama serve` was not needed


def asked(stage: Readme, result: Result) -> None:
    assert result.stdout == "OK\n"
    question = stage.ollama.requests_to("POST", "/v1/chat/completions")[-1].json
    assert question["model"] == "llama3.2"
    assert question["messages"] == [{"role": "user", "content": "Why is the sky blue?"}]


def fish_completes(stage: Readme, result: Result) -> None:
    assert result.stdout.startswith("status\t")  # fish loaded the file from its completions folder


def make_fish_completions_folder(stage: Readme) -> None:
    """What fish's first interactive start does (__fish_config_interactive); `fish -c` does not."""
    (stage.home / ".config" / "fish" / "completions").mkdir(parents=True)


def needs(program: str, example: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed, which the README example needs: {example}")


#: README line (or first line of a script block) → what running it must do. Exit status 0 always.
RUN: dict[str, Example] = {
    # Usage
    "lmprep --for codex && codex --oss          # ready for Codex: its API, its tools, its window":
        Example(codex_for_codex),
    "lmprep -p ollama -m llama3.2 --warm-up wait": Example(ollama_waited_for, BOTH, setup=ollama_unloaded),
    "lmprep --json | jq -r .state               # one JSON object on stdout, also on failure":
        Example(stdout_is(lambda stage: "ready\n"), needs=("jq",)),
    # Shell completion
    'eval "$(lmprep completion bash)"                          # in ~/.bashrc':
        Example(stdout_is(lambda stage: "complete -o nosort -F _lmprep_completion lmprep\n"),
                after="complete -p lmprep"),
    'eval "$(lmprep completion zsh)"                           # in ~/.zshrc, after compinit':
        Example(stdout_is(lambda stage: "_lmprep_completion\n"), shell="zsh",
                before="autoload -Uz compinit && compinit -u", after="print -r -- ${_comps[lmprep]}"),
    "lmprep completion fish > ~/.config/fish/completions/lmprep.fish":
        Example(fish_completes, shell="fish", setup=make_fish_completions_folder, after="complete -C 'lmprep sta'"),
    # Ready for an agent
    "lmprep --for codex && codex --oss              # the agent starts only if its first request will work":
        Example(codex_for_codex),
    "lmprep exec --for codex -- codex               # ... with the arguments it needs added by lmprep":
        Example(codex_exec()),
    'eval "$(lmprep env --for aider)" && aider': Example(aider_from_env),
    "lmprep env --for aider --format fish | source; and aider    # fish": Example(aider_from_env, shell="fish"),
    # In shell scripts: Ollama alone, so that `lmprep --json` finds it
    "lmprep -q -p ollama -m llama3.2 || exit $?            # nothing printed when all is well":
        Example(shell_script, OLLAMA, needs=("jq",), block=True, after='echo "url=$url"'),
    # lmprep env and lmprep exec
    'eval "$(lmprep env --for claude -p ollama -m qwen3-coder)" && claude': Example(claude_on_ollama, BOTH),
    "lmprep exec --for goose -p ollama -- goose session": Example(goose_on_ollama, BOTH),
    'lmprep exec --for codex -- codex exec "explain this repository"':
        Example(codex_exec("exec", "explain this repository")),
    "lmprep env --format dotenv > .env.local": Example(dotenv_written),
    # lmprep config
    "lmprep config path          # the file lmprep reads (stdout); where that came from on stderr":
        Example(config_path_printed),
    "lmprep config show          # every setting, its value and its source; tokens never shown":
        Example(config_shown, BOTH),
    "lmprep config show --json -p ollama": Example(config_shown_as_json, BOTH),
    # without LMPREP_CONFIG: `config init` writes the default file (then replaces it with --force)
    "lmprep config init [--force] [--config PATH]": Example(config_init, config=False, synopsis=True),
    # --oss in your own click CLI
    'python examples/ask.py --oss --local-provider ollama -m llama3.2 "Why is the sky blue?"':
        Example(asked, BOTH, cwd=ROOT),
}

#: README line → why it is not run here.
SKIPPED: dict[str, str] = {
    "lmprep smoke --for claude":
        "runs the real agent: test_smoke.py runs each real agent CI installs against the real llama-server",
    "lmprep smoke --for pi -p llamacpp --time-limit 60 --json":
        "runs the real agent: test_smoke.py runs pi against a real --no-jinja llama-server",
    "python3 -m venv .venv && . .venv/bin/activate && python -m pip install . && lmprep --help":
        "installs from PyPI into ./.venv; CI's .ci/run does it (test_readme_install.py checks the line)",
    "python3 -m venv .venv && . .venv/bin/activate && python -m pip install -e '.[test]' && python -m pytest":
        "is CI's .ci/run itself, which runs this suite (test_readme_install.py checks the line)",
    "pipx install .            # or: uv tool install .":
        "installs into the user's pipx (or uv) tool folder, from PyPI",
}

#: First line of a ```python block → why it is not run here (the other one is run by a test below).
PYTHON_SKIPPED: dict[str, str] = {
    "import click": "not complete code: `OpenAI` is not imported and the body ends in `...` "
                    "(examples/ask.py, run above, is the complete example)",
}
PYTHON_RUN = "import lmprep"


def accounted_lines() -> set[str]:
    """Every README sh line that RUN or SKIPPED covers (a block example covers its whole block)."""
    covered = set(RUN) | set(SKIPPED)
    for first, example in RUN.items():
        if example.block:
            covered |= set(block_starting(first).lines)
    return covered


def test_every_readme_example_is_run_or_skipped():
    unaccounted = [f"README.md line {number}: {line}" for block in sh_blocks() for number, line in block.numbered()
                   if line not in accounted_lines()]
    assert not unaccounted, "README examples neither run nor skipped here (add them to RUN or SKIPPED):\n" + \
        "\n".join(unaccounted)
    python = [block.lines[0] for block in readme_blocks() if block.lang == "python"]
    assert sorted(python) == sorted([PYTHON_RUN, *PYTHON_SKIPPED])


def test_every_skipped_example_is_still_in_the_readme():
    lines = {line for block in sh_blocks() for line in block.lines}
    assert not set(SKIPPED) - lines, "SKIPPED names lines the README no longer has"


def concrete_forms(synopsis: str, tmp: Path) -> list[str]:
    """``cmd [--a] [--b ARG]`` → ``cmd``, ``cmd --a``, ``cmd --b <tmp file>``."""
    options = re.findall(r"\[(--[\w-]+)(?: ([A-Z]+))?\]", synopsis)
    assert options, synopsis
    bare = re.sub(r"\s*\[--[^]]*\]", "", synopsis)
    return [bare] + [f"{bare} {option} {tmp / 'example.toml'}" if metavar else f"{bare} {option}"
                     for option, metavar in options]


@pytest.mark.parametrize("key", list(RUN), ids=[f"{n:02d}-{key.split('#')[0].strip()[:40]}"
                                                for n, key in enumerate(RUN)])
def test_readme_example(key, readme):
    example = RUN[key]
    for program in (example.shell, *example.needs):
        needs(program, key)
    text = block_starting(key).text if example.block else readme_line(key)
    if example.setup:
        example.setup(readme)
    commands = concrete_forms(text, readme.tmp) if example.synopsis else [text]
    for command in commands:
        script = "\n".join(part for part in (example.before, command, example.after) if part)
        result = readme.run(script, servers=example.servers, shell=example.shell, cwd=example.cwd,
                            config=example.config)
        assert result.returncode == 0, f"{command}\n{result}"
    example.check(readme, result)


ENV_THEN_AGENT = {"bash": 'eval "$(lmprep env --for aider)" && aider',
                  "zsh": 'eval "$(lmprep env --for aider)" && aider',
                  "fish": "lmprep env --for aider --format fish | source; and aider    # fish"}


@pytest.mark.parametrize("shell", list(ENV_THEN_AGENT))
@pytest.mark.parametrize("mistake, code", [("", 4), (" --for aidr", 2)], ids=["server-down", "usage-error"])
def test_readme_env_line_never_starts_the_agent_when_lmprep_fails(readme, shell, mistake, code):
    """The README's `env` lines, as written, in the real shell, with LM Studio down (or a mistyped
    --for): the agent is not started and the shell's status is lmprep's exit code. On today's main
    `eval ""` succeeded and started it."""
    needs(shell, ENV_THEN_AGENT[shell])
    line = readme_line(ENV_THEN_AGENT[shell]).replace("lmprep env --for aider", f"lmprep env --for aider{mistake}")
    status = "$status" if shell == "fish" else "$?"
    set_provider = "set -gx LMPREP_PROVIDER lmstudio" if shell == "fish" else "export LMPREP_PROVIDER=lmstudio"
    result = readme.run(f"{set_provider}\n{line}\necho status={status}", servers=frozenset(), shell=shell)
    assert readme.agents() == [], result
    assert result.stdout == f"status={code}\n", result
    expected = "Error: LM Studio is not responding" if code == 4 else "Invalid value for '--for'"
    assert expected in result.stderr, result


def test_python_api_example(readme):
    """The Python API example, run with this python against the Ollama emulator."""
    code = block_starting(PYTHON_RUN, "python").text
    script = readme.tmp / "api.py"
    script.write_text(code)
    completed = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                               env=readme.env(BOTH), cwd=readme.cwd, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == f"{readme.ollama.base_url} llama3.2 False loaded"
    assert lines[1:] == ["lmstudio ready True", "ollama ready True", "llamacpp unreachable None",
                         "vllm unreachable None", "lemonade unreachable None", "dmr unreachable None",
                         "litellm unreachable None", "llamaswap unreachable None", "openai not_configured None"]


# -- the README's output samples and option lists, against the real thing ------------------------

def json_sample(key: str) -> dict:
    """The ```json sample that has top-level ``key``."""
    samples = [json.loads(block.text) for block in readme_blocks() if block.lang == "json"]
    assert len(samples) == 2, "README.md has a ```json block this module does not check"
    (sample,) = [sample for sample in samples if key in sample]
    return sample


def test_json_samples_have_the_keys_of_a_real_run(readme):
    """`--json` as in the README's sample (LM Studio, model on disk, loaded in the background),
    then `lmprep status --json` once that load is done, as in the status sample."""
    readme.lmstudio.loaded = {}
    result = readme.run("lmprep --json -p lmstudio", servers=LMSTUDIO)
    assert result.returncode == 0, result
    real, sample = json.loads(result.stdout), json_sample("provider")
    assert list(real) == list(sample)
    assert list(real["warm_up"]) == list(sample["warm_up"])
    assert list(real["timings_ms"]) == list(sample["timings_ms"])
    assert isinstance(real["rtt_ms"], float)
    volatile = {"base_url": sample["base_url"], "timings_ms": sample["timings_ms"], "rtt_ms": sample["rtt_ms"]}
    assert {**real, **volatile} == sample
    wait_for(lambda: [state for state in warm_up_states(readme.home) if state["status"] == "ok"])

    result = readme.run("lmprep status --json", servers=LMSTUDIO)
    assert result.returncode == 0, result
    real, sample = json.loads(result.stdout), json_sample("providers")
    assert list(real) == list(sample)
    (sample_row,) = sample["providers"]
    assert all(list(row) == list(sample_row) for row in real["providers"])
    row = next(row for row in real["providers"] if row["name"] == "lmstudio")
    assert [list(model) for model in row["models"]] == [list(model) for model in sample_row["models"]]
    assert list(row["last_warm_up"]) == list(sample_row["last_warm_up"])
    same = ("name", "kind", "label", "state", "running", "model", "model_source", "model_present", "model_loaded",
            "models", "error")
    assert {key: row[key] for key in same} == {key: sample_row[key] for key in same}
    assert (real["chosen"], real["chosen_source"]) == (sample["chosen"], sample["chosen_source"])


def help_options(*command: str) -> dict[str, tuple[str, ...]]:
    """Long option → (its flags..., then its metavar or choices) from `lmprep COMMAND --help`."""
    completed = subprocess.run(lmprep_argv() + [*command, "--help"], capture_output=True, text=True, timeout=30,
                               check=True, env={**os.environ, "COLUMNS": "200"})
    options = {}
    for line in completed.stdout.split("Options:\n", 1)[1].splitlines():
        match = re.match(r"  ((?:-\w, )?--[\w-]+)(?: (\S+))?(?:  |$)", line)
        if match and match[1] not in ("-h, --help", "-V, --version"):
            flags, argument = match[1].split(", "), match[2]
            choices = tuple(argument.strip("[]").split("|")) if argument and argument.startswith("[") else ()
            options[flags[-1]] = (*flags, *(choices or ((argument,) if argument else ())))
    return options


def test_the_options_table_is_lmprep_ensure_help():
    """Every row of the Usage section's options table is an option of `lmprep ensure --help`, with
    the same short flag and metavar (or the same choices, listed in the row), and vice versa."""
    rows = re.findall(r"^\| (`-[^|]*) \| ([^\n]*) \|$", readme_section("## Usage"), re.M)
    documented = {}
    for cell, meaning in rows:
        flags_and_metavar = cell.strip("`").split(", ")
        *shorts, last = flags_and_metavar
        long, _, metavar = last.partition(" ")
        documented[long] = (shorts, metavar, re.findall(r"`([\w-]+)`", meaning))
    real = help_options("ensure")
    assert sorted(documented) == sorted(real)
    for long, (shorts, metavar, words) in documented.items():
        flags = [flag for flag in real[long] if flag.startswith("-")]
        argument = real[long][len(flags):]
        assert flags == [*shorts, long], long
        if len(argument) > 1:  # a choice: the row names every choice, in any order
            assert set(argument) <= set(words), (long, argument, words)
        else:
            assert list(argument) == ([metavar] if metavar else []), long


@pytest.mark.parametrize("first_line, command", [("lmprep [ensure]", ["ensure"]), ("lmprep status", ["status"]),
                                                 ("lmprep doctor", ["doctor"]), ("lmprep smoke", ["smoke"])])
def test_the_synopses_name_the_options_of_help(first_line, command):
    """The ``` synopses of `lmprep` and `lmprep status` name exactly the options --help lists."""
    (synopsis,) = [block.text for block in readme_blocks() if not block.lang and block.text.startswith(first_line)]
    named = set(re.findall(r"(?<![\w-])(--?[\w-]+)", synopsis))
    real = help_options(*command)
    flags = {flag for entry in real.values() for flag in entry if flag.startswith("-")}
    assert named <= flags, f"not options of lmprep {command[0]}: {sorted(named - flags)}"
    assert [long for long, entry in real.items() if not named & set(entry)] == [], "options missing from the synopsis"


def test_the_inline_examples_after_the_options_table(ollama_emulator):
    """`lmprep -V` (`--version`) prints the version; `lmprep help [COMMAND]` is `--help`, also
    for `config init`; `lmprep stauts` is exit 2 naming the command meant; `lmprep --help` lists
    the options; options before a command go to it, or that command names the one it lacks."""
    text = " ".join(readme_section("## Usage").split())
    assert ("`lmprep -V` (`--version`) prints the version; `lmprep help [COMMAND]` is `lmprep [COMMAND] --help` "
            "(`lmprep help config init` too); a mistyped command (`lmprep stauts`) is exit 2") in text
    assert ("`lmprep --help` lists these options as well. Options given before a command go to it: "
            "`lmprep -p ollama status` is `lmprep status -p ollama`, and one that command does not take is "
            "named by it (`lmprep --json env` is exit 2: \"No such option '--json'\").") in text
    group_help = subprocess.run(lmprep_argv() + ["--help"], capture_output=True, text=True, timeout=30).stdout
    assert all(flag in group_help for option in help_options("ensure").values() for flag in option
               if flag.startswith("-")), group_help
    ollama_emulator.models = {OLLAMA_MODEL: 2_000_000_000}
    env = {**os.environ, "OLLAMA_HOST": ollama_emulator.origin}
    before, after = (subprocess.run(lmprep_argv() + args, capture_output=True, text=True, timeout=30, env=env)
                     for args in (["-p", "ollama", "status"], ["status", "-p", "ollama"]))
    # The same table, but for the RTT column: each run measures its own round trips.
    without_rtt = ["\n".join(" ".join(re.sub(r"(<1|\d+) ms", "RTT", line).split()) for line in result.stdout.splitlines())
                   for result in (before, after)]
    assert before.returncode == after.returncode == 0 and without_rtt[0] == without_rtt[1], before
    misplaced = subprocess.run(lmprep_argv() + ["--json", "env"], capture_output=True, text=True, timeout=30)
    assert misplaced.returncode == 2 and "No such option '--json'" in misplaced.stderr, misplaced
    for args, same_as in ((["help"], ["--help"]), (["help", "status"], ["status", "--help"]),
                          (["help", "config", "init"], ["config", "init", "--help"])):
        shown = subprocess.run(lmprep_argv() + args, capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and shown.stdout == subprocess.run(
            lmprep_argv() + same_as, capture_output=True, text=True, timeout=30).stdout, shown
    for flag in ("-V", "--version"):
        completed = subprocess.run(lmprep_argv() + [flag], capture_output=True, text=True, timeout=30)
        assert completed.returncode == 0 and re.fullmatch(r"lmprep, version \S+\n", completed.stdout), completed
    completed = subprocess.run(lmprep_argv() + ["stauts"], capture_output=True, text=True, timeout=30)
    assert completed.returncode == 2 and "status" in completed.stderr, completed

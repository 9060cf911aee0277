"""`lmprep config path|show|init`."""

from __future__ import annotations

import json
import re
import sys

import pytest
from click.testing import CliRunner

from lmprep.cli import cli
from lmprep.config import Flags, resolve_settings
from lmprep.starter_config import STARTER_CONFIG


def run(*args, env=None):
    return CliRunner().invoke(cli, ["config", *args], env=env, catch_exceptions=False)


def default_path(home):
    return home / ".config" / "lmprep" / "config.toml"


# -- path -----------------------------------------------------------------------------------

def test_path_prints_the_default_path_and_says_it_is_missing(isolated_home):
    result = run("path")
    assert result.exit_code == 0
    assert result.stdout == f"{default_path(isolated_home)}\n"
    assert result.stderr == "(from default; not found: `lmprep config init` creates it)\n"


def test_path_follows_the_variable_then_the_flag(tmp_path):
    existing = tmp_path / "mine.toml"
    existing.write_text("")
    result = run("path", env={"LMPREP_CONFIG": str(existing)})
    assert (result.stdout, result.stderr) == (f"{existing}\n", "(from LMPREP_CONFIG; exists)\n")
    flagged = run("path", "--config", str(tmp_path / "other.toml"), env={"LMPREP_CONFIG": str(existing)})
    assert flagged.stdout == f"{tmp_path / 'other.toml'}\n"
    assert flagged.stderr.startswith("(from --config; not found")


# -- show -----------------------------------------------------------------------------------

def test_show_prints_every_value_with_its_source(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('oss_provider = "ollama"\nwarm_up = "wait"\n[providers.ollama]\nmodel = "llama3"\n'
                      '[providers.box]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\nmodel = "m"\n'
                      'api_key_env = "BOX_TOKEN"\n')
    result = run("show", "--config", str(config), "--timeout", "30", "--read-timeout", "2.5",
                 env={"OLLAMA_HOST": "127.0.0.1:9999", "BOX_TOKEN": "tok-SECRET", "LM_API_TOKEN": "tok-LMS"})
    assert result.exit_code == 0
    assert "tok-SECRET" not in result.stdout + result.stderr and "tok-LMS" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[:7] == [
        f"config file      {config} (--config; loaded)",
        f"oss_provider     ollama (config {config})",
        f"warm_up          wait (config {config})",
        "offline          false (default)",
        "connect_timeout  5 (default)",
        "read_timeout     2.5 (--read-timeout)",
        "timeout          30 (--timeout)",
    ]
    text = result.stdout
    assert "[providers.lmstudio]  LM Studio\n  base_url       http://localhost:1234/v1 (default)\n" in text
    assert "  api_key_env    LM_API_TOKEN (default): token set (value hidden)\n" in text
    assert "[providers.ollama]  Ollama\n  base_url       http://127.0.0.1:9999/v1 (OLLAMA_HOST)\n" in text
    assert f"  model          llama3 (config {config})\n" in text
    assert f"[providers.box]  box (OpenAI-compatible server)\n  base_url       http://10.0.0.5:8000/v1 (config {config})" in text
    assert f"  api_key_env    BOX_TOKEN (config {config}): token set (value hidden)" in text
    assert "  lms_path       (not set: PATH, then the LM Studio home)" in text


def test_show_json_redacts_tokens(tmp_path):
    result = run("show", "--json", "-p", "lmstudio", "-m", "qwen/qwen3-8b", env={"LM_API_TOKEN": "tok-SECRET"})
    assert result.exit_code == 0
    assert "tok-SECRET" not in result.stdout
    payload = json.loads(result.stdout)
    assert payload["schema"] == 1 and payload["ok"] is True
    assert payload["oss_provider"] == {"value": "lmstudio", "source": "--local-provider"}
    assert payload["config_path"]["source"] == "default" and payload["config_path"]["exists"] is False
    assert payload["timeout"] == {"value": None, "source": "default"}
    lms = payload["providers"]["lmstudio"]
    assert lms["model"] == {"value": "qwen/qwen3-8b", "source": "--model"}
    assert lms["api_key_env"] == {"value": "LM_API_TOKEN", "source": "default"}
    assert lms["token_set"] is True
    assert payload["providers"]["openai"]["base_url"] is None
    assert payload["providers"]["ollama"]["token_set"] is False


def test_show_unknown_key_is_a_warning_on_stderr(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("colour = true\n")
    result = run("show", "--config", str(config))
    assert result.exit_code == 0
    assert result.stderr == f"warning: {config}:1: unknown key `colour` (ignored)\n"


def test_show_bad_file_is_exit_3(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("warm_up = 'soon'\n")
    result = run("show", "--config", str(config))
    assert result.exit_code == 3
    assert f"Error: The config file {config} is invalid at line 1" in result.stderr
    as_json = run("show", "--config", str(config), "--json")
    assert as_json.exit_code == 3
    payload = json.loads(as_json.stdout)
    assert payload["ok"] is False and "invalid at line 1" in payload["error"]["message"]


# -- init -----------------------------------------------------------------------------------

def test_init_writes_a_starter_that_changes_nothing(isolated_home):
    result = run("init")
    path = default_path(isolated_home)
    assert result.exit_code == 0
    assert result.stderr == f"Wrote {path}\n"
    assert path.read_text() == STARTER_CONFIG
    settings = resolve_settings(Flags(), {})
    assert settings.config_loaded and settings.warnings == ()
    assert settings.provider is None and settings.warm_up.source == "default"
    # Every commented line, uncommented, is a valid key: the starter documents real settings.
    setting = re.compile(r"^# ([a-z_]+ = |\[providers\.)")
    uncommented = "\n".join(line[2:] for line in STARTER_CONFIG.splitlines() if setting.match(line))
    assert "oss_provider" in uncommented and "[providers.gpu-box]" in uncommented
    path.write_text(uncommented)
    assert resolve_settings(Flags(), {}).warnings == ()


@pytest.mark.parametrize("name", ["the starter", "config.example.toml"])
def test_the_starter_and_the_example_document_every_key(name):
    """`config init` (what a pip user has) and the repository's example name every key the
    config file takes, top level and per provider, and no other."""
    from pathlib import Path

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    from lmprep.config import _PROVIDER_KEYS, _TOP_LEVEL_KEYS

    text = STARTER_CONFIG if name == "the starter" else \
        (Path(__file__).parent.parent / "config.example.toml").read_text()
    setting = re.compile(r"^(# )?([a-z_]+ = |\[providers\.)")
    document = tomllib.loads("\n".join(line.removeprefix("# ") for line in text.splitlines() if setting.match(line)))
    assert set(document) == _TOP_LEVEL_KEYS
    assert set().union(*(table.keys() for table in document["providers"].values())) == _PROVIDER_KEYS
    assert "probes LM Studio and Ollama" not in text  # auto-detection tries six providers


def test_init_refuses_to_overwrite_without_force(isolated_home):
    path = default_path(isolated_home)
    path.parent.mkdir(parents=True)
    path.write_text('oss_provider = "ollama"\n')
    result = run("init")
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {path} already exists; not overwriting it.\n"
        "Edit it, or run `lmprep config init --force` to replace it (the old file is kept as config.toml.bak, "
        "or .bak.1, ...: no backup is overwritten).\n"
    )
    assert path.read_text() == 'oss_provider = "ollama"\n'
    forced = run("init", "--force")
    assert forced.exit_code == 0
    assert forced.stderr == f"Wrote {path} (the old file is now {path}.bak)\n"
    assert path.read_text() == STARTER_CONFIG
    assert (path.parent / "config.toml.bak").read_text() == 'oss_provider = "ollama"\n'


def test_init_at_the_variable_or_flag_path(tmp_path):
    target = tmp_path / "deep" / "dir" / "lmprep.toml"
    assert run("init", env={"LMPREP_CONFIG": str(target)}).exit_code == 0
    assert target.read_text() == STARTER_CONFIG
    other = tmp_path / "other.toml"
    assert run("init", "--config", str(other)).exit_code == 0
    assert other.exists()


def test_init_where_it_cannot_write_is_exit_3(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run("init", "--config", str(blocker / "config.toml"))
    assert result.exit_code == 3
    assert result.stderr.startswith(f"Error: Cannot write {blocker / 'config.toml'}:")


def test_show_includes_the_stall_timeout_and_minimum_context(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("stall_timeout = 30\nmin_context = 32768\n")
    text = run("show", "--config", str(config))
    assert text.exit_code == 0
    assert f"stall_timeout    30 (config {config})\n" in text.stdout
    assert f"min_context      32768 (config {config})\n" in text.stdout
    shown = json.loads(run("show", "--json", "--config", str(config)).stdout)
    assert shown["stall_timeout"] == {"value": 30.0, "source": f"config {config}"}


def test_show_applies_base_url_and_model_to_the_chosen_provider_only():
    shown = json.loads(run("show", "--json", "-p", "ollama", "--base-url", "http://10.0.0.9:11434/v1",
                           "-m", "llama3.2", env={"LMPREP_BASE_URL": "http://ignored:1/v1"}).stdout)
    providers = shown["providers"]
    assert providers["ollama"]["base_url"] == {"value": "http://10.0.0.9:11434/v1", "source": "--base-url"}
    assert providers["ollama"]["model"] == {"value": "llama3.2", "source": "--model"}
    assert providers["lmstudio"]["base_url"] == {"value": "http://localhost:1234/v1", "source": "default"}
    assert providers["lmstudio"]["model"] == {"value": "openai/gpt-oss-20b", "source": "default"}
    assert providers["openai"]["base_url"] is None
    text = run("show", "-p", "vllm", env={"LMPREP_BASE_URL": "http://10.0.0.9:8000/v1"}).stdout
    assert "[providers.vllm]  vLLM\n  base_url       http://10.0.0.9:8000/v1 (LMPREP_BASE_URL)\n" in text
    assert text.count("LMPREP_BASE_URL") == 1
    # Nothing chosen: auto-detection tries the URL as each provider it knows.
    detect = json.loads(run("show", "--json", "--base-url", "http://10.0.0.9:1/v1").stdout)["providers"]
    assert detect["lmstudio"]["base_url"]["source"] == detect["vllm"]["base_url"]["source"] == "--base-url"


def test_a_bad_file_points_at_what_a_pip_user_has(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[providers]\nlmstudio.model = 3\n")
    result = run("show", "--config", str(config))
    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: The config file {config} is invalid at line 2, column 18: `providers.lmstudio.model` must be a "
        "string.\nFix that line, or point --config elsewhere. `lmprep config init --config example.toml` writes a "
        "file that describes every key; so does the README's Configuration section.\n"
    )
    assert "config.example.toml" not in result.stderr


# -- a config path that is a folder, or missing (issue 16) -----------------------------------

@pytest.mark.e2e
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_init_at_a_folder_says_it_is_a_folder_and_names_the_file_to_use(tmp_path, force):
    """Not "already exists, use --force", nor "check the folder's permissions"; the folder is untouched."""
    from e2e import run_lmprep

    folder = tmp_path / "my config"
    folder.mkdir()
    result = run_lmprep("config", "init", *force, "--config", str(folder))
    assert result.returncode == 3
    inside = f"'{folder / 'config.toml'}'"
    assert result.stderr == (f"Error: Cannot write the config file {folder}: it is a folder.\n"
                             f"Point --config at a file in it, e.g. {inside} "
                             f"(`lmprep config init --config {inside}` writes one).\n")
    assert list(folder.iterdir()) == [] and not (tmp_path / "my config.bak").exists()


@pytest.mark.e2e
def test_a_folder_as_the_config_file_is_named_a_folder(tmp_path):
    from e2e import run_lmprep

    result = run_lmprep("--warm-up", "off", env={"LMPREP_CONFIG": str(tmp_path)})
    assert result.returncode == 3
    assert result.stderr == (f"Error: The config file {tmp_path} (from LMPREP_CONFIG) is a folder, not a file.\n"
                             f"Point LMPREP_CONFIG at a file in it, e.g. {tmp_path / 'config.toml'} "
                             f"(`lmprep config init --config {tmp_path / 'config.toml'}` writes one).\n")


@pytest.mark.e2e
def test_a_missing_config_file_is_answered_with_the_init_that_creates_it(tmp_path):
    """`config init` alone would write the default file, not the one --config names."""
    from e2e import run_lmprep

    missing = tmp_path / "team.toml"
    result = run_lmprep("--config", str(missing), "--warm-up", "off")
    assert result.returncode == 3
    assert result.stderr == (f"Error: The config file {missing} (from --config) does not exist.\n"
                             f"Create it with `lmprep config init --config {missing}`, "
                             "or point --config at an existing file.\n")
    assert run_lmprep("config", "init", "--config", str(missing)).returncode == 0  # the hint, run, works
    assert run_lmprep("config", "show", "--config", str(missing)).returncode == 0


def test_a_config_path_too_long_for_the_file_system_is_an_error_not_a_traceback(tmp_path):
    """ENAMETOOLONG: Path.is_dir raises it (only a missing file is False), where lmprep asks
    whether the path is a folder; found by the fuzzed environment (tests/test_fuzz_config.py)."""
    too_long = str(tmp_path / ("x" * 5000))
    ensured = CliRunner().invoke(cli, ["--json"], env={"LMPREP_CONFIG": too_long}, catch_exceptions=False)
    assert ensured.exit_code == 3, ensured.output
    assert "cannot be read: File name too long" in json.loads(ensured.stdout)["error"]["message"]
    init = run("init", "--config", too_long)
    assert init.exit_code == 3 and "Cannot write" in init.stderr and "Traceback" not in init.output

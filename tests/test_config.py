"""resolve_settings: flags > LMPREP_* > ecosystem variables > config file > defaults,
each value with its source, and config-file errors that name the file, line and column."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pytest

from lmprep.config import (
    DEFAULT_CONNECT_TIMEOUT,
    Flags,
    default_config_path,
    locate_key,
    resolve_settings,
    validate_model_id,
)
from lmprep.errors import ExitCode, NotConfiguredError

BUILTIN = ["lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap", "openai"]


def resolve(env: dict[str, str] | None = None, **flags):
    return resolve_settings(Flags(**flags), env=env or {})


def not_configured(env: dict[str, str] | None = None, **flags) -> NotConfiguredError:
    """Resolve and expect a NotConfiguredError with exit code 3; return it for more checks."""
    with pytest.raises(NotConfiguredError) as info:
        resolve(env, **flags)
    error = info.value
    assert error.exit_code == ExitCode.NOT_CONFIGURED == 3
    assert error.state == "not_configured"
    assert error.hint, "every error says what to do next"
    return error


@pytest.fixture
def config_file(tmp_path):
    """Write a config file (outside the default location) and return its path as a string."""

    def write(text: str, name: str = "lmprep.toml") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


# --------------------------------------------------------------------------- defaults


def test_defaults_without_any_configuration():
    settings = resolve()
    assert settings.provider is None  # auto-detect
    assert settings.config_loaded is False
    assert settings.warnings == ()
    assert (settings.warm_up.value, settings.warm_up.source) == ("background", "default")
    assert (settings.offline.value, settings.offline.source) == (False, "default")
    assert settings.connect_timeout.value == DEFAULT_CONNECT_TIMEOUT
    assert settings.connect_timeout.source == "default"
    assert (settings.timeout.value, settings.timeout.source) == (None, "default")
    assert list(settings.providers) == BUILTIN
    assert [p.name for p in settings.auto_detect_candidates()] == ["lmstudio", "ollama", "llamacpp", "vllm", "lemonade",
                                                                 "dmr", "llamaswap"]


@pytest.mark.parametrize(
    ("name", "base_url", "model", "label"),
    [
        ("lmstudio", "http://localhost:1234/v1", "openai/gpt-oss-20b", "LM Studio"),
        ("ollama", "http://localhost:11434/v1", "gpt-oss:20b", "Ollama"),
        ("llamacpp", "http://localhost:8080/v1", None, "llama.cpp server"),
        ("vllm", "http://localhost:8000/v1", None, "vLLM"),
        ("litellm", "http://localhost:4000/v1", None, "LiteLLM proxy"),
        ("openai", None, None, "OpenAI-compatible server"),
    ],
)
def test_builtin_provider_defaults(name, base_url, model, label):
    provider = resolve().providers[name]
    assert provider.kind == name
    assert provider.label == label
    if base_url is None:
        assert provider.base_url is None
    else:
        assert (provider.base_url.value, provider.base_url.source) == (base_url, "default")
    if model is None:
        assert provider.model is None
    else:
        assert (provider.model.value, provider.model.source) == (model, "default")
    assert provider.token is None


# --------------------------------------------------------------------------- base URL precedence

# Each layer, highest first: (name, how it is given, what it resolves to).
BASE_URL_LAYERS = [
    ("--base-url", ("flag", "http://flag.test:1/v1"), "http://flag.test:1/v1"),
    ("LMPREP_BASE_URL", ("env", "http://lmprep.test:2/v1"), "http://lmprep.test:2/v1"),
    ("CODEX_OSS_BASE_URL", ("env", "http://codex.test:3/v1"), "http://codex.test:3/v1"),
    ("CODEX_OSS_PORT", ("env", "4444"), "http://localhost:4444/v1"),
    ("OLLAMA_HOST", ("env", "ollama.test:5555"), "http://ollama.test:5555/v1"),
    ("file", ("file", "http://file.test:6/v1"), "http://file.test:6/v1"),
]
APPLIES = {
    "lmstudio": {"--base-url", "LMPREP_BASE_URL", "CODEX_OSS_BASE_URL", "CODEX_OSS_PORT", "file"},
    "ollama": {"--base-url", "LMPREP_BASE_URL", "CODEX_OSS_BASE_URL", "CODEX_OSS_PORT", "OLLAMA_HOST", "file"},
    "llamacpp": {"--base-url", "LMPREP_BASE_URL", "file"},
    "vllm": {"--base-url", "LMPREP_BASE_URL", "file"},
}
DEFAULT_BASE_URL = {
    "lmstudio": "http://localhost:1234/v1",
    "ollama": "http://localhost:11434/v1",
    "llamacpp": "http://localhost:8080/v1",
    "vllm": "http://localhost:8000/v1",
}


def _layers_from(start: int, provider: str, config_file):
    """Flags and env holding every layer from ``start`` down (the higher ones removed)."""
    flags, env, file_url = {}, {}, None
    for name, (where, value), _ in BASE_URL_LAYERS[start:]:
        if where == "flag":
            flags["base_url"] = value
        elif where == "env":
            env[name] = value
        else:
            file_url = value
    if file_url is not None:
        flags["config_path"] = config_file(f'[providers.{provider}]\nbase_url = "{file_url}"\n')
    return flags, env


@pytest.mark.parametrize("provider", list(APPLIES))
@pytest.mark.parametrize("start", range(len(BASE_URL_LAYERS) + 1))
def test_base_url_precedence(provider, start, config_file):
    flags, env = _layers_from(start, provider, config_file)
    settings = resolve(env, **flags)
    resolved = settings.providers[provider].base_url
    # The highest layer present that applies to this provider wins; else the default.
    expected = ("default", DEFAULT_BASE_URL[provider])
    for name, _, url in BASE_URL_LAYERS[start:]:
        if name in APPLIES[provider]:
            expected = (name, url)
            break
    expected_source = f"config {flags['config_path']}" if expected[0] == "file" else expected[0]
    assert resolved.value == expected[1]
    assert resolved.source == expected_source


def test_codex_and_ollama_variables_do_not_reach_custom_entries(config_file):
    path = config_file(
        '[providers.studio2]\nkind = "lmstudio"\nbase_url = "http://studio2.test:1234/v1"\n'
        '[providers.box]\nkind = "ollama"\n'
    )
    env = {"CODEX_OSS_BASE_URL": "http://codex.test/v1", "CODEX_OSS_PORT": "9", "OLLAMA_HOST": "elsewhere:1"}
    settings = resolve(env, config_path=path)
    studio2 = settings.providers["studio2"]
    assert (studio2.base_url.value, studio2.base_url.source) == ("http://studio2.test:1234/v1", f"config {path}")
    box = settings.providers["box"]
    assert (box.base_url.value, box.base_url.source) == ("http://localhost:11434/v1", "default")
    # ... while the built-in entries do take them.
    assert settings.providers["lmstudio"].base_url.source == "CODEX_OSS_BASE_URL"
    assert settings.providers["ollama"].base_url.source == "CODEX_OSS_BASE_URL"


@pytest.mark.parametrize(
    ("ollama_host", "expected"),
    [
        ("0.0.0.0", "http://127.0.0.1:11434/v1"),
        ("0.0.0.0:11500", "http://127.0.0.1:11500/v1"),
        (":8081", "http://127.0.0.1:8081/v1"),
        ("https://ollama.example.com", "https://ollama.example.com:443/v1"),
        ("http://gpu.lan", "http://gpu.lan:80/v1"),
        ("gpu.lan/ollama", "http://gpu.lan:11434/ollama/v1"),
        ("[::1]:11434", "http://[::1]:11434/v1"),
        ('"10.0.0.2:11434"', "http://10.0.0.2:11434/v1"),
    ],
)
def test_ollama_host_is_parsed_by_ollama_rules(ollama_host, expected):
    base_url = resolve({"OLLAMA_HOST": ollama_host}).providers["ollama"].base_url
    assert (base_url.value, base_url.source) == (expected, "OLLAMA_HOST")


def test_blank_variables_are_ignored():
    env = {name: "" for name in ("LMPREP_BASE_URL", "LMPREP_MODEL", "LMPREP_PROVIDER", "CODEX_OSS_BASE_URL", "CODEX_OSS_PORT", "LMPREP_LMS", "LMPREP_CONFIG")}
    env["OLLAMA_HOST"] = "   "
    settings = resolve(env)
    assert settings.provider is None
    for name in ("lmstudio", "ollama"):
        assert settings.providers[name].base_url.source == "default"
        assert settings.providers[name].model.source == "default"
    assert settings.providers["lmstudio"].lms_path is None


def test_codex_oss_port_is_trimmed():
    base_url = resolve({"CODEX_OSS_PORT": " 1235 "}).providers["lmstudio"].base_url
    assert (base_url.value, base_url.source) == ("http://localhost:1235/v1", "CODEX_OSS_PORT")


def test_base_urls_are_normalised(config_file):
    path = config_file('[providers.vllm]\nbase_url = "HTTP://gpu.lan:8000/v1/"\n')
    assert resolve(config_path=path).providers["vllm"].base_url.value == "http://gpu.lan:8000/v1"
    assert resolve(base_url=" http://x.test/v1/ ").providers["lmstudio"].base_url.value == "http://x.test/v1"


# --------------------------------------------------------------------------- model precedence


@pytest.mark.parametrize("provider", ["lmstudio", "ollama", "vllm"])
def test_model_precedence(provider, config_file):
    path = config_file(f'[providers.{provider}]\nmodel = "from-file"\n')
    env = {"LMPREP_MODEL": "from-env"}

    model = resolve(env, model="from-flag", config_path=path).providers[provider].model
    assert (model.value, model.source) == ("from-flag", "--model")

    model = resolve(env, config_path=path).providers[provider].model
    assert (model.value, model.source) == ("from-env", "LMPREP_MODEL")

    model = resolve(config_path=path).providers[provider].model
    assert (model.value, model.source) == ("from-file", f"config {path}")

    model = resolve().providers[provider].model
    default = {"lmstudio": "openai/gpt-oss-20b", "ollama": "gpt-oss:20b", "vllm": None}[provider]
    if default is None:
        assert model is None
    else:
        assert (model.value, model.source) == (default, "default")


def test_codex_variables_do_not_set_the_model():
    env = {"CODEX_OSS_BASE_URL": "http://codex.test/v1", "CODEX_OSS_PORT": "1", "OLLAMA_HOST": "h:2"}
    settings = resolve(env)
    assert settings.providers["lmstudio"].model.source == "default"
    assert settings.providers["ollama"].model.source == "default"


def test_model_is_trimmed():
    assert resolve(model="  qwen3:8b ").providers["ollama"].model.value == "qwen3:8b"


# --------------------------------------------------------------------------- provider precedence


def test_provider_precedence(config_file):
    path = config_file('oss_provider = "vllm"\n')
    env = {"LMPREP_PROVIDER": "ollama"}

    provider = resolve(env, provider="lmstudio", config_path=path).provider
    assert (provider.value, provider.source) == ("lmstudio", "--local-provider")

    provider = resolve(env, config_path=path).provider
    assert (provider.value, provider.source) == ("ollama", "LMPREP_PROVIDER")

    provider = resolve(config_path=path).provider
    assert (provider.value, provider.source) == ("vllm", f"config {path}")

    assert resolve().provider is None


def test_provider_name_is_trimmed():
    provider = resolve({"LMPREP_PROVIDER": " ollama "}).provider
    assert (provider.value, provider.source) == ("ollama", "LMPREP_PROVIDER")


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [("olama", "ollama"), ("Ollama", "ollama"), ("lm-studio", "lmstudio"), ("llama.cpp", "llamacpp"), ("vlm", "vllm")],
)
def test_unknown_provider_from_flag_suggests_the_closest(name, suggestion):
    error = not_configured(provider=name)
    assert f"Unknown provider {name!r} (from --local-provider)" in error.message
    assert f"Did you mean {suggestion!r}?" in error.hint
    assert "Valid providers: lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai." in error.hint
    assert f"Did you mean {suggestion!r}?" in str(error)


def test_unknown_provider_without_a_close_match():
    error = not_configured(provider="zzz")
    assert "Did you mean" not in error.hint
    assert "Valid providers: lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai." in error.hint


def test_unknown_provider_from_env_and_file_names_its_source(config_file):
    error = not_configured({"LMPREP_PROVIDER": "olama"})
    assert "(from LMPREP_PROVIDER)" in error.message
    assert "Did you mean 'ollama'?" in error.hint

    path = config_file('oss_provider = "lmstudo"\n[providers.gpu-box]\nkind = "openai"\n')
    error = not_configured(config_path=path)
    assert f"(from config {path})" in error.message
    assert "Did you mean 'lmstudio'?" in error.hint
    assert "Valid providers: lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai, gpu-box." in error.hint


# --------------------------------------------------------------------------- other options


def test_warm_up_offline_timeouts_flag_over_file_over_default(config_file):
    path = config_file('warm_up = "wait"\noffline = true\nconnect_timeout = 2\ntimeout = 30.5\n')
    settings = resolve(config_path=path)
    source = f"config {path}"
    assert (settings.warm_up.value, settings.warm_up.source) == ("wait", source)
    assert (settings.offline.value, settings.offline.source) == (True, source)
    assert (settings.connect_timeout.value, settings.connect_timeout.source) == (2.0, source)
    assert isinstance(settings.connect_timeout.value, float)
    assert (settings.timeout.value, settings.timeout.source) == (30.5, source)

    settings = resolve(config_path=path, warm_up="off", offline=True, connect_timeout=1.5, timeout=9.0)
    assert (settings.warm_up.value, settings.warm_up.source) == ("off", "--warm-up")
    assert (settings.offline.value, settings.offline.source) == (True, "--offline")
    assert (settings.connect_timeout.value, settings.connect_timeout.source) == (1.5, "--connect-timeout")
    assert (settings.timeout.value, settings.timeout.source) == (9.0, "--timeout")


def test_offline_flag_false_means_not_given(config_file):
    path = config_file("offline = true\n")
    settings = resolve(config_path=path, offline=False)
    assert (settings.offline.value, settings.offline.source) == (True, f"config {path}")


@pytest.mark.parametrize(
    "flags",
    [
        {"warm_up": "later"},
        {"warm_up": ""},
        {"connect_timeout": 0},
        {"connect_timeout": -1.0},
        {"timeout": 0.0},
        {"timeout": math.nan},
    ],
)
def test_bad_option_values_from_the_api_are_refused(flags):
    """ensure_oss_ready passes its arguments straight in; click is not there to check them."""
    error = not_configured(**flags)
    assert repr(next(iter(flags.values()))) in error.message


def test_lms_path_env_over_file(config_file):
    path = config_file('[providers.lmstudio]\nlms_path = "~/.lmstudio/bin/lms"\n')
    lms = resolve({"LMPREP_LMS": "/opt/lms"}, config_path=path).providers["lmstudio"].lms_path
    assert (lms.value, lms.source) == ("/opt/lms", "LMPREP_LMS")
    lms = resolve(config_path=path).providers["lmstudio"].lms_path
    assert (lms.value, lms.source) == ("~/.lmstudio/bin/lms", f"config {path}")
    assert resolve({"LMPREP_LMS": "/opt/lms"}).providers["ollama"].lms_path is None


def test_process_environment_is_used_when_env_is_not_given(monkeypatch):
    monkeypatch.setenv("LMPREP_MODEL", "from-os-environ")
    monkeypatch.setenv("LMPREP_PROVIDER", "ollama")
    settings = resolve_settings(Flags())
    assert settings.provider.value == "ollama"
    assert settings.providers["ollama"].model.value == "from-os-environ"
    assert settings.providers["ollama"].model.source == "LMPREP_MODEL"


# --------------------------------------------------------------------------- where the file is


def test_default_config_path_follows_xdg_config_home(isolated_home):
    assert default_config_path() == isolated_home / ".config" / "lmprep" / "config.toml"


def test_default_config_file_is_read(isolated_home):
    path = isolated_home / ".config" / "lmprep" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('oss_provider = "ollama"\n[providers.ollama]\nmodel = "qwen3:8b"\n')
    settings = resolve()
    assert settings.config_loaded is True
    assert (settings.config_path.value, settings.config_path.source) == (path, "default")
    assert (settings.provider.value, settings.provider.source) == ("ollama", f"config {path}")
    assert settings.providers["ollama"].model.value == "qwen3:8b"


def test_missing_default_config_file_is_fine(isolated_home):
    settings = resolve()
    assert settings.config_loaded is False
    assert settings.config_path.value == isolated_home / ".config" / "lmprep" / "config.toml"


def test_lmprep_config_variable(config_file, isolated_home):
    default = isolated_home / ".config" / "lmprep" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text('[providers.ollama]\nmodel = "from-default"\n')
    path = config_file('[providers.ollama]\nmodel = "from-variable"\n')
    settings = resolve({"LMPREP_CONFIG": path})
    assert (str(settings.config_path.value), settings.config_path.source) == (path, "LMPREP_CONFIG")
    assert settings.providers["ollama"].model.value == "from-variable"


def test_config_flag_over_lmprep_config_variable(config_file):
    from_variable = config_file('[providers.ollama]\nmodel = "from-variable"\n', "a.toml")
    from_flag = config_file('[providers.ollama]\nmodel = "from-flag"\n', "b.toml")
    settings = resolve({"LMPREP_CONFIG": from_variable}, config_path=from_flag)
    assert (str(settings.config_path.value), settings.config_path.source) == (from_flag, "--config")
    model = settings.providers["ollama"].model
    assert (model.value, model.source) == ("from-flag", f"config {from_flag}")


def test_config_path_expands_user(isolated_home):
    (isolated_home / "my.toml").write_text('oss_provider = "vllm"\n')
    settings = resolve(config_path="~/my.toml")
    assert settings.config_path.value == isolated_home / "my.toml"
    assert settings.provider.value == "vllm"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_missing_explicit_config_file_is_an_error(how, tmp_path):
    missing = tmp_path / "nope.toml"
    if how == "flag":
        error = not_configured(config_path=str(missing))
        assert "(from --config)" in error.message
    else:
        error = not_configured({"LMPREP_CONFIG": str(missing)})
        assert "(from LMPREP_CONFIG)" in error.message
    assert str(missing) in error.message
    assert "does not exist" in error.message


def test_unreadable_config_file_is_an_error(tmp_path):
    directory = tmp_path / "a-directory.toml"
    directory.mkdir()
    error = not_configured(config_path=str(directory))
    assert str(directory) in error.message


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('oss_provider = "lmstudio"\n\n[providers.lmstudio]\nmodel = "openai/gpt-oss-20b\n', 4, 28),
        ("oss_provider = lmstudio\n", 1, 16),
        ('[providers.lmstudio]\nbase_url = "http://x"\nbase_url = "http://y"\n', 3, 22),
        ('warm_up = "wait"\n[providers\n', 2, 11),
        ("a = 1\n  b == 2\n", 2, 6),
    ],
)
def test_bad_toml_names_file_line_and_column(config_file, text, line, column):
    path = config_file(text)
    error = not_configured(config_path=path)
    assert error.message.startswith(f"The config file {path} is invalid at line {line}, column {column}: ")
    assert "(at line" not in error.message  # the position is said once, not twice


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'oss_provider = "ollama"\n# caf\xe9\n')
    error = not_configured(config_path=str(path))
    assert f"{path} is invalid at line 2, column 6" in error.message
    assert "UTF-8" in error.message


@pytest.mark.parametrize(
    ("text", "dotted", "line", "column", "expected"),
    [
        ('oss_provider = "ollama"\n[providers.lmstudio]\nmodel = 3\n', "providers.lmstudio.model", 3, 9, "a string"),
        ('# comment\noffline = "yes"\n', "offline", 2, 11, "true or false"),
        ("offline = 1\n", "offline", 1, 11, "true or false"),
        ("connect_timeout = -1\n", "connect_timeout", 1, 19, "a number of seconds above 0, such as 30."),
        ("connect_timeout = 0\n", "connect_timeout", 1, 19, "a number of seconds above 0, such as 30."),
        ("connect_timeout = nan\n", "connect_timeout", 1, 19, "a number of seconds above 0, such as 30."),
        ("timeout = 1e10\n", "timeout", 1, 11, "at most 1,000,000,000 seconds (31 years)."),
        ("min_context = 0\n", "min_context", 1, 15, 'a number of tokens above 0, such as 65536 or "64k".'),
        ('min_context = "lots"\n', "min_context", 1, 15, 'a number of tokens above 0, such as 65536 or "64k".'),
        ("min_context = 65536.0\n", "min_context", 1, 15, 'a number of tokens above 0, such as 65536 or "64k".'),
        ('min_context = "2000000k"\n', "min_context", 1, 15, "at most 1,000,000,000 tokens."),
        ("min_context = 2_000_000_000\n", "min_context", 1, 15, "at most 1,000,000,000 tokens."),
        # dotted keys: the line that writes them, not line 1
        ('[providers]\nlmstudio.model = 3\n', "providers.lmstudio.model", 2, 18, "a string"),
        ('oss_provider = "x"\nproviders.ollama . "base_url" = 7\n', "providers.ollama.base_url", 2, 33, "a string"),
        ('[providers]\nlmstudio.kind = "ollama"\n', "providers.lmstudio.kind", 2, 17, "'lmstudio' (or left out)"),
        ("connect_timeout = true\n", "connect_timeout", 1, 19, "a number"),
        ('timeout = "10"\n', "timeout", 1, 11, "a number"),
        ('\n\nwarm_up = "later"\n', "warm_up", 3, 11, "one of 'background', 'wait', 'off'"),
        ("oss_provider = 1\n", "oss_provider", 1, 16, "a string"),
        ('[providers.ollama]\n  base_url   =   7\n', "providers.ollama.base_url", 2, 18, "a string"),
        ('[providers."gpu-box"]\nkind = "openai"\nmodel = ["a"]\n', "providers.gpu-box.model", 3, 9, "a string"),
        ('[providers.gpu-box]\nkind = "gpu"\n', "providers.gpu-box.kind", 2, 8, "one of"),
        ('[providers.ollama]\nkind = "lmstudio"\n', "providers.ollama.kind", 2, 8, "'ollama' (or left out)"),
        ('[providers.lmstudio]\napi_key_env = "sk-123"\n', "providers.lmstudio.api_key_env", 2, 15, "the name of an environment variable"),
        ("providers = 3\n", "providers", 1, 13, "a table"),
        ('[providers]\nlmstudio = "x"\n', "providers.lmstudio", 2, 12, "a table"),
    ],
)
def test_wrong_types_name_file_line_and_column(config_file, text, dotted, line, column, expected):
    path = config_file(text)
    error = not_configured(config_path=path)
    assert f"The config file {path} is invalid at line {line}, column {column}: " in error.message
    assert f"`{dotted}` must be {expected}" in error.message


@pytest.mark.parametrize("name", ["1TOKEN", "MY-TOKEN", "TOKEN\\n", "TÖKEN", "", "A B"])
def test_api_key_env_must_be_a_variable_name(config_file, name):
    path = config_file(f'[providers.lmstudio]\napi_key_env = "{name}"\n')
    assert "must be the name of an environment variable" in not_configured(config_path=path).message


@pytest.mark.parametrize("name", ["LM_API_TOKEN", "_x", "a1"])
def test_api_key_env_takes_any_variable_name(config_file, name):
    settings = resolve_settings(Flags(config_path=str(config_file(f'[providers.lmstudio]\napi_key_env = "{name}"\n'))),
                                env={})
    assert settings.providers["lmstudio"].api_key_env.value == name


def test_api_key_env_error_does_not_echo_the_value(config_file):
    path = config_file('[providers.lmstudio]\napi_key_env = "sk-secret-123"\n')
    error = not_configured(config_path=path)
    assert "sk-secret-123" not in str(error)


def test_unknown_keys_are_warnings_with_file_and_line(config_file):
    path = config_file(
        'oss_provider = "ollama"\n'          # 1
        "colour = true\n"                    # 2
        "\n"                                 # 3
        "[providers.ollama]\n"               # 4
        'model = "llama3"\n'                 # 5
        'modle = "typo"\n'                   # 6
        "[extras]\n"                         # 7
        "a = 1\n"                            # 8
        "[providers.lmstudio.more]\n"        # 9
        "b = 2\n"                            # 10
        "[providers]\n"                      # 11
        "vllm.baseurl = 'x'\n"               # 12
    )
    settings = resolve(config_path=path)
    assert settings.warnings == (
        f"{path}:2: unknown key `colour` (ignored)",
        f"{path}:7: unknown key `extras` (ignored)",
        f"{path}:6: unknown key `providers.ollama.modle` (ignored); did you mean `providers.ollama.model`?",
        f"{path}:9: unknown key `providers.lmstudio.more` (ignored); did you mean `providers.lmstudio.model`?",
        f"{path}:12: unknown key `providers.vllm.baseurl` (ignored); did you mean `providers.vllm.base_url`?",
    )
    # The rest of the file still applies.
    assert settings.provider.value == "ollama"
    assert settings.providers["ollama"].model.value == "llama3"


# --------------------------------------------------------------------------- custom entries


def test_custom_entry(config_file):
    path = config_file(
        'oss_provider = "gpu-box"\n'
        "[providers.gpu-box]\n"
        'kind = "openai"\n'
        'base_url = "http://10.0.0.5:8000/v1"\n'
        'model = "Qwen/Qwen3-8B"\n'
    )
    settings = resolve(config_path=path)
    assert list(settings.providers) == [*BUILTIN, "gpu-box"]
    assert (settings.provider.value, settings.provider.source) == ("gpu-box", f"config {path}")
    box = settings.providers["gpu-box"]
    assert (box.name, box.kind) == ("gpu-box", "openai")
    assert box.label == "gpu-box (OpenAI-compatible server)"
    assert (box.base_url.value, box.base_url.source) == ("http://10.0.0.5:8000/v1", f"config {path}")
    assert (box.model.value, box.model.source) == ("Qwen/Qwen3-8B", f"config {path}")
    assert box.lms_path is None
    # Custom entries are not auto-detected.
    assert [p.name for p in settings.auto_detect_candidates()] == ["lmstudio", "ollama", "llamacpp", "vllm", "lemonade",
                                                                 "dmr", "llamaswap"]


def test_custom_entry_takes_its_kinds_defaults(config_file):
    path = config_file('[providers.studio2]\nkind = "lmstudio"\n')
    studio2 = resolve({"LM_API_TOKEN": "tok"}, config_path=path).providers["studio2"]
    assert studio2.kind == "lmstudio"
    assert studio2.label == "studio2 (LM Studio)"
    assert (studio2.base_url.value, studio2.base_url.source) == ("http://localhost:1234/v1", "default")
    assert (studio2.model.value, studio2.model.source) == ("openai/gpt-oss-20b", "default")
    assert studio2.token == "tok"


def test_custom_entry_without_kind_is_an_error(config_file):
    path = config_file('oss_provider = "ollama"\n\n[providers.gpu-box]\nbase_url = "http://10.0.0.5:8000/v1"\n')
    error = not_configured(config_path=path)
    assert f"The config file {path} is invalid at line 3, column 1" in error.message
    assert "`gpu-box`" in error.message
    assert "lmstudio, ollama, llamacpp, vllm, lemonade, dmr, litellm, llamaswap, openai" in error.message


def test_builtin_entry_may_repeat_its_own_kind(config_file):
    path = config_file('[providers.ollama]\nkind = "ollama"\nmodel = "llama3"\n')
    assert resolve(config_path=path).providers["ollama"].model.value == "llama3"


# --------------------------------------------------------------------------- model ids


@pytest.mark.parametrize("model", ["-rf", "--help", " -x", "--yes"])
def test_model_starting_with_dash_is_refused_from_flag(model):
    error = not_configured(model=model)
    assert "starts with '-'" in error.message
    assert "--model" in error.message


def test_model_starting_with_dash_is_refused_from_env():
    error = not_configured({"LMPREP_MODEL": "--force"})
    assert "starts with '-'" in error.message
    assert "LMPREP_MODEL" in error.message


def test_model_starting_with_dash_is_refused_from_file(config_file):
    path = config_file('[providers.lmstudio]\nmodel = "-h"\n')
    error = not_configured(config_path=path)
    assert "starts with '-'" in error.message
    assert f"config {path}" in error.message


def test_model_starting_with_dash_is_refused_in_custom_entries(config_file):
    path = config_file('[providers.box]\nkind = "vllm"\nmodel = "--served-model"\n')
    assert "starts with '-'" in not_configured(config_path=path).message


@pytest.mark.parametrize(("flags", "env"), [({"model": ""}, {}), ({"model": "  "}, {}), ({}, {"LMPREP_MODEL": " "})])
def test_empty_model_is_refused(flags, env):
    assert "is empty" in not_configured(env, **flags).message


def test_empty_model_in_file_is_refused(config_file):
    path = config_file('[providers.ollama]\nmodel = ""\n')
    assert "is empty" in not_configured(config_path=path).message


@pytest.mark.parametrize("model", ["openai/gpt-oss-20b", "gpt-oss:20b", "a-b", "x--y", "hf.co/org/m:Q4_K_M"])
def test_validate_model_id_accepts_real_ids(model):
    assert validate_model_id(model, "test") == model


# --------------------------------------------------------------------------- tokens


def test_lm_api_token_goes_to_lmstudio_only():
    settings = resolve({"LM_API_TOKEN": "sk-lm-secret"})
    lmstudio = settings.providers["lmstudio"]
    assert lmstudio.token == "sk-lm-secret"
    assert (lmstudio.api_key_env.value, lmstudio.api_key_env.source) == ("LM_API_TOKEN", "default")
    for name in ("ollama", "llamacpp", "vllm", "lemonade", "dmr", "openai"):
        assert settings.providers[name].token is None
        assert settings.providers[name].api_key_env is None or name == "lemonade"
    # Lemonade's own variable (docs/server/configuration.md: LEMONADE_API_KEY).
    assert settings.providers["lemonade"].api_key_env == ("LEMONADE_API_KEY", "default")


def test_the_litellm_proxys_key_is_the_variable_its_own_client_reads():
    # litellm/proxy/client/cli/main.py (1.106.12): `--api-key`, envvar LITELLM_PROXY_API_KEY.
    litellm = resolve({"LITELLM_PROXY_API_KEY": "sk-gateway-key"}).providers["litellm"]
    assert litellm.api_key_env == ("LITELLM_PROXY_API_KEY", "default")
    assert litellm.token == "sk-gateway-key"


def test_api_key_env_names_the_variable(config_file):
    path = config_file(
        '[providers.gpu-box]\nkind = "openai"\nbase_url = "http://10.0.0.5:8000/v1"\napi_key_env = "GPU_BOX_TOKEN"\n'
        '[providers.lmstudio]\napi_key_env = "MY_LMS_TOKEN"\n'
    )
    env = {"GPU_BOX_TOKEN": "sk-box-secret", "MY_LMS_TOKEN": "sk-lms-secret", "LM_API_TOKEN": "sk-ignored"}
    settings = resolve(env, config_path=path)
    box = settings.providers["gpu-box"]
    assert box.token == "sk-box-secret"
    assert (box.api_key_env.value, box.api_key_env.source) == ("GPU_BOX_TOKEN", f"config {path}")
    assert settings.providers["lmstudio"].token == "sk-lms-secret"


def test_api_key_env_unset_or_empty_means_no_token(config_file):
    path = config_file('[providers.vllm]\napi_key_env = "VLLM_TOKEN"\n')
    assert resolve(config_path=path).providers["vllm"].token is None
    assert resolve({"VLLM_TOKEN": ""}, config_path=path).providers["vllm"].token is None


def test_token_never_in_repr(config_file):
    path = config_file('[providers.gpu-box]\nkind = "openai"\napi_key_env = "GPU_BOX_TOKEN"\n')
    settings = resolve({"LM_API_TOKEN": "sk-lm-secret", "GPU_BOX_TOKEN": "sk-box-secret"}, config_path=path)
    assert settings.providers["lmstudio"].token == "sk-lm-secret"  # it is there ...
    for text in (repr(settings), str(settings), repr(settings.providers), repr(settings.providers["gpu-box"])):
        assert "sk-lm-secret" not in text  # ... but never shown
        assert "sk-box-secret" not in text
    assert "LM_API_TOKEN" in repr(settings)  # the variable's name is fine


# --------------------------------------------------------------------------- bad variables and URLs


def provider_error(env: dict[str, str], name: str) -> NotConfiguredError:
    """A variable only some providers read is an error when that provider is used."""
    settings = resolve(env)
    with pytest.raises(NotConfiguredError) as info:
        settings.provider_settings(name)
    assert info.value.exit_code == 3 and info.value.hint
    return info.value


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "12 34", "1234x", "²", "١٢٣٤"])
def test_invalid_codex_oss_port(port):
    for name in ("lmstudio", "ollama"):
        error = provider_error({"CODEX_OSS_PORT": port}, name)
        assert f"CODEX_OSS_PORT={port.strip()!r}" in error.message
    assert resolve({"CODEX_OSS_PORT": port}).provider_settings("llamacpp").base_url.source == "default"


@pytest.mark.parametrize("value", ["ftp://host", "host:abc", "host:70000", "[::1", "unix:///run/ollama.sock"])
def test_invalid_ollama_host(value):
    error = provider_error({"OLLAMA_HOST": value}, "ollama")
    assert f"OLLAMA_HOST={value!r}" in error.message
    # Someone using LM Studio is not stopped by a broken Ollama variable.
    settings = resolve({"OLLAMA_HOST": value}, provider="lmstudio")
    assert settings.provider_settings("lmstudio").base_url.value == "http://localhost:1234/v1"


def test_broken_variable_leaves_its_provider_out_of_auto_detect():
    """A bad OLLAMA_HOST must not stop plain `lmprep` from finding LM Studio; why Ollama was
    not looked for is kept for the message."""
    settings = resolve({"OLLAMA_HOST": "ftp://x"})
    assert "ollama" not in [c.name for c in settings.auto_detect_candidates()]
    [skipped] = settings.skipped_candidates()
    assert "OLLAMA_HOST" in skipped.message


@pytest.mark.parametrize(
    ("how", "value", "source"),
    [
        ("flag", "localhost:1234/v1", "--base-url"),
        ("flag", "http://localhost:1234/v1?x=1", "--base-url"),
        ("LMPREP_BASE_URL", "ftp://host/v1", "LMPREP_BASE_URL"),
        ("CODEX_OSS_BASE_URL", "http:///v1", "CODEX_OSS_BASE_URL"),
        ("file", "not a url", "config"),
        ("file", "http://localhost:99999/v1", "config"),
    ],
)
def test_invalid_base_url(how, value, source, config_file):
    if how == "flag":
        error = not_configured(base_url=value)
    elif how == "file":
        error = not_configured(config_path=config_file(f'[providers.lmstudio]\nbase_url = "{value}"\n'))
    elif how == "CODEX_OSS_BASE_URL":
        error = provider_error({how: value}, "lmstudio")
    else:
        error = not_configured({how: value})
    assert f"The base URL {value!r} from {source}" in error.message
    assert "http://localhost:1234/v1" in error.hint


def test_no_error_is_a_bare_exception(config_file):
    """Every bad input above surfaces as NotConfiguredError, never a ValueError/KeyError."""
    nasty = [
        ({}, {"config_path": config_file("[providers.x]\nkind = 1\n", "1.toml")}),
        ({}, {"config_path": config_file("[[providers]]\nkind = 1\n", "2.toml")}),
        ({}, {"config_path": config_file('[providers.lmstudio.nested]\nx = "y"\n[providers.ollama]\nbase_url = {a = 1}\n', "3.toml")}),
    ]
    for env, flags in nasty:
        not_configured(env, **flags)
    provider_error({"CODEX_OSS_PORT": "99999999999999999999"}, "lmstudio")
    provider_error({"OLLAMA_HOST": "[]:x"}, "ollama")


# --------------------------------------------------------------------------- locate_key


@pytest.mark.parametrize(
    ("table_path", "key", "expected"),
    [
        ((), "offline", (2, 11)),
        (("providers", "lmstudio"), "model", (6, 12)),
        (("providers", "gpu-box"), "kind", (9, 8)),
        (("providers", "gpu-box"), "missing", (8, 1)),  # falls back to the table header
        (("providers", "nowhere"), "model", (1, 1)),  # falls back to line 1
        (("providers",), "ollama", (11, 1)),  # a key that is a sub-table: its header
    ],
)
def test_locate_key(table_path, key, expected):
    text = (
        'oss_provider = "x"\n'              # 1
        "offline = true\n"                  # 2
        "# model = 1\n"                     # 3
        "[ providers.lmstudio ]  # main\n"  # 4
        "base_url = 1\n"                    # 5
        '"model" =  1\n'                    # 6
        "modelx = 2\n"                      # 7
        '[providers."gpu-box"]\n'           # 8
        'kind = "openai"\n'                 # 9
        "\n"                                # 10
        "[providers.ollama]\n"              # 11
    )
    assert locate_key(text, table_path, key) == expected


def test_sources_are_plain_strings_for_config_show(config_file):
    path = config_file('[providers.ollama]\nmodel = "m"\n')
    settings = resolve({"OLLAMA_HOST": "h:1"}, config_path=path)
    for provider in settings.providers.values():
        for value in (provider.base_url, provider.model):
            if value is not None:
                assert isinstance(value.source, str)
                assert re.fullmatch(r"--[a-z-]+|[A-Z_]+|config .+|default", value.source)
    assert Path(path).exists() and os.path.isabs(path)


# --------------------------------------------------------------------------- --for and --keep-alive


def test_an_agent_implies_its_minimum_window_unless_one_is_given(config_file):
    assert resolve(agent="codex").min_context == (65536, "--for codex")
    assert resolve(agent="claude").min_context.value == 100_000
    assert resolve(agent="llm").min_context.value is None
    assert resolve(agent="codex", min_context=8192).min_context == (8192, "--min-context")
    path = config_file("min_context = 32768\n")
    assert resolve(agent="codex", config_path=path).min_context == (32768, f"config {path}")


def test_an_unknown_agent_from_the_api_is_exit_3():
    error = not_configured(agent="cursor")
    assert error.message == "Unknown agent 'cursor'."


@pytest.mark.parametrize("given, seconds", [
    ("30m", 1800.0), ("2h", 7200.0), ("1h30m", 5400.0), ("90s", 90.0), ("500ms", 0.5), ("300", 300.0),
    (600, 600.0), ("-1", -1.0), (-5, -1.0),
])
def test_keep_alive_durations(given, seconds):
    assert resolve(keep_alive=given).keep_alive == (seconds, "--keep-alive")


@pytest.mark.parametrize("given", ["0", "soon", "30x", "", "1e400", "nan", True])
def test_keep_alive_that_is_no_duration_is_exit_3(given):
    assert "--keep-alive" in not_configured(keep_alive=given).message


def test_keep_alive_from_the_file_and_its_errors(config_file):
    path = config_file('keep_alive = "45m"\n')
    assert resolve(config_path=path).keep_alive == (2700.0, f"config {path}")
    assert resolve(config_path=config_file("keep_alive = -1\n")).keep_alive.value == -1.0
    bad = config_file('warm_up = "wait"\nkeep_alive = "later"\n', name="bad.toml")
    error = not_configured(config_path=bad)
    assert error.message == (f"The config file {bad} is invalid at line 2, column 14: `keep_alive` must be a "
                             "duration ('later' is not a duration).")
    assert resolve().keep_alive == (None, "default")

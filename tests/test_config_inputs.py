"""What users type into the configuration, taken as they mean it: a server's root URL where its
API base is meant, Codex's own `oss_provider`, `64k` for a window, a word about quotes for an
unquoted TOML string. The installed lmprep against the emulators where a server is involved."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from lmprep.config import Flags, api_base_url, resolve_settings

ROOT_NOTICE = "has no path: lmprep uses"


def resolve(env=None, **flags):
    return resolve_settings(Flags(**flags), env=env or {})


# -- a server's root URL → its API base (issue 16, point 4) ----------------------------------

@pytest.mark.parametrize(("url", "kind", "expected"), [
    ("http://localhost:11434", "ollama", "http://localhost:11434/v1"),
    ("http://localhost:1234", "lmstudio", "http://localhost:1234/v1"),
    ("http://localhost:8080", "llamacpp", "http://localhost:8080/v1"),
    ("http://gpu.lan:8000", "vllm", "http://gpu.lan:8000/v1"),
    ("http://localhost:13305", "lemonade", "http://localhost:13305/api/v1"),
    ("http://localhost:12434", "dmr", "http://localhost:12434/engines/v1"),
    ("https://[::1]:11434", "ollama", "https://[::1]:11434/v1"),
    # A path, whatever it is, is the user's: a proxy's prefix, an API base already, another version.
    ("http://localhost:11434/v1", "ollama", "http://localhost:11434/v1"),
    ("http://proxy.lan/custom/v1", "ollama", "http://proxy.lan/custom/v1"),
    ("http://proxy.lan/ollama", "ollama", "http://proxy.lan/ollama"),
    ("http://localhost:13305/v1", "lemonade", "http://localhost:13305/v1"),
    # The generic kind's layout is unknown.
    ("http://localhost:9000", "openai", "http://localhost:9000"),
])
def test_api_base_url(url, kind, expected):
    assert api_base_url(url, kind) == expected


@pytest.mark.parametrize("given", ["http://localhost:11434", "http://localhost:11434/", " HTTP://localhost:11434 "])
def test_a_root_base_url_flag_is_the_providers_api_base_said_once(given):
    settings = resolve(provider="ollama", base_url=given)
    assert settings.providers["ollama"].base_url == ("http://localhost:11434/v1", "--base-url")
    assert settings.warnings == ("The base URL http://localhost:11434 from --base-url has no path: lmprep uses "
                                 "Ollama's API base, http://localhost:11434/v1.",)


@pytest.mark.parametrize(("env", "provider", "source"), [
    ({"LMPREP_BASE_URL": "http://127.0.0.1:11434"}, "ollama", "LMPREP_BASE_URL"),
    ({"CODEX_OSS_BASE_URL": "http://127.0.0.1:11434"}, "ollama", "CODEX_OSS_BASE_URL"),
    ({"CODEX_OSS_BASE_URL": "http://127.0.0.1:11434"}, "lmstudio", "CODEX_OSS_BASE_URL"),
])
def test_a_root_base_url_variable_is_the_api_base_too(env, provider, source):
    settings = resolve(env, provider=provider)
    assert settings.providers[provider].base_url == ("http://127.0.0.1:11434/v1", source)
    assert len(settings.warnings) == 1
    assert settings.warnings[0].startswith(f"The base URL http://127.0.0.1:11434 from {source} {ROOT_NOTICE} ")


def test_the_variables_that_name_a_server_root_are_completed_silently():
    """OLLAMA_HOST is a host and LM_STUDIO_BASE_URL a server root by definition: /v1 is added
    as before, without a notice (it is what they mean, not a slip)."""
    settings = resolve({"OLLAMA_HOST": "127.0.0.1:11500", "LM_STUDIO_BASE_URL": "ws://127.0.0.1:1235"})
    assert settings.providers["ollama"].base_url == ("http://127.0.0.1:11500/v1", "OLLAMA_HOST")
    assert settings.providers["lmstudio"].base_url == ("http://127.0.0.1:1235/v1", "LM_STUDIO_BASE_URL")
    assert settings.warnings == ()


def test_a_root_base_url_in_the_config_file(tmp_path):
    path = tmp_path / "lmprep.toml"
    path.write_text('[providers.lemonade]\nbase_url = "http://box.lan:13305"\n'
                    '[providers.box]\nkind = "dmr"\nbase_url = "http://box.lan:12434/"\n')
    settings = resolve(config_path=str(path), provider="box")
    assert settings.providers["box"].base_url == ("http://box.lan:12434/engines/v1", f"config {path}")
    # The others are resolved the same way, but only the provider used is talked about.
    assert settings.providers["lemonade"].base_url.value == "http://box.lan:13305/api/v1"
    assert settings.warnings == (f"The base URL http://box.lan:12434 from config {path} has no path: lmprep uses "
                                 "Docker Model Runner's API base, http://box.lan:12434/engines/v1.",)


def test_a_root_base_url_under_auto_detection_is_one_line_for_every_kind():
    settings = resolve(base_url="http://127.0.0.1:9")
    assert settings.providers["ollama"].base_url.value == "http://127.0.0.1:9/v1"
    assert settings.providers["lemonade"].base_url.value == "http://127.0.0.1:9/api/v1"
    assert settings.warnings == (
        "The base URL http://127.0.0.1:9 from --base-url has no path: lmprep uses each server's API base under it, "
        "http://127.0.0.1:9/v1 (Lemonade Server: /api/v1, Docker Model Runner: /engines/v1).",)


def test_codex_oss_base_url_for_both_its_providers_is_one_line():
    settings = resolve({"CODEX_OSS_BASE_URL": "http://127.0.0.1:9"})
    assert settings.warnings == (
        "The base URL http://127.0.0.1:9 from CODEX_OSS_BASE_URL has no path: lmprep uses the API base "
        "http://127.0.0.1:9/v1.",)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/custom/v1", "http://127.0.0.1:9/v1"])
def test_a_base_url_with_a_path_is_kept_without_a_word(url):
    settings = resolve(provider="ollama", base_url=url)
    assert settings.providers["ollama"].base_url.value == url
    assert settings.warnings == ()


def test_the_generic_kind_keeps_a_root_url():
    settings = resolve(provider="openai", base_url="http://127.0.0.1:9")
    assert settings.providers["openai"].base_url.value == "http://127.0.0.1:9"
    assert settings.warnings == ()


@pytest.mark.e2e
@pytest.mark.parametrize("choose", [("-p", "ollama"), ()], ids=["chosen", "auto-detected"])
def test_env_with_ollamas_root_url_exports_its_v1(ollama_emulator, choose):
    """`--base-url http://localhost:11434`, the URL every Ollama user knows: OpenAI clients
    need .../v1, and get 404 for every request without it."""
    ollama_emulator.models = {"tiny": 1}
    root = ollama_emulator.origin
    result = run_lmprep("env", *choose, "--base-url", root, "-m", "tiny", "--warm-up", "off")
    assert result.returncode == 0, result.stderr
    assert f"export OPENAI_BASE_URL='{root}/v1'\n" in result.stdout
    assert result.stderr.count(ROOT_NOTICE) == 1
    assert f"The base URL {root} from --base-url has no path" in result.stderr
    assert f"Ready: tiny on Ollama at {root}/v1" in result.stderr


@pytest.mark.e2e
def test_ready_for_openai_clients_through_ollamas_root_url(ollama_emulator):
    """Under --for openai the route check goes to .../v1/chat/completions, which answers."""
    ollama_emulator.models = {"tiny": 1}
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.origin, "-m", "tiny", "--for", "openai",
                        "--json")
    assert result.returncode == 0, result.stderr
    assert result.json["base_url"] == ollama_emulator.base_url


@pytest.mark.e2e
def test_config_show_names_the_api_base_and_its_source(tmp_path):
    path = tmp_path / "lmprep.toml"
    path.write_text('[providers.ollama]\nbase_url = "http://gpu.lan:11434"\n')
    shown = run_lmprep("config", "show", "--config", str(path), "-p", "ollama")
    assert shown.returncode == 0, shown.stderr
    assert f"  base_url       http://gpu.lan:11434/v1 (config {path})\n" in shown.stdout
    assert shown.stderr == (f"warning: The base URL http://gpu.lan:11434 from config {path} has no path: "
                            "lmprep uses Ollama's API base, http://gpu.lan:11434/v1.\n")
    as_json = run_lmprep("config", "show", "--config", str(path), "-p", "ollama", "--json").json
    assert as_json["providers"]["ollama"]["base_url"] == {"value": "http://gpu.lan:11434/v1",
                                                          "source": f"config {path}"}
    assert len(as_json["warnings"]) == 1


# -- Codex's own config file: its oss_provider (issue 16, point 15) ---------------------------

CODEX_SOURCE = "Codex's config ~/.codex/config.toml"


@pytest.fixture
def codex_config(isolated_home):
    """Write ~/.codex/config.toml (Codex's default home) and return its path."""
    def write(text: str):
        path = isolated_home / ".codex" / "config.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path
    return write


def home_env(isolated_home, **more) -> dict[str, str]:
    return {"HOME": str(isolated_home), **more}


@pytest.mark.parametrize("provider", ["ollama", "lmstudio"])
def test_codex_oss_provider_chooses_the_provider(codex_config, isolated_home, provider):
    codex_config(f'model = "gpt-oss:20b"\noss_provider = "{provider}"\n[model_providers.x]\nname = "x"\n')
    settings = resolve(home_env(isolated_home))
    assert settings.provider == (provider, CODEX_SOURCE)
    assert settings.warnings == ()


def test_codex_oss_provider_is_below_lmprep_own_settings(codex_config, isolated_home, tmp_path):
    codex_config('oss_provider = "ollama"\n')
    mine = tmp_path / "lmprep.toml"
    mine.write_text('oss_provider = "vllm"\n')
    assert resolve(home_env(isolated_home), config_path=str(mine)).provider == ("vllm", f"config {mine}")
    assert resolve(home_env(isolated_home, LMPREP_PROVIDER="llamacpp")).provider == ("llamacpp", "LMPREP_PROVIDER")
    assert resolve(home_env(isolated_home), provider="lemonade").provider == ("lemonade", "--local-provider")


def test_codex_home_is_where_codex_config_is(tmp_path, isolated_home, codex_config):
    codex_config('oss_provider = "lmstudio"\n')  # ~/.codex is not read when CODEX_HOME says elsewhere
    elsewhere = tmp_path / "codex-home"
    elsewhere.mkdir()
    (elsewhere / "config.toml").write_text('oss_provider = "ollama"\n')
    settings = resolve(home_env(isolated_home, CODEX_HOME=str(elsewhere)))
    assert settings.provider == ("ollama", f"Codex's config {elsewhere / 'config.toml'}")
    # An empty CODEX_HOME is unset, as Codex takes it.
    assert resolve(home_env(isolated_home, CODEX_HOME="")).provider == ("lmstudio", CODEX_SOURCE)


def test_codex_profile_oss_provider_wins_as_in_codex(codex_config, isolated_home):
    codex_config('profile = "local"\noss_provider = "lmstudio"\n[profiles.local]\noss_provider = "ollama"\n'
                 '[profiles.other]\noss_provider = "lmstudio"\n')
    assert resolve(home_env(isolated_home)).provider == ("ollama", CODEX_SOURCE)
    codex_config('profile = "local"\noss_provider = "lmstudio"\n[profiles.local]\nmodel = "m"\n')
    assert resolve(home_env(isolated_home)).provider == ("lmstudio", CODEX_SOURCE)


@pytest.mark.parametrize(("content", "warning"), [
    (b"oss_provider = ollama\n", "is invalid at line 1, column 16"),
    (b'oss_provider = "\xff"\n', "is invalid at line 1, column 17: it is not valid UTF-8"),
    (b'oss_provider = "llamacpp"\n', "Codex's oss_provider ('llamacpp') is not lmstudio or ollama; lmprep ignores it."),
    (b"oss_provider = 3\n", "Codex's oss_provider (not a string) is not lmstudio or ollama; lmprep ignores it."),
])
def test_a_codex_config_lmprep_cannot_use_is_a_warning_not_a_failure(codex_config, isolated_home, content, warning):
    path = codex_config("")
    path.write_bytes(content)
    settings = resolve(home_env(isolated_home))
    assert settings.provider is None  # auto-detect, as without the file
    assert len(settings.warnings) == 1
    assert str(path) in settings.warnings[0] and warning in settings.warnings[0]


def test_a_codex_config_that_is_a_folder_or_missing(isolated_home):
    assert resolve(home_env(isolated_home)).warnings == ()  # no ~/.codex: nothing to say
    (isolated_home / ".codex" / "config.toml").mkdir(parents=True)
    settings = resolve(home_env(isolated_home))
    assert settings.provider is None
    assert settings.warnings == (f"The config file {isolated_home / '.codex' / 'config.toml'} (from default) is a "
                                 "folder, not a file. lmprep ignores it (it reads only Codex's oss_provider there).",)


@pytest.mark.e2e
def test_codex_oss_provider_in_config_show_and_a_run(codex_config, ollama_emulator):
    codex_config('oss_provider = "ollama"\n')
    shown = run_lmprep("config", "show")
    assert shown.returncode == 0, shown.stderr
    assert f"oss_provider     ollama ({CODEX_SOURCE})\n" in shown.stdout
    assert run_lmprep("config", "show", "--json").json["oss_provider"] == {"value": "ollama", "source": CODEX_SOURCE}
    ollama_emulator.models = {"tiny": 1}
    ready = run_lmprep("--base-url", ollama_emulator.base_url, "-m", "tiny", "--warm-up", "off", "--json")
    assert ready.returncode == 0, ready.stderr
    assert (ready.json["provider"], ready.json["provider_source"]) == ("ollama", CODEX_SOURCE)


@pytest.mark.e2e
def test_a_broken_codex_config_does_not_stop_lmprep(codex_config, ollama_emulator):
    codex_config("oss_provider = ollama\n")
    ollama_emulator.models = {"tiny": 1}
    ready = run_lmprep("--base-url", ollama_emulator.base_url, "-m", "tiny", "--warm-up", "off")
    assert ready.returncode == 0, ready.stderr
    assert ".codex/config.toml is invalid at line 1, column 16" in ready.stderr
    assert "Ready: tiny on Ollama" in ready.stderr


# -- 64k for a window; a word about quotes (issue 16, point 16) -------------------------------

@pytest.mark.parametrize(("given", "tokens"), [
    ("64k", 65536), ("64K", 65536), ("128k", 131072), (" 32k ", 32768), ("65536", 65536), (65536, 65536),
    ("1k", 1024), ("976562k", 999_999_488),
])
def test_parse_tokens(given, tokens):
    from lmprep.config import parse_tokens

    assert parse_tokens(given) == tokens


@pytest.mark.parametrize("given", ["0", "0k", "-64k", "1.5k", "64kb", "64m", "k", "", "lots", "6_4k", "٦٤k",
                                   "976563k", "9" * 5000, True, 0, -1, 1.5])
def test_parse_tokens_refuses(given):
    from lmprep.config import parse_tokens

    with pytest.raises(ValueError):
        parse_tokens(given)


def test_min_context_with_k_from_the_file_and_the_api(tmp_path):
    path = tmp_path / "lmprep.toml"
    path.write_text('min_context = "64k"\n')
    assert resolve(config_path=str(path)).min_context == (65536, f"config {path}")
    assert resolve(min_context="128k").min_context == (131072, "--min-context")
    from lmprep.errors import NotConfiguredError

    with pytest.raises(NotConfiguredError, match='"64k"'):
        resolve(min_context="64 kilo")


@pytest.mark.e2e
def test_min_context_64k_on_the_command_line(llamacpp_emulator):
    """The emulator's window is 131072 (128k): 64k is met, 256k is more than the model holds."""
    met = run_lmprep("-p", "llamacpp", "--base-url", llamacpp_emulator.base_url, "--min-context", "64k", "--json")
    assert met.returncode == 0, met.stderr
    assert met.json["context_length"] == 131072
    too_big = run_lmprep("-p", "llamacpp", "--base-url", llamacpp_emulator.base_url, "--min-context", "256K")
    assert too_big.returncode == 11
    assert "fewer than the 262144 required (from --min-context)" in too_big.stderr
    refused = run_lmprep("config", "show", "--min-context", "64 k")
    assert refused.returncode == 2
    assert "'64 k' is not a number of tokens; for example 65536, or 64k (k means 1024)" in refused.stderr


@pytest.mark.parametrize(("text", "line", "column", "hint"), [
    ("oss_provider = ollama\n", 1, 16, '; a string needs quotes: `oss_provider = "ollama"`.'),
    ('[providers.ollama]\nbase_url = http://gpu.lan:11434\n', 2, 12,
     '; a string needs quotes: `base_url = "http://gpu.lan:11434"`.'),
    ("x = 1\n  warm_up =  wait  # soon\n", 2, 14, '; a string needs quotes: `warm_up = "wait"`.'),
    ("offline = True\n", 1, 11, "; true and false are written in lower case: `offline = true`."),
])
def test_an_unquoted_string_gets_a_word_about_quotes(tmp_path, text, line, column, hint):
    from lmprep.errors import NotConfiguredError

    path = tmp_path / "lmprep.toml"
    path.write_text(text)
    with pytest.raises(NotConfiguredError) as info:
        resolve(config_path=str(path))
    assert info.value.message == f"The config file {path} is invalid at line {line}, column {column}: Invalid value{hint}"


@pytest.mark.parametrize("text", ["a = [foo]\n", "x = -\n", "x = 1979-05-27T07:32:00Zq\n"])
def test_other_invalid_values_get_no_word_about_quotes(tmp_path, text):
    from lmprep.errors import NotConfiguredError

    path = tmp_path / "lmprep.toml"
    path.write_text(text)
    with pytest.raises(NotConfiguredError) as info:
        resolve(config_path=str(path))
    assert "quotes" not in info.value.message and "lower case" not in info.value.message


@pytest.mark.e2e
def test_config_show_says_how_to_quote(tmp_path):
    path = tmp_path / "lmprep.toml"
    path.write_text("oss_provider = ollama\n")
    result = run_lmprep("config", "show", "--config", str(path))
    assert result.returncode == 3
    assert f'{path} is invalid at line 1, column 16: Invalid value; a string needs quotes: `oss_provider = "ollama"`.' \
        in result.stderr

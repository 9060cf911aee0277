"""Fuzzed configuration: environment variables, flags and config files.

Whatever they hold, resolve_settings either resolves or raises NotConfiguredError
(not_configured, exit 3); a broken file is named with `line N, column M`.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzzing import examples

from lmprep.config import Flags, ProviderSettings, Settings, Sourced, resolve_settings
from lmprep.errors import DownloadFailedError, ExitCode, NotConfiguredError
from lmprep.hosts import normalize_base_url
from lmprep.lms import find_lms, lmstudio_homes
from lmprep.providers.kinds import KINDS

# On failure Hypothesis imports libcst to suggest an @example patch; here that import warns.
pytestmark = pytest.mark.filterwarnings("ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")

FUZZ = settings(
    max_examples=examples(250),
    deadline=None,
    database=None,
    # conftest's autouse fixture gives the test one HOME and config dir; every example
    # passes its own `env` mapping and config path, so sharing them is harmless.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SECRET = "sk-fuzz-secret-7f3a"
INVALID_AT = re.compile(r"is invalid at line (\d+), column (\d+): ")

PROVIDER_NAMES = st.one_of(
    st.sampled_from([*KINDS, "LMStudio", " ollama ", "lmstuido", "", "custom", "-x"]), st.text(max_size=12)
)
URL_VALUES = st.one_of(
    st.sampled_from([
        "http://localhost:1234/v1", "http://127.0.0.1:11434", "https://h/v1/", "localhost:1234", "http://",
        "http://h:99999/v1", "http://h/v1?x=1", "http://xn--/v1", "http://[::1/v1", "ftp://h", "  http://h/v1  ",
    ]),
    st.text(max_size=30),
)
PORT_VALUES = st.one_of(
    st.integers(min_value=-2, max_value=70000).map(str),
    st.sampled_from(["", " ", "0", "65536", "1234 ", "１２３", "1e3", "9" * 5000]),
    st.text(max_size=8),
)
ENV = st.fixed_dictionaries({}, optional={
    "LMPREP_PROVIDER": PROVIDER_NAMES,
    "LMPREP_MODEL": st.one_of(st.sampled_from(["", " ", "-rf", "llama3", "openai/gpt-oss-20b"]), st.text(max_size=20)),
    "LMPREP_BASE_URL": URL_VALUES,
    "LMPREP_LMS": st.text(max_size=20),
    "LMPREP_CONFIG": st.one_of(st.sampled_from(["", "~", "/", "/nonexistent/x.toml", "a\x00b", "x" * 5000]),
                               st.text(max_size=20)),
    "CODEX_OSS_BASE_URL": URL_VALUES,
    "CODEX_OSS_PORT": PORT_VALUES,
    "OLLAMA_HOST": st.one_of(URL_VALUES, st.sampled_from(["0.0.0.0", ":1", "[::1]", "h?x", "a:b:c"])),
    "LM_API_TOKEN": st.text(max_size=10).map(lambda t: SECRET + t),
})
TIMEOUTS = st.one_of(st.none(), st.floats(), st.sampled_from([0.0, -1.0, 1e-300, 1e300, math.inf, math.nan, 5.0]))
FLAGS = st.builds(
    Flags,
    provider=st.one_of(st.none(), PROVIDER_NAMES),
    model=st.one_of(st.none(), st.text(max_size=20)),
    base_url=st.one_of(st.none(), URL_VALUES),
    warm_up=st.one_of(st.none(), st.sampled_from(["background", "wait", "off", "WAIT", ""])),
    offline=st.one_of(st.none(), st.booleans()),
    connect_timeout=TIMEOUTS,
    timeout=TIMEOUTS,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


def resolve(flags: Flags, env: dict[str, str]) -> Settings | NotConfiguredError:
    try:
        return resolve_settings(flags, env)
    except NotConfiguredError as exc:
        assert exc.state == "not_configured" and exc.exit_code == ExitCode.NOT_CONFIGURED
        assert exc.message and exc.hint
        return exc


def check_settings(resolved: Settings) -> None:
    """What the rest of lmprep may rely on once settings resolved."""
    assert SECRET not in repr(resolved)
    for value in (resolved.connect_timeout.value, resolved.timeout.value, resolved.stall_timeout.value):
        # A socket timeout must fit the platform's time_t: inf or 1e300 s crashed the first request.
        assert value is None or (isinstance(value, float) and 0 < value <= 1e9), value
    assert resolved.warm_up.value in ("background", "wait", "off")
    if resolved.provider is not None:
        assert resolved.provider.value in resolved.providers or resolved.provider.value in resolved.broken
    for name in {*resolved.providers, *resolved.broken}:
        try:
            provider = resolved.provider_settings(name)
        except NotConfiguredError as exc:
            assert exc.exit_code == ExitCode.NOT_CONFIGURED
            continue
        assert isinstance(provider, ProviderSettings)
        assert provider.kind in KINDS
        if provider.base_url is not None:
            assert normalize_base_url(provider.base_url.value) == provider.base_url.value
        else:
            assert KINDS[provider.kind].default_base_url is None
        if provider.model is not None:
            model = provider.model.value
            assert model and model == model.strip() and not model.startswith("-")
    try:
        resolved.auto_detect_candidates()
    except NotConfiguredError:
        pass


@FUZZ
@given(ENV, FLAGS)
@example({"CODEX_OSS_PORT": "9" * 5000}, Flags())
@example({"LMPREP_CONFIG": "a\x00b"}, Flags())
@example({}, Flags(connect_timeout=math.inf))
@example({}, Flags(timeout=1e300))
@example({"OLLAMA_HOST": "xn--"}, Flags())
@example({"LMPREP_CONFIG": "~nosuchuser0/config.toml"}, Flags())  # pathlib raises RuntimeError for it
def test_environment_and_flags_resolve_or_are_not_configured(monkeypatch, scratch, env, flags):
    monkeypatch.chdir(scratch)  # a relative LMPREP_CONFIG stays inside the scratch dir
    resolved = resolve(flags, env)
    if isinstance(resolved, Settings):
        check_settings(resolved)
    else:
        assert SECRET not in str(resolved)


# -- config files ---------------------------------------------------------------------------


def check_file_error(error: NotConfiguredError, path: Path, text_lines: int) -> tuple[int, int] | None:
    assert str(path) in error.message, error.message
    position = INVALID_AT.search(error.message)
    if position is None:
        return None
    line, column = int(position.group(1)), int(position.group(2))
    assert 1 <= line <= text_lines + 1 and column >= 1, error.message
    return line, column


def write(scratch: Path, data: bytes) -> Path:
    path = scratch / "config.toml"
    path.write_bytes(data)
    return path


TOMLISH_PIECES = st.sampled_from([
    "[providers.lmstudio]", "[providers.x]", "[providers]", "[[providers]]", "[providers.a.b]", "[warm_up]",
    "oss_provider = ", "warm_up = ", "offline = ", "timeout = ", "connect_timeout = ", "stall_timeout = ",
    "kind = ", "base_url = ", "model = ", "api_key_env = ", "lms_path = ", "providers = ",
    '"lmstudio"', '"ollama"', '"http://h/v1"', "'x'", '"""', "'''", "true", "1", "-1", "0", "nan", "inf", "1e400",
    "1" * 5000, "[" * 2000, "{a = " * 600, "1979-05-27", "1979-02-30", "{", "}", "[", "]", ",", "=", ".", "#",
    '"\\u0000"', '"\\ud800"', "\\", "\x00", "\r", "\t", "\ufeff", "\n", "\n", "\n", " ",
])
TOMLISH_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(TOMLISH_PIECES, st.text(max_size=5)), max_size=40).map("".join),
)


@FUZZ
@given(TOMLISH_TEXT)
@example("a = " + "[" * 2000)  # deeper than Python's recursion limit
@example("a = " + "1" * 5000)  # more digits than int() takes
@example("timeout = inf")
@example("stall_timeout = 1e300")
@example("[providers.lmstudio]\nbase_url = \"http://xn--/v1\"")
def test_config_text_resolves_or_names_file_line_and_column(scratch, text):
    path = write(scratch, text.encode("utf-8", "surrogatepass"))
    resolved = resolve(Flags(config_path=str(path)), {})
    if isinstance(resolved, Settings):
        check_settings(resolved)
    else:
        check_file_error(resolved, path, text.count("\n") + text.count("\r"))


@FUZZ
@given(st.binary(max_size=200))
@example(b"a = 1\n\xff\xfe")
@example("\ufeffa = 1".encode())
def test_config_bytes_resolve_or_name_file_line_and_column(scratch, data):
    path = write(scratch, data)
    resolved = resolve(Flags(config_path=str(path)), {})
    if isinstance(resolved, Settings):
        check_settings(resolved)
    else:
        check_file_error(resolved, path, data.count(b"\n") + data.count(b"\r"))


# A small TOML writer, so that most generated files parse and reach the type checks.
BARE_KEYS = st.from_regex(r"[A-Za-z0-9_-]{1,10}", fullmatch=True)


def toml_string(text: str) -> str:
    escaped = "".join(
        c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}"
        for c in text
        if not 0xD800 <= ord(c) <= 0xDFFF
    )
    return f'"{escaped}"'


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


SCALARS = st.one_of(
    st.text(max_size=15).map(toml_string),
    st.integers().map(str),
    st.floats().map(lambda f: repr(f) if math.isfinite(f) else ("nan" if math.isnan(f) else ("inf" if f > 0 else "-inf"))),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.sampled_from(["1979-05-27T07:32:00Z", "07:32:00", "1e300", "0.0", "-0.0", "+5", "0x10"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda items: "[" + ", ".join(items) + "]"),
        st.dictionaries(BARE_KEYS, inner, max_size=3).map(
            lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"
        ),
    ),
    max_leaves=6,
)
TOP_KEYS = st.one_of(
    st.sampled_from(["oss_provider", "warm_up", "offline", "connect_timeout", "timeout", "stall_timeout", "providers"]),
    BARE_KEYS,
)
TOP_VALUES = {
    "oss_provider": st.one_of(PROVIDER_NAMES.map(toml_string), VALUES),
    "warm_up": st.one_of(st.sampled_from(['"background"', '"wait"', '"off"', '"on"']), VALUES),
    "offline": st.one_of(st.sampled_from(["true", "false", '"yes"']), VALUES),
}
PROVIDER_KEYS = st.one_of(st.sampled_from(["kind", "base_url", "model", "lms_path", "api_key_env"]), BARE_KEYS)
PROVIDER_VALUES = {
    "kind": st.one_of(st.sampled_from([*KINDS, "LMSTUDIO", "other"]).map(toml_string), VALUES),
    "base_url": st.one_of(URL_VALUES.map(toml_string), VALUES),
    "model": st.one_of(st.sampled_from(["llama3", " ", "-x", "a/b"]).map(toml_string), VALUES),
    "api_key_env": st.one_of(st.sampled_from(["MY_TOKEN", "1BAD", "A-B", ""]).map(toml_string), VALUES),
}
TABLE_NAMES = st.one_of(st.sampled_from([*KINDS, "custom", "my.box", "a b"]), BARE_KEYS)


@st.composite
def toml_documents(draw) -> str:
    lines = []
    for key in draw(st.lists(TOP_KEYS, max_size=4, unique=True)):
        value = draw(TOP_VALUES.get(key, VALUES) if key not in ("timeout", "connect_timeout", "stall_timeout")
                     else st.one_of(st.sampled_from(["5", "0", "-1", "1.5", "inf", "nan", "1e300", '"5"']), VALUES))
        lines.append(f"{key} = {value}")
    for name in draw(st.lists(TABLE_NAMES, max_size=3, unique=True)):
        lines.append(f"\n[providers.{toml_key(name)}]")
        for key in draw(st.lists(PROVIDER_KEYS, max_size=4, unique=True)):
            lines.append(f"{key} = {draw(PROVIDER_VALUES.get(key, VALUES))}")
    return "\n".join(lines) + "\n"


@FUZZ
@given(toml_documents(), st.one_of(st.none(), st.sampled_from([*KINDS, "custom"])))
@example('providers = 1\n', None)
@example('[providers.custom]\nmodel = "x"\n', "custom")
@example('[providers.lmstudio]\nkind = "ollama"\n', None)
@example('timeout = inf\n', None)
@example('[providers.x]\nkind = "openai"\napi_key_env = "1BAD"\n', None)
@example('a = "\u2028"\ntimeout = -1\n', None)  # a string holding characters splitlines() breaks on
@example('oss_provider = "lmstudio"\nproviders = {1 = ""}\n', None)  # a table written inline
def test_config_documents_resolve_or_point_at_the_bad_key(scratch, document, provider):
    path = write(scratch, document.encode())
    resolved = resolve(Flags(config_path=str(path), provider=provider), {"LM_API_TOKEN": SECRET})
    if isinstance(resolved, Settings):
        check_settings(resolved)
        return
    position = check_file_error(resolved, path, document.count("\n")) if str(path) in resolved.message else None
    if str(path) not in resolved.message:
        # Not about the file: an unknown --local-provider, a bad built-in default... none expected here.
        assert "Unknown provider" in resolved.message and provider is not None
        return
    wrong = re.search(r"`([^`]+)` must be ", resolved.message)
    if position and wrong:
        # The line named holds the offending key (or the header of the table it is in).
        key = wrong.group(1).rsplit(".", 1)[-1]
        line = document.split("\n")[position[0] - 1]
        assert key in line or line.lstrip().startswith("["), (resolved.message, document)


# -- where `lms` is: LMPREP_LMS / lms_path, and LM Studio's home pointer file -----------------

PATHS = st.one_of(
    st.sampled_from(["~", "~/x", "~nosuchuser0/lms", "~nosuchuser0", "/", "", ".", "a\x00b", "x" * 5000, "/dev/null"]),
    st.text(max_size=20),
)


@FUZZ
@given(PATHS, st.one_of(st.none(), PATHS))
@example("~nosuchuser0/bin/lms", "~nosuchuser0")
def test_finding_lms_is_a_path_or_download_failed(scratch, configured, pointer):
    home = scratch / "lms-home"
    home.mkdir(exist_ok=True)
    (home / ".lmstudio-home-pointer").unlink(missing_ok=True)
    if pointer is not None:
        (home / ".lmstudio-home-pointer").write_text(pointer, encoding="utf-8", errors="surrogatepass")
    assert all(isinstance(path, Path) for path in lmstudio_homes(home))
    for source in (Sourced(configured, "LMPREP_LMS"), None):
        try:
            found = find_lms(source, environ={"PATH": "", "HOME": str(home)}, home=home)
        except DownloadFailedError as exc:
            assert exc.exit_code == ExitCode.DOWNLOAD_FAILED and exc.hint
        else:
            assert isinstance(found, Path)

"""What lmprep relies on of Ollama, as checked against Ollama v0.33.0-rc2 built from source:
OLLAMA_KEEP_ALIVE and a request's keep_alive as it reads them, "for ever" in /api/ps, a quantised
KV cache that cannot load, and `lmprep status` showing each model's own last warm-up. Against the
Ollama emulator (which answers as that server did) and the fake `ollama serve` lmprep starts."""

from __future__ import annotations

import random
import socket
import time

import pytest

from e2e import run_lmprep
from emulators.ollama import go_parse_duration, keep_alive_variable_seconds, request_keep_alive_seconds
from lmprep.config import FOREVER, parse_keep_alive
from lmprep.fit import Shape, head_size_problem, ollama_cache_problem, ollama_cache_type, ways_out
from lmprep.providers.ollama import go_duration, keep_alive_variable, ollama_duration, parse_go_duration
from lmprep.session import hand_back_keep_alive

# -- OLLAMA_KEEP_ALIVE ----------------------------------------------------------------------------------

#: What `ollama serve` v0.33.0-rc2 showed in its "server config" log line for each value (seconds;
#: FOREVER: 2562047h47m16.854775807s, Go's longest duration). 34 values were checked; these are most.
AS_OLLAMA_READ_IT = [
    ("300", 300.0), ("5m", 300.0), ("-1", FOREVER), ("24h", 86400.0), ("0", 0.0), ("2d", 300.0), ("1.5", 300.0),
    ("1h30m", 5400.0), ("-5m", FOREVER), ("1.5h", 5400.0), (".5s", 0.5), ("5.s", 5.0), (".s", 300.0),
    ("'10m'", 600.0), (' "10m" ', 600.0), ("5M", 300.0), ("1ms", 0.001), ("100\u00b5s", 0.0001),
    ("100\u03bcs", 0.0001), ("9223372036854775808ns", 300.0), ("10000000000", FOREVER), ("+5m", 300.0),
    ("-0", 0.0), ("0s", 0.0), ("1h 30m", 300.0), ("0005", 5.0), ("+300", 300.0), ("-300", FOREVER),
    ("1e3s", 300.0), ("0x10", 300.0), ("10_0", 300.0), ("5m0.5s", 300.5), ("", 300.0), (None, 300.0),
]


@pytest.mark.parametrize("value, seconds", AS_OLLAMA_READ_IT)
def test_ollama_keep_alive_is_read_as_ollama_reads_it(value, seconds):
    assert keep_alive_variable(value) == pytest.approx(seconds)


def test_the_longest_go_duration_is_read_and_one_nanosecond_more_is_not():
    assert parse_go_duration("2562047h47m16.854775807s") == (1 << 63) - 1
    assert parse_go_duration("2562047h47m16.854775808s") is None
    assert parse_go_duration("-2562047h47m16.854775808s") == -(1 << 63)
    assert parse_go_duration("1" * 5000 + "s") is None  # no int() of thousands of digits either
    assert keep_alive_variable("9" * 5000) == 300.0
    assert go_parse_duration("2562047h47m16.854775807s") == (1 << 63) - 1  # the emulator's port agrees
    with pytest.raises(ValueError, match='time: invalid duration "2562047h47m16.854775808s"'):
        go_parse_duration("2562047h47m16.854775808s")


def test_lmpreps_reading_and_the_emulators_go_port_agree():
    """lmprep's regular expression against the emulator's character-by-character port of Go's
    time.ParseDuration and envconfig.KeepAlive, on the checked values and on random ones."""
    alphabet = "0123456789.+-hmsnuµμd '\"x"
    rng = random.Random(19)
    values = [v for v, _ in AS_OLLAMA_READ_IT if v is not None]
    values += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
    for value in values:
        emulated = keep_alive_variable_seconds(value)
        expected = 300.0 if emulated is None else FOREVER if emulated == float("inf") else emulated
        assert keep_alive_variable(value) == pytest.approx(expected, abs=1e-9), value


@pytest.mark.parametrize("given, variable, handed_back", [
    (None, "1.5h", 5400.0),  # Go decimals with a unit: lmprep read 1.5 hours too, but...
    (None, "2d", 300.0),  # ...lmprep's own `d` is not Ollama's: it keeps its 5 minutes
    (None, "1.5", 300.0),  # no decimal seconds without a unit
    (None, "300", 300.0),
    (None, "-5m", None),  # any negative duration is for ever: nothing held, nothing handed back
    (None, "0ms", 0.0),  # unload when idle, however it is written
    (None, "2562047h", None),  # ~292 years: for ever too
    (None, "500ms", 0.5),
    (7200.0, "2d", 7200.0),  # --keep-alive 2h wins
])
def test_what_is_handed_back_follows_ollamas_reading(given, variable, handed_back):
    assert hand_back_keep_alive(given, {"OLLAMA_KEEP_ALIVE": variable}) == handed_back


@pytest.mark.parametrize("flag", ["30m", "2h", "1h30m", "90s", "2d", "1.5", "0.25", "-1", -30, 600, 1e9])
def test_what_lmprep_sends_ollama_is_a_form_it_reads(flag):
    """lmprep's own --keep-alive syntax stays (2d, 1.5 s); what goes to Ollama is a JSON number
    in a request (a string "-1" is HTTP 400) and a Go duration or whole seconds in OLLAMA_KEEP_ALIVE."""
    seconds = parse_keep_alive(flag)
    sent = ollama_duration(seconds)
    assert isinstance(sent, (int, float)) and not isinstance(sent, bool)
    assert request_keep_alive_seconds(sent) == (float("inf") if seconds == FOREVER else pytest.approx(seconds))
    variable = go_duration(seconds)
    assert "d" not in variable
    read = keep_alive_variable_seconds(variable)
    assert read == (float("inf") if seconds == FOREVER else pytest.approx(seconds, rel=1e-3))


# -- a request's keep_alive, and "for ever" in /api/ps ---------------------------------------------

MODEL = "tiny"


def generate(emulator, keep_alive):
    from realserver.server import http_request

    return http_request("POST", emulator.origin + "/api/generate", {"model": MODEL, "keep_alive": keep_alive})


@pytest.mark.parametrize("keep_alive, status, error", [
    ("-1", 400, 'time: missing unit in duration "-1"'),
    ("2d", 400, 'time: unknown unit "d" in duration "2d"'),
    (True, 400, "Unsupported type: 'bool'"),
    (-1, 200, None), (600, 200, None), ("10m", 200, None), ("3600s", 200, None), (1.5, 200, None),
])
def test_the_emulator_reads_a_requests_keep_alive_as_ollama_does(ollama_emulator, keep_alive, status, error):
    ollama_emulator.models = {MODEL: 4_000_000}
    response = generate(ollama_emulator, keep_alive)
    assert response.status == status
    assert response.json().get("error") == error


def test_for_ever_is_now_plus_gos_longest_duration_and_lmprep_sees_it(ollama_emulator):
    from lmprep.config import ProviderSettings, Sourced
    from lmprep.providers import open_provider

    ollama_emulator.models = {MODEL: 4_000_000}
    settings = ProviderSettings("ollama", "ollama", Sourced(ollama_emulator.base_url, "test"), None, None, None)
    with open_provider(settings) as ollama:
        ollama.warm_up(MODEL, 10, keep_alive=FOREVER)
        from realserver.server import http_request

        expires = http_request("GET", ollama_emulator.origin + "/api/ps").json()["models"][0]["expires_at"]
        # 2^63 - 1 ns = 106,751.99 days: 2026-12-02 + that is 2319-03-14, as the real server said.
        assert int(expires[:4]) == time.gmtime(time.time() + 9223372036.854775807).tm_year > time.gmtime().tm_year + 290
        assert ollama.kept_for_ever(MODEL)
        ollama.warm_up(MODEL, 10, keep_alive=3600)
        assert not ollama.kept_for_ever(MODEL)
        ollama.warm_up(MODEL, 10)  # no keep_alive: the model keeps the one it has
        assert not ollama.kept_for_ever(MODEL)
        assert [r.body_object().get("keep_alive") for r in ollama_emulator.requests_to("POST", "/api/generate")] \
            == [-1, 3600, None]


@pytest.mark.parametrize("expires, forever", [
    ("2319-03-14T06:17:19.855785104Z", True), ("+2319-03-14T06:17:19Z", True), ("2026-12-02T06:35:00Z", False),
    ("not a time", False), (None, False), (2319, False),
])
def test_for_ever_detection(expires, forever):
    from lmprep.providers.ollama import Ollama

    class Shown(Ollama):
        def __init__(self):
            self._expires = {}

        def loaded_models(self, listing):
            self._expires = {"registry.ollama.ai/library/tiny:latest": expires}

    assert Shown().kept_for_ever(MODEL) is forever


# -- a quantised KV cache that cannot load ---------------------------------------------------------

HEAD_16 = Shape(2, (2, 2), 16, 16, 500_000)
HEAD_32 = Shape(2, (2, 2), 32, 32, 500_000)


@pytest.mark.parametrize("environ, problem", [
    ({"OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "0"}, "needs flash attention"),
    ({"OLLAMA_KV_CACHE_TYPE": "Q4_0", "OLLAMA_FLASH_ATTENTION": "false"}, "needs flash attention"),
    ({"OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "off"}, None),  # not ParseBool's: Go reads it as on
    ({"OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "1"}, None),
    ({"OLLAMA_KV_CACHE_TYPE": "q8_0"}, None),  # Ollama passes --flash-attn auto, which turns it on
    ({"OLLAMA_KV_CACHE_TYPE": "f16", "OLLAMA_FLASH_ATTENTION": "0"}, None),
    ({"OLLAMA_FLASH_ATTENTION": "0"}, None),
])
def test_what_fails_to_load_whatever_the_window(environ, problem):
    found = ollama_cache_problem(HEAD_32, environ)
    assert (found and found[0]) == problem or problem in found[0]
    if problem:
        assert found[1].startswith(f"Unset OLLAMA_FLASH_ATTENTION={environ['OLLAMA_FLASH_ATTENTION']}")


def test_a_head_size_the_blocks_do_not_divide():
    assert head_size_problem(HEAD_32) is None
    assert head_size_problem(HEAD_16) == ("its attention heads' key length (16) is not a multiple of 32, which a "
                                          "q8_0 cache needs")
    assert head_size_problem(HEAD_16, "f16", "f16") is None
    what, fix = ollama_cache_problem(HEAD_16, {"OLLAMA_KV_CACHE_TYPE": "q8_0"})
    assert what.startswith("OLLAMA_KV_CACHE_TYPE=q8_0 cannot hold this model's cache: its attention heads' key length")
    assert fix == "Unset OLLAMA_KV_CACHE_TYPE (or set it to f16)"
    assert ollama_cache_type({"OLLAMA_KV_CACHE_TYPE": "Q5_1"}) == "q5_1"  # Ollama hands any type on, lower-cased


def test_the_ways_out_offer_q8_0_only_where_it_loads():
    from lmprep.fit import Memory, ModelFacts, estimate

    memory = Memory(10e6, 10e6, "on the NVIDIA GPU", True)
    for shape, offered in ((HEAD_32, True), (HEAD_16, False)):
        fit = estimate(ModelFacts(shape), MODEL, 65536, memory)
        text = ways_out("ollama", fit)
        assert ("`OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve`" in text) is offered
        assert ("A quantised KV cache is none for this model" in text) is not offered
    unknown = ways_out("ollama", None)  # the shape not known: the condition is said
    assert "`OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve` (for a model whose attention head " \
           "size is a multiple of 32)" in unknown


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_ollama_lmprep_starts_with_flash_attention_off_is_refused_before_the_load(fake_programs, tmp_path):
    fake_programs.install("ollama", ollama={"models": {"gpt-oss:20b": 1}})
    port = free_port()
    env = {"PATH": fake_programs.path_env(), "OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "0"}
    result = run_lmprep("--json", "-p", "ollama", "--base-url", f"http://127.0.0.1:{port}/v1", "-m", "gpt-oss:20b",
                        "--warm-up", "wait", env=env, timeout=120)
    assert result.returncode == 9, result.stderr
    assert result.json["error"]["message"] == ("Ollama cannot load gpt-oss:20b: OLLAMA_KV_CACHE_TYPE=q8_0 needs flash "
                                               "attention, and OLLAMA_FLASH_ATTENTION=0 turns it off.")
    assert result.json["error"]["hint"].startswith("Unset OLLAMA_FLASH_ATTENTION=0 (or set it to 1)")
    assert result.json["warm_up"]["status"] == "not_started"  # refused before any load...
    [call] = fake_programs.invocations("ollama")
    assert call["env"]["OLLAMA_FLASH_ATTENTION"] == "0"
    status = run_lmprep("status", "--json", "-p", "ollama", "--base-url", f"http://127.0.0.1:{port}/v1", "-m",
                        "gpt-oss:20b", env=env, timeout=60)
    [row] = [row for row in status.json["providers"] if row["name"] == "ollama"]
    assert row["last_warm_up"] is None and row["model_loaded"] is False  # ...so no failed warm-up is recorded


def test_a_server_lmprep_did_not_start_is_not_judged_by_this_environment(ollama_emulator):
    """Its environment is not lmprep's: the load is sent, and the server's own answer is the error."""
    ollama_emulator.models = {MODEL: 4_000_000}
    ollama_emulator.kv_cache_type, ollama_emulator.flash_attention_off = "q8_0", True
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", MODEL, "--warm-up", "wait",
                        env={"OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_FLASH_ATTENTION": "0"})
    assert result.returncode == 9, result.stderr
    assert "quantized V cache requires flash_attn to be enabled" in result.stderr  # HTTP 500, as the real one
    assert len(ollama_emulator.requests_to("POST", "/api/generate")) >= 1


# -- lmprep status: each row's own last warm-up --------------------------------------------------

def test_a_refusal_after_the_load_is_shown_only_on_its_own_models_row(ollama_emulator):
    """`lmprep -m tiny32 --for codex` on an Ollama that gives its 4,096-token default: the load
    works, the window is refused (exit 11), and that is tiny32's failed warm-up, not the default model's."""
    ollama_emulator.models = {"tiny32": 4_000_000, "gpt-oss:20b": 4_000_000}
    ollama_emulator.max_context = {"tiny32": 131072}
    base = ["--base-url", ollama_emulator.base_url]
    refused = run_lmprep("--json", "-p", "ollama", *base, "-m", "tiny32", "--for", "codex")
    assert refused.returncode == 11, refused.stderr
    assert refused.json["warm_up"]["status"] == "error"  # a load was sent: not "not_started"
    assert refused.json["warm_up"]["seconds"] is not None
    ollama_emulator.loaded = {}
    default = run_lmprep("status", "--json", "-p", "ollama", *base, "-m", "gpt-oss:20b")
    [row] = [row for row in default.json["providers"] if row["name"] == "ollama"]
    assert row["model"] == "gpt-oss:20b" and row["last_warm_up"] is None and row["state"] == "ready"
    text = run_lmprep("status", "-p", "ollama", *base, "-m", "gpt-oss:20b")
    assert "failed" not in text.stdout + text.stderr and "error" not in text.stdout + text.stderr
    own = run_lmprep("status", "--json", "-p", "ollama", *base, "-m", "TINY32:latest")  # Ollama's own name rule
    [row] = [row for row in own.json["providers"] if row["name"] == "ollama"]
    assert row["last_warm_up"]["model"] == "tiny32" and row["last_warm_up"]["status"] == "error"
    assert row["state"] == "warmup_failed"

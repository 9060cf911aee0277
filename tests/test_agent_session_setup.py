"""What lmprep sets for an agent's session beyond pointing it at the server: the agent's own
offline switches (update checks, telemetry, model catalogues), which the user's own variables
and LMPREP_AGENT_ONLINE=1 turn off; Claude Code's cache switch; and the agent's timeouts,
raised from the first turn `lmprep bench` measured, never below the agent's own defaults, with
a warning where the first turn exceeds a limit the agent cannot raise."""

from __future__ import annotations

import json
import os

import pytest

from e2e import run_lmprep
from lmprep.agents import AGENTS, TIMEOUT_HEADROOM, agent_module, agent_setup

LLAMA = dict(provider="box", kind="llamacpp", base_url="http://127.0.0.1:8080/v1", model="tiny")
LMS = dict(provider="lmstudio", kind="lmstudio", base_url="http://127.0.0.1:1234/v1", model="m")


def setup(agent, target=LLAMA, environ=None, **extra):
    return agent_setup(agent, **target, environ=environ or {}, **extra)


@pytest.mark.parametrize("agent", [a for a in AGENTS if getattr(agent_module(a), "OFFLINE", None)])
def test_each_agents_offline_switches_are_set_and_the_users_own_win(agent):
    offline = agent_module(agent).OFFLINE
    assert offline.items() <= setup(agent).variables.items()
    name = next(iter(offline))
    mine = setup(agent, environ={name: "mine"}).variables
    assert name not in mine  # the user's value stays: exec keeps the environment, env prints no other
    online = setup(agent, environ={"LMPREP_AGENT_ONLINE": "1"}).variables
    assert not set(offline) & set(online)


def test_codex_gets_its_offline_config_overrides_unless_online():
    args = setup("codex").args
    for option in ('otel.metrics_exporter="none"', "features.plugins=false"):
        assert option in args
    assert args[-2:] == ["-m", "tiny"]  # the model stays last, as before
    assert "features.plugins=false" not in setup("codex", environ={"LMPREP_AGENT_ONLINE": "1"}).args


def test_claude_keeps_its_attribution_header_off_unless_the_user_set_it():
    assert setup("claude").variables["CLAUDE_CODE_ATTRIBUTION_HEADER"] == "0"
    assert "CLAUDE_CODE_ATTRIBUTION_HEADER" not in setup("claude", environ={"CLAUDE_CODE_ATTRIBUTION_HEADER": "1"}
                                                         ).variables


def test_no_timeout_is_set_without_a_measured_first_turn_or_below_the_agents_default():
    for agent in AGENTS:
        for first_turn_s in (None, 10.0):  # 3 x 10 s is far below every default
            result = setup(agent, first_turn_s=first_turn_s)
            assert not [name for name in result.variables if "TIMEOUT" in name or "LIFETIME" in name], agent
            assert not [arg for arg in result.args if "timeout" in arg], agent
            assert "Timeout" not in result.variables.get("OPENCODE_CONFIG_CONTENT", ""), agent


def test_a_slow_first_turn_raises_each_agents_timeouts_with_headroom():
    first_turn_s = 400.0
    wanted = int(first_turn_s * TIMEOUT_HEADROOM * 1000)
    claude = setup("claude", first_turn_s=first_turn_s).variables
    assert claude["API_TIMEOUT_MS"] == claude["CLAUDE_STREAM_IDLE_TIMEOUT_MS"] == str(wanted)
    assert f"-c model_providers.lmprep.stream_idle_timeout_ms={wanted}" in " ".join(
        setup("codex", first_turn_s=first_turn_s).args)
    options = json.loads(setup("opencode", first_turn_s=first_turn_s).variables["OPENCODE_CONFIG_CONTENT"]
                         )["provider"]["lmprep"]["options"]
    assert options["headerTimeout"] == options["chunkTimeout"] == wanted
    assert setup("aider", first_turn_s=first_turn_s).variables["AIDER_TIMEOUT"] == str(wanted // 1000)
    qwen = setup("qwen", first_turn_s=first_turn_s).variables
    assert qwen["QWEN_CODE_API_TIMEOUT_MS"] == qwen["QWEN_STREAM_IDLE_TIMEOUT_MS"] == qwen[
        "QWEN_STREAM_MAX_LIFETIME_MS"] == str(wanted)
    # A value of the user's own wins.
    assert "API_TIMEOUT_MS" not in setup("claude", environ={"API_TIMEOUT_MS": "1"}, first_turn_s=first_turn_s
                                         ).variables


def test_a_first_turn_beyond_what_the_agent_can_wait_is_a_note_with_the_way_out():
    claude = setup("claude", first_turn_s=2400.0)
    assert claude.variables["CLAUDE_STREAM_IDLE_TIMEOUT_MS"] == "1800000"  # its most
    [note] = claude.notes
    assert "2,400 s" in note and "1,800 s" in note and "smaller window" in note
    assert setup("claude", first_turn_s=1000.0).notes == []
    # Codex's --oss providers keep their 300 s stream idle limit: a custom provider has none.
    [oss] = setup("codex", LMS, first_turn_s=400.0).notes
    assert "300 s" in oss and "smaller model" in oss
    assert setup("codex", first_turn_s=400.0).notes == []


def test_copilot_and_droid_get_their_request_timeouts_raised_from_the_first_turn():
    first_turn_s = 400.0
    wanted = int(first_turn_s * TIMEOUT_HEADROOM * 1000)
    assert setup("copilot", first_turn_s=first_turn_s).variables["COPILOT_NATIVE_HTTP_TIMEOUT_MS"] == str(wanted)
    assert "COPILOT_NATIVE_HTTP_TIMEOUT_MS" not in setup("copilot", first_turn_s=100.0).variables  # 600 s is enough
    assert "COPILOT_NATIVE_HTTP_TIMEOUT_MS" not in setup(
        "copilot", environ={"COPILOT_NATIVE_HTTP_TIMEOUT_MS": "1"}, first_turn_s=first_turn_s).variables

    def droid_settings(**extra):
        return json.loads(setup("droid", **extra).files["--settings"][1])

    assert droid_settings(first_turn_s=first_turn_s)["llmRequestTimeout"] == wanted
    assert "llmRequestTimeout" not in droid_settings(first_turn_s=100.0)
    assert "llmRequestTimeout" not in droid_settings()


def test_pi_whose_timeout_lmprep_cannot_set_is_warned_with_its_setting():
    [note] = setup("pi", first_turn_s=700.0).notes
    assert "700 s" in note and "600 s" in note and "retry.provider.timeoutMs" in note and "smaller window" in note
    assert setup("pi", first_turn_s=500.0).notes == []
    assert not [name for name in setup("pi", first_turn_s=700.0).variables if "TIMEOUT" in name]


@pytest.mark.e2e
def test_exec_and_for_use_the_first_turn_bench_kept(llamacpp_emulator, tmp_path, isolated_home):
    bench = run_lmprep("bench", "--for", "claude", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url)
    assert bench.returncode == 0, bench.stderr
    [kept] = (isolated_home / ".local" / "state" / "lmprep" / "bench").glob("*.json")
    record = json.loads(kept.read_text())
    # As if the server prefilled 10 tokens a second: Claude Code's first turn beyond its 30 minutes.
    record.update(prefill_tps=10.0, first_turn_s=2500.0)
    kept.write_text(json.dumps(record))
    program = tmp_path / "show-env"
    program.write_text(f"#!{os.sys.executable}\nimport json, os\nprint(json.dumps(dict(os.environ)))\n")
    program.chmod(0o755)
    ran = run_lmprep("exec", "--for", "claude", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url,
                     "--", str(program))
    assert ran.returncode == 0, ran.stderr
    env = json.loads(ran.stdout)
    assert env["CLAUDE_STREAM_IDLE_TIMEOUT_MS"] == "1800000" and env["API_TIMEOUT_MS"] == "7500000"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "note: Claude Code's first turn is projected at 2,500 s" in ran.stderr
    ready = run_lmprep("--for", "claude", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url)
    assert ready.returncode == 0
    assert "warning: Claude Code's first turn is projected at 2,500 s" in ready.stderr
    # Another agent's projection comes from the measured prefill speed and its own prompt size.
    codex = run_lmprep("env", "--for", "codex", "-p", "llamacpp", "--base-url", llamacpp_emulator.base_url)
    wanted = int(agent_module("codex").FIRST_REQUEST.tokens / 10.0 * TIMEOUT_HEADROOM * 1000)
    assert f"stream_idle_timeout_ms={wanted}" in codex.stderr

"""Several boxes: `lmprep --for AGENT -p box1,box2` uses the first one ready for the agent."""

from __future__ import annotations

import socket
import time

import pytest

from e2e import run_lmprep
from emulators.llamacpp import LlamaServerEmulator

pytestmark = pytest.mark.e2e
#: The built-in providers `lmprep status` shows besides the configured boxes: pointed at closed
#: ports here, so that a server another test (or the machine) runs on a default port cannot answer.
BUILT_IN = ("lmstudio", "ollama", "llamacpp", "vllm", "lemonade", "dmr", "litellm", "llamaswap")


class SlowBox(LlamaServerEmulator):
    """A box whose model listing (the request `status` sends first) answers after ``delay`` seconds."""

    def __init__(self, delay: float, **options) -> None:
        super().__init__(**options)
        self.delay = delay

    def _models(self, request):
        self.pause(self.delay)
        return super()._models(request)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status_config(tmp_path, **boxes: str):
    path = _config(tmp_path, **boxes)
    path.write_text(path.read_text() + "".join(f'[providers.{name}]\nbase_url = "http://127.0.0.1:{_closed_port()}/v1"\n'
                                               for name in BUILT_IN))
    return path


def _config(tmp_path, **boxes: str):
    path = tmp_path / "config.toml"
    path.write_text("".join(f'[providers.{name}]\nkind = "llamacpp"\nbase_url = "{url}"\n'
                            for name, url in boxes.items()))
    return path


def test_the_first_box_ready_for_the_agent_is_used_and_the_others_are_explained(tmp_path):
    with LlamaServerEmulator(context=4096, n_ctx_train=4096) as small, \
            LlamaServerEmulator(context=131072, n_ctx_train=131072) as big:
        config = _config(tmp_path, down="http://127.0.0.1:9/v1", small=small.base_url, big=big.base_url)
        chosen = run_lmprep("--for", "codex", "-p", "down,small,big", "--config", str(config), "--json",
                            env={"HOME": str(tmp_path)})
        assert (chosen.json["provider"], chosen.json["base_url"], chosen.json["context_length"]) == \
            ("big", big.base_url, 131072)
        down, passed_small = chosen.json["passed_over"]
        assert down == {"provider": "down", "base_url": "http://127.0.0.1:9/v1", "state": "unreachable", "exit_code": 4,
                        "reason": down["reason"]}
        assert down["reason"].startswith("down (llama.cpp server) is not responding at http://127.0.0.1:9/v1")
        assert (passed_small["provider"], passed_small["base_url"], passed_small["state"], passed_small["exit_code"]) \
            == ("small", small.base_url, "context_too_small", 11)
        assert "'tiny' supports at most 4096 tokens of context" in passed_small["reason"]
        result = run_lmprep("--for", "codex", "-p", "down,small,big", "--config", str(config),
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert f"Ready for Codex: tiny on big at {big.base_url}" in result.stderr
        assert "warning: Passed over down: down (llama.cpp server) is not responding at http://127.0.0.1:9/v1" \
            in result.stderr
        assert "Using big, the first box ready; passed over down: " in result.stderr
        assert "small: " in result.stderr and "'tiny' supports at most 4096 tokens of context, fewer than the 65536" in result.stderr
        assert "(exit 4); small:" in result.stderr and "(exit 11)" in result.stderr
        for box in chosen.json["passed_over"]:  # the text says what the JSON says
            assert f"warning: Passed over {box['provider']}: {box['reason']}" in result.stderr
            assert f"{box['provider']}: {box['reason'].rstrip('.')} (exit {box['exit_code']})" in result.stderr
        single = run_lmprep("--for", "codex", "-p", "big", "--config", str(config), "--json", env={"HOME": str(tmp_path)})
        assert single.json["passed_over"] == []


def test_no_box_ready_is_the_last_boxes_error_with_the_others_reasons(tmp_path):
    with LlamaServerEmulator(context=4096, n_ctx_train=4096) as small:
        config = _config(tmp_path, down="http://127.0.0.1:9/v1", small=small.base_url)
        result = run_lmprep("--for", "codex", "-p", "down, small", "--config", str(config),
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 11
        assert "Error: No box was ready (down: down (llama.cpp server) is not responding" in result.stderr
        assert "small: 'tiny' supports at most 4096 tokens of context" in result.stderr
        as_json = run_lmprep("--for", "codex", "-p", "down, small", "--config", str(config), "--json",
                             env={"HOME": str(tmp_path)})
        assert (as_json.returncode, as_json.json["state"], as_json.json["provider"]) == (11, "context_too_small", "small")
        assert [box["provider"] for box in as_json.json["passed_over"]] == ["down"]  # the last box is the error
        assert as_json.json["error"]["message"].startswith("No box was ready (down: down (llama.cpp server)")
        unknown = run_lmprep("-p", "down,smal", "--config", str(config), env={"HOME": str(tmp_path)})
        assert unknown.returncode == 3
        assert "Unknown provider 'smal' (from --local-provider)." in unknown.stderr


def test_status_asks_every_box_at_once_within_one_deadline(tmp_path):
    """Five boxes that each take 1 s to answer take about 1 s in all, not 5."""
    boxes = [SlowBox(1.0, context=65536, n_ctx_train=65536) for _ in range(5)]
    for box in boxes:
        box.start()
    try:
        config = _status_config(tmp_path, **{f"box{i}": box.base_url for i, box in enumerate(boxes)})
        begun = time.monotonic()
        result = run_lmprep("status", "-p", "box0", "--json", "--config", str(config), env={"HOME": str(tmp_path)})
        elapsed = time.monotonic() - begun
        assert result.returncode == 0, result.stderr
        rows = {row["name"]: row for row in result.json["providers"]}
        for i in range(5):
            row = rows[f"box{i}"]
            assert (row["state"], row["running"]) == ("ready", True)
            assert row["rtt_ms"] >= 1000  # the listing's round trip, the box's second included
            assert row["models"] == [{"id": "tiny", "loaded": True, "context_length": 65536, "cpu_percent": None}]
        assert elapsed < 3.5, f"{elapsed:.2f} s for five boxes of 1 s each: not asked at once"  # one after another: >= 5 s
        text = run_lmprep("status", "-p", "box0", "--config", str(config), env={"HOME": str(tmp_path)})
        line = next(line for line in text.stdout.splitlines() if line.split()[:2] == ["*", "box0"])
        assert line.split()[2:5] == ["ready", line.split()[3], "ms"] and int(line.split()[3]) >= 1000
        assert "box3 models: tiny (loaded, context 65536)" in text.stdout
    finally:
        for box in boxes:
            box.stop()


def test_a_box_that_never_answers_is_timed_out_at_the_deadline_and_the_others_are_shown(tmp_path):
    with LlamaServerEmulator(context=65536, n_ctx_train=65536) as good, LlamaServerEmulator() as stuck:
        stuck.hang = True  # accepts the connection, never answers
        config = _status_config(tmp_path, good=good.base_url, stuck=stuck.base_url)
        begun = time.monotonic()
        result = run_lmprep("status", "-p", "good", "--json", "--timeout", "2", "--read-timeout", "30",
                            "--config", str(config), env={"HOME": str(tmp_path)})
        elapsed = time.monotonic() - begun
        stuck.hang = False
    assert result.returncode == 0, result.stderr  # the chosen box decides, and it is ready
    rows = {row["name"]: row for row in result.json["providers"]}
    assert (rows["good"]["state"], rows["good"]["models"][0]["context_length"]) == ("ready", 65536)
    assert rows["stuck"]["state"] == "timed_out" and rows["stuck"]["rtt_ms"] is None
    assert f"asking stuck (llama.cpp server) at {stuck.base_url}" in rows["stuck"]["error"]["message"]
    assert 2.0 <= elapsed < 4.5, elapsed  # the deadline, not the 30 s read timeout

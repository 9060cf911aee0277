"""Several boxes: `lmprep --for AGENT -p box1,box2` uses the first one ready for the agent."""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.llamacpp import LlamaServerEmulator

pytestmark = pytest.mark.e2e


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
        result = run_lmprep("--for", "codex", "-p", "down,small,big", "--config", str(config),
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 0, result.stderr
        assert f"Ready for Codex: tiny on big at {big.base_url}" in result.stderr
        assert "warning: Passed over down: down (llama.cpp server) is not responding at http://127.0.0.1:9/v1" \
            in result.stderr
        assert "Using big, the first box ready; passed over down: " in result.stderr
        assert "small: " in result.stderr and "'tiny' supports at most 4096 tokens of context, fewer than the 65536" in result.stderr
        assert "(exit 4); small:" in result.stderr and "(exit 11)" in result.stderr


def test_no_box_ready_is_the_last_boxes_error_with_the_others_reasons(tmp_path):
    with LlamaServerEmulator(context=4096, n_ctx_train=4096) as small:
        config = _config(tmp_path, down="http://127.0.0.1:9/v1", small=small.base_url)
        result = run_lmprep("--for", "codex", "-p", "down, small", "--config", str(config),
                            env={"HOME": str(tmp_path)})
        assert result.returncode == 11
        assert "Error: No box was ready (down: down (llama.cpp server) is not responding" in result.stderr
        assert "small: 'tiny' supports at most 4096 tokens of context" in result.stderr
        unknown = run_lmprep("-p", "down,smal", "--config", str(config), env={"HOME": str(tmp_path)})
        assert unknown.returncode == 3
        assert "Unknown provider 'smal' (from --local-provider)." in unknown.stderr

"""Each provider matches a model by its own server's rule (issue 16, point 3).

vLLM, llama-server's router mode, Lemonade and a generic server take a request's model only as
they list it; Ollama and Docker Model Runner normalise names as their servers do; LM Studio and
llama-server with one model ignore case. A near match (another case, or the name without its
owner on a server that cannot download) is used in the server's own spelling, which is what
lmprep then exports, so that the agent's first request names a model the server has.
"""

from __future__ import annotations

import pytest

from e2e import run_lmprep
from emulators.dmr import DockerModelRunnerEmulator
from emulators.lemonade import LemonadeEmulator
from emulators.ollama import OllamaEmulator
from emulators.vllm import VLLMEmulator
from helpers import provider_settings
from lmprep.providers import provider_class
from lmprep.providers.base import missing_model_detail, named_models
from lmprep.providers.dmr import dmr_name

BASE = "http://127.0.0.1:9/v1"  # never contacted: pytest-httpx answers
QWEN = "Qwen/Qwen3-8B"
ROUTER = {"status": {"value": "unloaded", "args": []}}

# kind, the ids the server lists (a dict: extra fields of the entry), the model typed, the name
# lmprep sends (None: it has no such model, and downloads it where it can, or exits 6).
CASES = [
    # vLLM: exact; another case or the bare name is the served one, respelled.
    ("vllm", [QWEN], QWEN, QWEN),
    ("vllm", [QWEN], "qwen/qwen3-8b", QWEN),
    ("vllm", [QWEN], "qwen3-8b", QWEN),
    ("vllm", [QWEN], "QWEN3-8B", QWEN),
    ("vllm", [QWEN], "other/Qwen3-8B", None),  # another owner is another model
    ("vllm", [QWEN], "Qwen3-8", None),
    ("vllm", [QWEN, "Qwen/qwen3-8b"], "qwen/QWEN3-8B", None),  # two near ones: ask
    ("vllm", [QWEN, "Qwen/qwen3-8b"], "Qwen/qwen3-8b", "Qwen/qwen3-8b"),
    # A generic OpenAI-compatible server: nothing says otherwise, so exact (near ones respelled).
    ("openai", ["gpt-oss-20b"], "gpt-oss-20b", "gpt-oss-20b"),
    ("openai", ["GPT-OSS-20B"], "gpt-oss-20b", "GPT-OSS-20B"),
    ("openai", ["org/gpt-oss-20b"], "gpt-oss-20b", "org/gpt-oss-20b"),
    ("openai", ["gpt-oss-20b"], "gpt-oss-120b", None),
    # llama-server with one model ignores the model of requests: any case, or the file's name.
    ("llamacpp", ["/models/Tiny.gguf"], "tiny.gguf", "tiny.gguf"),
    ("llamacpp", ["/models/Tiny.gguf"], "/MODELS/tiny.GGUF", "/MODELS/tiny.GGUF"),
    ("llamacpp", ["tiny"], "TINY", "TINY"),
    ("llamacpp", ["tiny"], "qwen3-8b", None),
    # Router mode: the id or an alias, exactly (server-models.cpp get_meta).
    ("llamacpp", [{"id": "tiny", **ROUTER}], "tiny", "tiny"),
    ("llamacpp", [{"id": "tiny", **ROUTER}], "TINY", "tiny"),
    ("llamacpp", [{"id": "tiny", "aliases": ["small"], **ROUTER}], "small", "small"),
    ("llamacpp", [{"id": "tiny", "aliases": ["small"], **ROUTER}], "SMALL", None),
    ("llamacpp", [{"id": "ggml-org/Tiny-GGUF", **ROUTER}], "tiny-gguf", "ggml-org/Tiny-GGUF"),
    ("llamacpp", [{"id": "a/tiny", **ROUTER}, {"id": "b/tiny", **ROUTER}], "tiny", None),
    # Lemonade: exact; it can download, so only another case is respelled.
    ("lemonade", ["Qwen3-0.6B-GGUF"], "Qwen3-0.6B-GGUF", "Qwen3-0.6B-GGUF"),
    ("lemonade", ["Qwen3-0.6B-GGUF"], "qwen3-0.6b-gguf", "Qwen3-0.6B-GGUF"),
    ("lemonade", ["user.Qwen3-0.6B-GGUF"], "Qwen3-0.6B-GGUF", None),
    # Docker Model Runner: lower-cases the name, not the tag; `ai/` and `:latest` by default.
    ("dmr", ["ai/smollm2:latest"], "ai/smollm2", "ai/smollm2"),
    ("dmr", ["ai/smollm2:latest"], "SmolLM2", "SmolLM2"),
    ("dmr", ["ai/smollm2:latest"], "AI/SmolLM2:latest", "AI/SmolLM2:latest"),
    ("dmr", ["ai/smollm2:Q4_K_M"], "ai/smollm2:Q4_K_M", "ai/smollm2:Q4_K_M"),
    ("dmr", ["ai/smollm2:Q4_K_M"], "ai/smollm2:q4_k_m", "ai/smollm2:Q4_K_M"),  # the tag keeps its case
    ("dmr", ["huggingface.co/bartowski/x:latest"], "hf.co/bartowski/x", "hf.co/bartowski/x"),
    ("dmr", ["ai/smollm2:latest"], "smollm2:360M", None),
    # LM Studio: case-insensitive; it can download, so a bare name is another model.
    ("lmstudio", ["openai/gpt-oss-20b"], "OpenAI/GPT-OSS-20B", "OpenAI/GPT-OSS-20B"),
    ("lmstudio", ["openai/gpt-oss-20b"], "gpt-oss-20b", None),
    # Ollama: its own normalisation, case-insensitive.
    ("ollama", ["llama3:latest"], "llama3", "llama3"),
    ("ollama", ["llama3:latest"], "Library/Llama3", "Library/Llama3"),
    ("ollama", ["llama3:latest"], "llama3:8b", None),
    ("ollama", ["hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M"], "Qwen3-8B-GGUF:Q4_K_M", None),
]


def _listed(httpx_mock, kind: str, listing: list) -> list[str]:
    entries = [item if isinstance(item, dict) else {"id": item} for item in listing]
    with provider_class(kind)(provider_settings(kind, provider=kind, base_url=BASE)) as server:
        if kind == "ollama":
            httpx_mock.add_response(url="http://127.0.0.1:9/api/tags",
                                    json={"models": [{"name": entry["id"]} for entry in entries]})
        else:
            httpx_mock.add_response(url=f"{BASE}/models", json={"object": "list", "data": entries})
        return server, server.list_models()


@pytest.mark.parametrize("kind, listing, typed, sent", CASES)
def test_each_provider_matches_by_its_servers_rule(httpx_mock, kind, listing, typed, sent):
    server, ids = _listed(httpx_mock, kind, listing)
    assert server.served_name(typed, ids) == sent
    assert server.has_model(typed, ids) == (sent == typed)


@pytest.mark.parametrize("typed, normal", [
    ("smollm2", "ai/smollm2:latest"),
    (" ai/SmolLM2 ", "ai/smollm2:latest"),
    ("ai/smollm2:Q4_K_M", "ai/smollm2:Q4_K_M"),
    ("ai/smollm2:", "ai/smollm2:latest"),
    ("hf.co/Org/Model", "huggingface.co/org/model:latest"),
    ("localhost:5000/org/model", "localhost:5000/org/model:latest"),
    ("registry.example.com/Org/Model:V1", "registry.example.com/org/model:V1"),
])
def test_docker_model_runner_names_as_its_server_normalises_them(typed, normal):
    assert dmr_name(typed) == normal


def test_what_the_server_has_is_named_ten_at_most():
    assert named_models([]) == "no model"
    assert named_models(["a", "b"]) == "'a', 'b'"
    many = [f"m{index}" for index in range(25)]
    assert named_models(many) == ", ".join(f"'m{index}'" for index in range(10)) + " and 15 more"
    assert named_models(["x\x1b[31m\ny" * 100]).count("…") == 1  # server text: one clean, short line


@pytest.mark.parametrize("typed, listing, said", [
    ("qwen3-8b", [QWEN, "meta/llama3"], "Did you mean 'Qwen/Qwen3-8B'? It has 'Qwen/Qwen3-8B', 'meta/llama3'."),
    ("Qwen/Qwen3-7B", [QWEN], "Did you mean 'Qwen/Qwen3-8B'? It has 'Qwen/Qwen3-8B'."),
    ("tiny", ["a/tiny", "b/tiny"], "Did you mean 'a/tiny' or 'b/tiny'? It has 'a/tiny', 'b/tiny'."),
    ("gpt-oss", ["llama3"], "It has 'llama3'."),
    ("gpt-oss", [], "It has no model."),
])
def test_a_missing_model_says_what_was_meant_and_what_there_is(typed, listing, said):
    assert missing_model_detail(typed, listing) == said


# -- end to end ---------------------------------------------------------------------------------

@pytest.fixture
def vllm():
    with VLLMEmulator(model=QWEN, max_model_len=131072) as emulator:
        yield emulator


@pytest.mark.e2e
@pytest.mark.parametrize("typed", ["qwen/qwen3-8b", "qwen3-8b"])
def test_vllm_gets_its_own_spelling_and_the_agents_request_succeeds(vllm, typed):
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "-m", typed, "--for", "codex")
    assert result.returncode == 0, result.stderr
    assert (f"vLLM takes a model only by the name it serves, exactly: using '{QWEN}' for '{typed}'"
            in result.stderr)
    assert f"Ready for Codex: {QWEN} on vLLM" in result.stderr
    # Codex's first request, as lmprep sends it to check the server, names the served model.
    sent = [request.json.get("model") for request in vllm.requests_to("POST", "/v1/responses") if request.json]
    assert sent == [QWEN]


@pytest.mark.e2e
def test_vllm_exports_the_name_it_serves(vllm):
    result = run_lmprep("env", "-p", "vllm", "--base-url", vllm.base_url, "-m", "qwen3-8b", "--warm-up", "off",
                        "--format", "json")
    assert result.returncode == 0, result.stderr
    assert result.json["OPENAI_MODEL"] == QWEN
    status = run_lmprep("status", "-p", "vllm", "--base-url", vllm.base_url, "-m", "qwen3-8b", "--json")
    row = next(p for p in status.json["providers"] if p["name"] == "vllm")
    assert (status.returncode, row["model"], row["model_present"]) == (0, QWEN, True)


@pytest.mark.e2e
def test_vllm_without_the_model_says_what_was_meant(vllm):
    result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "-m", "Qwen/Qwen3-7B")
    assert result.returncode == 6
    assert (f"Error: vLLM at {vllm.base_url} does not have 'Qwen/Qwen3-7B', and vLLM cannot download models. "
            f"Did you mean '{QWEN}'? It has '{QWEN}'.") in result.stderr
    assert "Pass -m with the name it serves, or restart it with `vllm serve Qwen/Qwen3-7B`." in result.stderr
    assert vllm.requests_to("POST", "/v1/responses") == []


@pytest.mark.e2e
def test_lemonade_gets_its_own_spelling():
    model = "Qwen3-0.6B-GGUF"
    with LemonadeEmulator(downloaded=[model, "Gemma-3-4b-it-GGUF"]) as lemonade:
        result = run_lmprep("-p", "lemonade", "--base-url", lemonade.base_url, "-m", model.lower(),
                            "--warm-up", "wait", "--json")
        assert result.returncode == 0, result.stderr
        assert result.json["model"] == model
        assert [request.json["model_name"] for request in lemonade.requests_to("POST", "/api/v1/load")] == [model]
        assert lemonade.requests_to("POST", "/api/v1/pull") == []


@pytest.mark.e2e
def test_lemonade_with_one_downloaded_model_uses_it():
    model = "Qwen3-0.6B-GGUF"
    with LemonadeEmulator(downloaded=[model], catalog={"Gemma-3-4b-it-GGUF": 1000}) as lemonade:
        result = run_lmprep("-p", "lemonade", "--base-url", lemonade.base_url, "--warm-up", "wait", "--json")
        assert result.returncode == 0, result.stderr
        assert (result.json["model"], result.json["model_source"]) == (model, "served")
        assert lemonade.requests_to("GET", "/api/v1/models")[0].query == ""  # downloaded ones, not show_all
        lemonade.downloaded.append("Gemma-3-4b-it-GGUF")
        several = run_lmprep("-p", "lemonade", "--base-url", lemonade.base_url, "--warm-up", "off")
        assert several.returncode == 3
        assert f"serves '{model}', 'Gemma-3-4b-it-GGUF'." in several.stderr


@pytest.mark.e2e
def test_offline_names_the_close_models_and_at_most_ten_of_the_rest():
    models = {f"model{index}:latest": 1000 for index in range(14)} | {"qwen3:8b": 1000}
    with OllamaEmulator(models=models) as ollama:
        result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", "qwen3:4b", "--offline")
    assert result.returncode == 6
    assert "does not have 'qwen3:4b', and --offline forbids downloading it. Did you mean 'qwen3:8b'? It has " \
        "'model0:latest', " in result.stderr
    assert "'model9:latest' and 5 more." in result.stderr


@pytest.mark.e2e
def test_docker_model_runner_has_a_model_under_the_names_its_server_takes():
    with DockerModelRunnerEmulator(models={"ai/qwen3:latest": 32768, "ai/smollm2:latest": 8192}) as dmr:
        result = run_lmprep("-p", "dmr", "--base-url", dmr.base_url, "-m", "SmolLM2", "--warm-up", "wait", "--json")
        assert result.returncode == 0, result.stderr
        assert (result.json["model"], result.json["downloaded"]) == ("SmolLM2", False)
        assert result.json["context_length"] == 8192  # its entry, found under the server's rule
        assert dmr.requests_to("POST", "/models/create") == []
        assert "ai/smollm2:latest" in dmr.loaded  # its first request found the model


@pytest.mark.e2e
def test_a_served_spelling_lmprep_cannot_pass_on_is_refused():
    with VLLMEmulator(model="own\x07er/Qwen3-8B") as vllm:
        result = run_lmprep("-p", "vllm", "--base-url", vllm.base_url, "-m", "qwen3-8b", "--warm-up", "off")
    assert result.returncode == 8
    assert "serves a model id lmprep cannot pass on: it holds a control character." in result.stderr
    assert "\x07" not in result.stderr

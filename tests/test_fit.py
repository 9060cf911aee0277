"""The memory estimate before a load (lmprep/fit.py): the GGUF header reader, the KV cache
formula against the real llama-server b11434, the free memory from nvidia-smi, rocm-smi, amd-smi,
Apple's sysctl and /proc/meminfo (fake commands on PATH), and the refusal before the load, end to
end against the Ollama emulator."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest

from e2e import run_lmprep
from lmprep import fit
from lmprep.fit import (GGUFError, Shape, free_memory, kv_cache_bytes, largest_window, read_gguf_metadata,
                        shape_from_metadata)
from realserver.tiny_gguf import write_tiny_gguf


#: The hint where the model's head size (tiny_gguf's 16) is no multiple of a quantised cache's blocks.
QUANTISED_CACHE_IS_NONE = ("A quantised KV cache is none for this model: its attention heads' key length (16) is "
                           "not a multiple of 32, which a q8_0 cache needs, and the load would fail.")


# -- the GGUF header ----------------------------------------------------------------------------------


def test_the_header_of_a_real_gguf_file_gives_its_shape(tmp_path):
    path = write_tiny_gguf(tmp_path / "tiny.gguf", 4096)
    metadata = read_gguf_metadata(path)
    assert metadata["general.architecture"] == "llama"
    shape = shape_from_metadata(metadata, path.stat().st_size)
    # tiny_gguf: 2 layers, 2 KV heads, embedding 64 / 4 heads = head size 16.
    assert shape == Shape(2, (2, 2), 16, 16, path.stat().st_size, max_context=4096, file_type=0)
    assert kv_cache_bytes(shape, 4096) == 2 * 2 * 2 * 16 * 4096 * 2


def _header(*pairs: bytes, version: int = 3, keys: int | None = None, magic: bytes = b"GGUF") -> bytes:
    return magic + struct.pack("<IQQ", version, 0, len(pairs) if keys is None else keys) + b"".join(pairs)


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


@pytest.mark.parametrize("data, why", [
    (b"GGML" + b"\0" * 20, "does not start with GGUF"),
    (_header(version=7), "GGUF version 7"),
    (_header(keys=10**9), "1000000000 metadata keys"),
    (_header(struct.pack("<Q", 1 << 40), keys=1), "a string of"),  # a key claiming a terabyte
    (_header(_string("a") + struct.pack("<I", 99), keys=1), "a value of type 99"),
    (_header(_string("general.architecture"), keys=1), "ends inside its header"),
    (_header(_string("a") + struct.pack("<IIQ", 9, 4, 1 << 50), keys=1), "header is longer than"),
])
def test_a_broken_or_hostile_header_is_refused_without_reading_on(tmp_path, data, why):
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError, match=why):
        read_gguf_metadata(path)


def test_only_regular_files_named_gguf_are_read(tmp_path):
    path = write_tiny_gguf(tmp_path / "tiny.gguf")
    other = tmp_path / "tiny.bin"
    other.write_bytes(path.read_bytes())
    with pytest.raises(GGUFError, match="does not end in .gguf"):
        read_gguf_metadata(other)
    (tmp_path / "dir.gguf").mkdir()
    with pytest.raises(OSError, match="not a regular file"):
        read_gguf_metadata(tmp_path / "dir.gguf")
    assert fit.gguf_facts(Path("tiny.gguf")) is None  # relative: lmprep's folder is not the server's


# -- the shape from Ollama's model_info ---------------------------------------------------------------

QWEN3_CODER_30B = {  # `ollama show qwen3-coder:30b -v` model_info (the keys the estimate reads)
    "general.architecture": "qwen3moe", "qwen3moe.block_count": 48, "qwen3moe.attention.head_count": 32,
    "qwen3moe.attention.head_count_kv": 4, "qwen3moe.embedding_length": 2048,
    "qwen3moe.attention.key_length": 128, "qwen3moe.attention.value_length": 128,
    "qwen3moe.context_length": 262144, "general.file_type": 15,  # Q4_K_M, Ollama's default tag
}
QWEN3_SIZE = 18_556_700_000


def test_key_length_wins_over_embedding_per_head_and_cache_types_scale():
    shape = shape_from_metadata(QWEN3_CODER_30B, QWEN3_SIZE)
    assert (shape.layers, shape.kv_heads[0], shape.key_length) == (48, 4, 128)  # not 2048 / 32 = 64
    f16 = kv_cache_bytes(shape, 65536)
    assert f16 == 2 * 48 * 4 * 128 * 65536 * 2
    assert kv_cache_bytes(shape, 65536, "q8_0", "q8_0") == f16 * 34 / 64
    assert kv_cache_bytes(shape, 65536, "q4_0", "q4_0") == f16 * 18 / 64


def test_sliding_window_layers_hold_only_their_window():
    gpt_oss = {"general.architecture": "gpt-oss", "gpt-oss.block_count": 24, "gpt-oss.attention.head_count": 64,
               "gpt-oss.attention.head_count_kv": 8, "gpt-oss.embedding_length": 2880,
               "gpt-oss.attention.key_length": 64, "gpt-oss.attention.sliding_window": 128}
    shape = shape_from_metadata(gpt_oss, 13_000_000_000)
    full = 12 * 8 * 64 * 2 * 2 * 65536
    swa = 12 * 8 * 64 * 2 * 2 * (128 + fit.UBATCH)
    assert kv_cache_bytes(shape, 65536) == full + swa


def test_largest_window_that_fits():
    shape = shape_from_metadata(QWEN3_CODER_30B, QWEN3_SIZE)
    free = 24e9
    largest = largest_window(shape, free)
    assert fit.needed_bytes(shape, largest) <= free < fit.needed_bytes(shape, largest + 1024)
    assert largest_window(shape, 1e9) == 0  # not even the weights


# -- the free memory ----------------------------------------------------------------------------------


def _fake_commands(tmp_path, monkeypatch, **outputs) -> None:
    """Programs on a PATH of their own that print recorded outputs: ``outputs[name]`` (``-`` for
    ``_``) is the text printed whatever the arguments, or {arguments: text} (a key of None: any
    other arguments), where a text may be (text, exit status)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, output in outputs.items():
        program = folder / name.replace("_", "-")
        cases = output if isinstance(output, dict) else {None: output}
        lines = ["#!/bin/sh", 'case "$*" in']
        for index, (arguments, answer) in enumerate(cases.items()):
            text, status = answer if isinstance(answer, tuple) else (answer, 0)
            recorded = tmp_path / f"{program.name}.{index}.out"
            recorded.write_text(text)
            lines.append(f"  {'*' if arguments is None else repr(arguments)}) /bin/cat '{recorded}'; exit {status};;")
        lines += ["esac", "echo \"$0: unknown arguments: $*\" >&2", "exit 1"]
        program.write_text("\n".join(lines) + "\n")
        program.chmod(0o755)
    monkeypatch.setenv("PATH", str(folder))


MEMINFO = "MemTotal:       32768000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"
NVIDIA_QUERY = "--query-gpu=memory.total,memory.used,memory.free --format=csv,noheader,nounits"


@pytest.fixture
def meminfo(tmp_path):
    path = tmp_path / "meminfo"
    path.write_text(MEMINFO)
    return path


def test_nvidia_gpus_are_summed(tmp_path, monkeypatch, meminfo):
    # nvidia-smi --query-gpu=memory.total,memory.used,memory.free --format=csv,noheader,nounits (MiB),
    # as an RTX 4090 beside an RTX 3090 answers it: one line per GPU.
    _fake_commands(tmp_path, monkeypatch, nvidia_smi={NVIDIA_QUERY: "24564, 9000, 15564\n24576, 576, 24000\n"})
    memory = free_memory(meminfo=meminfo)
    assert memory == fit.Memory((15564 + 24000) * 2**20, (24564 + 24576) * 2**20, "on 2 NVIDIA GPUs", True)


def test_nvidia_smi_without_its_driver_is_no_gpu(tmp_path, monkeypatch, meminfo):
    # What nvidia-smi prints, exit 9, where the driver is not loaded (a container without --gpus).
    failed = ("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the "
              "latest NVIDIA driver is installed and running.\n\n", 9)
    _fake_commands(tmp_path, monkeypatch, nvidia_smi={NVIDIA_QUERY: failed})
    assert free_memory(meminfo=meminfo).where == "in system memory"


#: `rocm-smi --showmeminfo vram --json` (ROCm 6.x; bytes, as strings), two Radeon cards.
ROCM_SMI = ('{"card0": {"VRAM Total Memory (B)": "25753026560", "VRAM Total Used Memory (B)": "1306624000"}, '
            '"card1": {"VRAM Total Memory (B)": "17163091968", "VRAM Total Used Memory (B)": "17163091968"}}\n')


def test_amd_through_rocm_smi(tmp_path, monkeypatch, meminfo):
    _fake_commands(tmp_path, monkeypatch, rocm_smi={"--showmeminfo vram --json": ROCM_SMI})
    assert free_memory(meminfo=meminfo) == fit.Memory(25753026560 - 1306624000, 25753026560 + 17163091968,
                                                      "on 2 AMD GPUs", True)


def test_rocm_smi_without_an_amd_gpu_falls_through(tmp_path, monkeypatch, meminfo):
    # rocm-smi installed on a machine whose GPU is not AMD's: a warning and no cards.
    _fake_commands(tmp_path, monkeypatch, rocm_smi={"--showmeminfo vram --json": ("WARNING: No AMD GPUs specified\n{}\n", 0)})
    assert free_memory(meminfo=meminfo).where == "in system memory"


_AMD_USAGE = ('"mem_usage": {"total_vram": {"value": 16368, "unit": "MB"}, "used_vram": {"value": 368, "unit": "MB"}, '
              '"free_vram": {"value": 16000, "unit": "MB"}, "total_visible_vram": {"value": 16368, "unit": "MB"}, '
              '"used_visible_vram": {"value": 368, "unit": "MB"}, "free_visible_vram": {"value": 16000, "unit": "MB"}, '
              '"total_gtt": {"value": 32023, "unit": "MB"}, "used_gtt": {"value": 12, "unit": "MB"}, '
              '"free_gtt": {"value": 32011, "unit": "MB"}}')


@pytest.mark.parametrize("recorded", [
    f'[{{"gpu": 0, {_AMD_USAGE}}}]',  # amd-smi of ROCm 6.x: a list, one entry per GPU
    f'{{"gpu_data": [{{"gpu": 0, {_AMD_USAGE}}}]}}',  # amd-smi of ROCm 7: the list under gpu_data
])
def test_amd_through_amd_smi(tmp_path, monkeypatch, meminfo, recorded):
    _fake_commands(tmp_path, monkeypatch, amd_smi={"metric --mem-usage --json": recorded})
    assert free_memory(meminfo=meminfo) == fit.Memory(16000 * 2**20, 16368 * 2**20, "on the AMD GPU", True)


def test_apple_unified_memory(tmp_path, monkeypatch, meminfo):
    # A 64 GB Mac: `sysctl -n hw.memsize`, and iogpu.wired_limit_mb at its default 0 (Metal's own share).
    _fake_commands(tmp_path, monkeypatch, sysctl={"-n hw.memsize": "68719476736\n", "-n iogpu.wired_limit_mb": "0\n"})
    memory = free_memory(meminfo=meminfo)
    assert memory == fit.Memory(68719476736 * 0.75, 68719476736, "for the GPU in unified memory", True)


def test_apple_with_a_raised_gpu_limit(tmp_path, monkeypatch, meminfo):
    # `sudo sysctl iogpu.wired_limit_mb=57344`: the GPU may wire 56 GiB of the 64.
    _fake_commands(tmp_path, monkeypatch, sysctl={"-n hw.memsize": "68719476736\n",
                                                  "-n iogpu.wired_limit_mb": "57344\n"})
    assert free_memory(meminfo=meminfo).free == 57344 * 2**20


def test_apple_before_macos_14_has_no_gpu_limit_key(tmp_path, monkeypatch, meminfo):
    unknown = ("sysctl: unknown oid 'iogpu.wired_limit_mb'\n", 1)
    _fake_commands(tmp_path, monkeypatch, sysctl={"-n hw.memsize": "17179869184\n", "-n iogpu.wired_limit_mb": unknown})
    assert free_memory(meminfo=meminfo).free == 17179869184 * 0.75


def test_linux_sysctl_is_not_apple(tmp_path, monkeypatch, meminfo):
    # procps' sysctl knows no hw.memsize: exit 255.
    _fake_commands(tmp_path, monkeypatch, sysctl=("sysctl: cannot stat /proc/sys/hw/memsize: No such file or directory\n",
                                                  255))
    assert free_memory(meminfo=meminfo).where == "in system memory"


def test_without_a_gpu_tool_system_memory(tmp_path, monkeypatch, meminfo):
    _fake_commands(tmp_path, monkeypatch, nvidia_smi="NVIDIA-SMI has failed\n")  # not a CSV: no figure
    assert free_memory(meminfo=meminfo) == fit.Memory(20000000 * 1024, 32768000 * 1024, "in system memory", False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    assert free_memory(meminfo=meminfo).where == "in system memory"
    assert free_memory(meminfo=tmp_path / "none") is None


def test_the_first_gpu_tool_that_answers_wins(tmp_path, monkeypatch, meminfo):
    _fake_commands(tmp_path, monkeypatch, nvidia_smi={NVIDIA_QUERY: "8192, 192, 8000\n"},
                   rocm_smi={"--showmeminfo vram --json": ROCM_SMI})
    assert free_memory(meminfo=meminfo).where == "on the NVIDIA GPU"


# -- end to end: refused before the load --------------------------------------------------------------

MODEL = "qwen3-coder:30b"


@pytest.fixture
def big_model(ollama_emulator, tmp_path):
    ollama_emulator.models = {MODEL: QWEN3_SIZE}
    ollama_emulator.model_info = {MODEL: QWEN3_CODER_30B}
    ollama_emulator.default_num_ctx = 65536
    folder = tmp_path / "bin"
    folder.mkdir()
    smi = folder / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '24564, 1000, 23564'\n")  # 23 GiB free on a 24 GiB card
    smi.chmod(0o755)
    return ollama_emulator, {"PATH": f"{folder}:/usr/bin:/bin"}


def test_a_window_that_does_not_fit_is_refused_before_any_load(big_model):
    ollama, env = big_model
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex", env=env)
    assert result.returncode == 11, result.stderr
    assert ollama.requests_to("POST", "/api/generate") == [] and ollama.load_count == 0
    # 18.6 GB of weights + 48 layers x 4 KV heads x 128 x 2 (K, V) x 2 bytes x 65,536 tokens = 6.4 GB
    assert (f"{MODEL} at 65,536 tokens needs ~25.0 GB (18.6 GB of weights, 6.4 GB of f16 KV cache), 24.7 GB free "
            "on the NVIDIA GPU: it does not fit") in result.stderr
    assert "`OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve` (~22.0 GB, fits)" in result.stderr
    # Q4_K_M already: a smaller quantisation is not offered, a smaller model is.
    assert "a smaller quantisation" not in result.stderr and "a smaller model" in result.stderr
    largest = re.search(r"the largest window that fits: ([\d,]+) tokens \(`--min-context (\d+)`\)", result.stderr)
    assert largest and largest[1] == "62,464" and int(largest[2]) == largest_window(shape_from_metadata(QWEN3_CODER_30B, QWEN3_SIZE),
                                                         23564 * 2**20) == 62464
    assert "--ignore-fit" in result.stderr


def test_ignore_fit_loads_it_with_a_warning(big_model):
    ollama, env = big_model
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex",
                        "--ignore-fit", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert ollama.load_count == 1


def test_ignore_fit_from_the_config_file(big_model, tmp_path):
    ollama, env = big_model
    config = tmp_path / "config.toml"
    config.write_text("ignore_fit = true\n")
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex",
                        "--config", str(config), env=env)
    assert result.returncode == 0, result.stderr


def test_a_window_that_fits_says_so_and_loads(big_model, tmp_path):
    ollama, env = big_model
    (tmp_path / "bin" / "nvidia-smi").write_text("#!/bin/sh\necho '49140, 1000, 48140'\n")  # a 48 GB card
    env = {**env, "OLLAMA_KV_CACHE_TYPE": "q8_0"}  # what a server started from this shell uses
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex", env=env)
    assert result.returncode == 0, result.stderr
    assert (f"Estimated: {MODEL} at 65,536 tokens needs ~22.0 GB (18.6 GB of weights, 3.4 GB of q8_0 KV cache), "
            "50.5 GB free on the NVIDIA GPU") in result.stderr
    assert ollama.load_count == 1


def test_without_a_required_window_it_loads_and_warns(big_model):
    ollama, env = big_model
    env = {**env, "OLLAMA_CONTEXT_LENGTH": "131072"}  # the window Ollama loads with, as this shell sets it
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--warm-up", "wait", env=env)
    assert result.returncode == 0, result.stderr
    assert ollama.load_count == 1
    assert (f"warning: {MODEL} at 131,072 tokens needs ~31.4 GB (18.6 GB of weights, 12.9 GB of f16 KV cache), 24.7 GB "
            "free on the NVIDIA GPU: it will not fit, and Ollama will spill it onto the CPU") in result.stderr
    assert "--ignore-fit" not in result.stderr


# -- against the real llama-server b11434 ------------------------------------------------------------


def _logged_kv_mib(log: str) -> float:
    """`llama_kv_cache: size =    5.31 MiB (  5120 cells,   4 layers,  1/1 seqs), K (q8_0): ..., V (q8_0): ...`"""
    found = re.search(r"llama_kv_cache: size =\s+([\d.]+) MiB", log)
    assert found, log[-2000:]
    return float(found[1])


@pytest.mark.real_server
@pytest.mark.parametrize("window, k_type, v_type", [
    (1000, "f16", "f16"), (4096, "f16", "f16"), (30000, "f16", "f16"), (65536, "f16", "f16"),
    (5000, "q8_0", "q8_0"), (16384, "q8_0", "q8_0"), (30000, "q8_0", "q8_0"), (65536, "q8_0", "q8_0"),
    (5000, "q4_0", "q4_0"), (30000, "q4_0", "q4_0"),
    (8192, "q8_0", "f16"), (40000, "f16", "q4_0"),
])
def test_the_kv_estimate_is_within_10_percent_of_what_llama_server_allocates(llama_server_binary, tmp_path,
                                                                            window, k_type, v_type):
    from realserver.server import LlamaServer

    # 4 layers, 2 KV heads, head size 256 / 4 = 64 (a quantised cache needs a multiple of 32).
    model = write_tiny_gguf(tmp_path / "shaped.gguf", 131072, layers=4, embedding=256, heads=4, kv_heads=2)
    facts = fit.gguf_facts(model, k_type, v_type)
    flash = ["-fa", "on"] if "q" in v_type else []  # a quantised V cache needs flash attention
    with LlamaServer(llama_server_binary, model, context=window,
                     extra_args=["-lv", "4", "-ctk", k_type, "-ctv", v_type, *flash]) as server:
        logged = _logged_kv_mib(server.log_text()) * 2**20
    estimated = kv_cache_bytes(facts.shape, window, k_type, v_type)
    error = (estimated - logged) / logged
    print(f"KV estimate at {window} tokens, K {k_type}, V {v_type}: {estimated / 2**20:.2f} MiB, "
          f"llama-server {logged / 2**20:.2f} MiB, error {error:+.3%}")
    assert abs(error) < 0.10, (estimated, logged)


@pytest.mark.real_server
def test_a_cpu_only_llama_server_logs_no_offload_so_lmprep_reports_no_spill(llama_server_binary, tmp_path):
    """b11434 built without a GPU backend (as here) names only the CPU among its devices and logs
    no "offloaded N/M layers to GPU": the model runs where it was built to, nothing spilled."""
    from realserver.server import LlamaServer

    model = write_tiny_gguf(tmp_path / "tiny.gguf", 8192)
    with LlamaServer(llama_server_binary, model, context=4096, extra_args=["-lv", "4"]) as server:
        log = server.log_text()
    assert "llama_kv_cache: size =" in log and "- CPU" in log  # the load was logged, its device the CPU
    assert fit.offloaded_layers(log) is None and fit.log_cpu_percent(log) is None
    # The weights, estimated as the file's size, against the model buffers it maps (5.36 MiB here).
    mapped = sum(float(size) for size in re.findall(r"model buffer size =\s+([\d.]+) MiB", log)) * 2**20
    assert abs(model.stat().st_size - mapped) / mapped < 0.10, (model.stat().st_size, mapped)


@pytest.fixture
def router_with_no_memory(llama_server_binary, tmp_path):
    from realserver.server import LlamaServer

    folder = tmp_path / "models"
    write_tiny_gguf(folder / "tiny.gguf", 8192)
    tools = tmp_path / "tools"
    tools.mkdir()
    smi = tools / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '24564, 24563, 1'\n")  # 1 MiB free: not even the tiny model's 1.5 MiB fit
    smi.chmod(0o755)
    with LlamaServer(llama_server_binary, None, models_dir=folder, context=4096,
                     extra_args=["--no-models-autoload"]) as server:
        yield server, {"PATH": f"{tools}:/usr/bin:/bin"}


def _router_status(server) -> str:
    from realserver.server import http_request

    return http_request("GET", server.origin + "/models").json()["data"][0]["status"]["value"]


@pytest.mark.real_server
def test_router_mode_refuses_a_required_window_that_does_not_fit_before_loading(router_with_no_memory):
    server, env = router_with_no_memory
    result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--min-context", "8192",
                        "--warm-up", "wait", env=env)
    assert result.returncode == 11, result.stderr
    # 0.5 MB of weights (the file) + 2 layers x 2 KV heads x 16 x 2 (K, V) x 2 bytes x 8,192 tokens = 2.1 MB
    assert ("tiny at 8,192 tokens needs ~2.6 MB (0.5 MB of weights, 2.1 MB of f16 KV cache), 1.0 MB free on the "
            "NVIDIA GPU: it does not fit") in result.stderr
    assert QUANTISED_CACHE_IS_NONE in result.stderr  # tiny_gguf's head size is 16
    assert _router_status(server) == "unloaded"  # no POST /models/load was sent


@pytest.mark.real_server
def test_router_mode_without_a_required_window_loads_its_own_and_warns(router_with_no_memory):
    server, env = router_with_no_memory
    result = run_lmprep("-p", "llamacpp", "--base-url", server.base_url, "-m", "tiny", "--warm-up", "wait", env=env)
    assert result.returncode == 0, result.stderr
    # The router's own -c 4096 (from the command line it runs the model with, GET /models `status.args`).
    assert "warning: tiny at 4,096 tokens needs ~1.6 MB (0.5 MB of weights, 1.0 MB of f16 KV cache)" in result.stderr
    assert "it will not fit, and llama.cpp server will spill it onto the CPU" in result.stderr
    assert _router_status(server) == "loaded"


# -- LM Studio: the GGUF file `lms ls --json` names ------------------------------------------------

LMS_MODEL = "lmstudio-community/tiny-gguf"


@pytest.fixture
def lmstudio_with_a_small_gpu(lmstudio_emulator, fake_lms, tmp_path):
    home = tmp_path / "home"
    # The fake `lms ls --json` names `KEY/model.gguf`, relative to LM Studio's models folder.
    write_tiny_gguf(home / ".lmstudio" / "models" / LMS_MODEL / "model.gguf", 131072)
    lmstudio_emulator.downloaded = [LMS_MODEL]
    lmstudio_emulator.max_context = {LMS_MODEL: 131072}
    tools = tmp_path / "tools"
    tools.mkdir()
    smi = tools / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho '8192, 8182, 10'\n")  # 10 MiB free
    smi.chmod(0o755)
    return lmstudio_emulator, {"HOME": str(home), "PATH": f"{tools}:/usr/bin:/bin"}


def test_lm_studio_refuses_a_window_that_does_not_fit_before_loading(lmstudio_with_a_small_gpu):
    lmstudio, env = lmstudio_with_a_small_gpu
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        env=env)
    assert result.returncode == 11, result.stderr
    # 0.5 MB of weights + 2 x 2 x 16 x 2 x 2 bytes x 65,536 = 16.8 MB of KV cache; (10 MiB - 0.5 MB) / 256 B = 38,887
    assert (f"{LMS_MODEL} at 65,536 tokens needs ~17.3 MB (0.5 MB of weights, 16.8 MB of f16 KV cache), 10.5 MB "
            "free on the NVIDIA GPU: it does not fit") in result.stderr
    # tiny_gguf's head size is 16: llama.cpp makes no q8_0 cache for it (llama-server b11434 and
    # Ollama v0.33.0-rc2 fail the load), so that way out is not offered, and the hint says why.
    assert "Quantization Type to Q8_0" not in result.stderr
    assert QUANTISED_CACHE_IS_NONE in result.stderr
    assert "the largest window that fits: 37,888 tokens (`--min-context 37888`)" in result.stderr
    assert lmstudio.requests_to("POST", "/api/v1/models/load") == []
    loaded = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        "--ignore-fit", "--warm-up", "wait", env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert "warning: " + LMS_MODEL + " at 65,536 tokens needs ~17.3 MB" in loaded.stderr
    assert len(lmstudio.requests_to("POST", "/api/v1/models/load")) == 1


# -- after the load: spill onto the CPU -----------------------------------------------------------


def test_heavy_spill_under_for_is_a_warning_with_the_ways_out(ollama_emulator):
    ollama_emulator.models = {MODEL: QWEN3_SIZE}
    ollama_emulator.default_num_ctx = 65536
    ollama_emulator.gpu_share = {MODEL: 0.6}  # /api/ps: size_vram 60% of size
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", MODEL, "--for", "codex")
    assert result.returncode == 0, result.stderr
    assert (f"warning: Ollama runs 40% of {MODEL} on the CPU: it did not fit in GPU memory, and the agent will be "
            "slow. Ways out: a quantised KV cache: start Ollama with `OLLAMA_FLASH_ATTENTION=1 "
            "OLLAMA_KV_CACHE_TYPE=q8_0 ollama serve` (for a model whose attention head size is a multiple of 32); "
            "a smaller quantisation") in result.stderr

    ollama_emulator.gpu_share = {MODEL: 0.8}  # 20%: a light spill keeps the plain hint
    ollama_emulator.loaded = {}
    light = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", MODEL, "--for", "codex")
    assert "runs 20% of" in light.stderr and "Ways out" not in light.stderr


def test_a_vocabulary_of_millions_of_strings_is_read_past_not_kept(tmp_path):
    many = 5_000
    vocabulary = _string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, many) + _string("x") * many
    scores = _string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, many) + b"\0\0\0\0" * many
    arch = _string("general.architecture") + struct.pack("<I", 8) + _string("llama")
    path = tmp_path / "vocab.gguf"
    path.write_bytes(_header(vocabulary, scores, arch))
    assert read_gguf_metadata(path) == {"tokenizer.ggml.tokens": None, "tokenizer.ggml.scores": None,
                                        "general.architecture": "llama"}
    # Ten million empty strings claim 80 MB of header: refused at 64 MiB, nothing kept meanwhile.
    path.write_bytes(_header(_string("t") + struct.pack("<IIQ", 9, 8, 10**7) + b"\0" * (8 * 10**7 + 8)))
    with pytest.raises(GGUFError, match="header is longer than"):
        read_gguf_metadata(path)


def test_a_shape_no_model_has_is_no_estimate():
    hostile = {**QWEN3_CODER_30B, "qwen3moe.attention.key_length": 10**15}
    assert shape_from_metadata(hostile, 1) is None
    assert shape_from_metadata({**QWEN3_CODER_30B, "qwen3moe.block_count": True}, 1) is None
    assert shape_from_metadata({"general.architecture": 5}, 1) is None


def test_the_library_takes_ignore_fit(ollama_emulator, tmp_path, monkeypatch):
    import lmprep

    ollama_emulator.models = {MODEL: QWEN3_SIZE}
    ollama_emulator.model_info = {MODEL: QWEN3_CODER_30B}
    ollama_emulator.default_num_ctx = 65536
    _fake_commands(tmp_path, monkeypatch, nvidia_smi="24564, 9000, 15564\n")
    with pytest.raises(lmprep.ContextTooSmallError, match="does not fit"):
        lmprep.ensure_oss_ready("ollama", MODEL, base_url=ollama_emulator.base_url, agent="codex")
    assert ollama_emulator.load_count == 0
    ready = lmprep.ensure_oss_ready("ollama", MODEL, base_url=ollama_emulator.base_url, agent="codex", ignore_fit=True)
    assert ready.ok and ollama_emulator.load_count == 1


def test_without_a_gpu_the_estimate_is_against_system_memory(ollama_emulator, tmp_path):
    ollama_emulator.models = {MODEL: 10**12}  # a terabyte of weights: no machine's memory
    ollama_emulator.model_info = {MODEL: QWEN3_CODER_30B}
    (tmp_path / "no-tools").mkdir()
    result = run_lmprep("-p", "ollama", "--base-url", ollama_emulator.base_url, "-m", MODEL, "--for", "codex",
                        env={"PATH": str(tmp_path / "no-tools")})
    assert result.returncode == 11, result.stderr
    assert re.search(r"needs ~1006\.4 GB \(1000\.0 GB of weights, 6\.4 GB of f16 KV cache\), [\d.]+ [GM]B free in "
                     r"system memory: it does not fit, so Ollama would push the machine into swap", result.stderr)
    assert "the largest window that fits" not in result.stderr and ollama_emulator.load_count == 0


def test_what_the_server_frees_for_the_load_counts_as_free(big_model, tmp_path):
    ollama, env = big_model
    ollama.models["llama3.2:3b"] = 3_000_000_000
    ollama.loaded = {"llama3.2:3b": 4096}  # wholly in GPU memory: Ollama unloads it to make room
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex", env=env)
    assert result.returncode == 0, result.stderr
    assert ("needs ~25.0 GB (18.6 GB of weights, 6.4 GB of f16 KV cache), 27.7 GB free on the NVIDIA GPU "
            "(counting the 3.0 GB Ollama frees for it)") in result.stderr


def test_a_reload_at_a_larger_window_counts_the_copy_it_replaces(lmstudio_with_a_small_gpu, tmp_path):
    lmstudio, env = lmstudio_with_a_small_gpu
    (tmp_path / "tools" / "nvidia-smi").write_text("#!/bin/sh\necho '8192, 8176, 16'\n")  # 16.8 MB free
    lmstudio.loaded = {LMS_MODEL: 4096}
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        "--warm-up", "wait", env=env)
    assert result.returncode == 0, result.stderr
    # The copy loaded at 4,096 tokens (0.5 MB + 1.0 MB) is unloaded before the new load.
    assert ("needs ~17.3 MB (0.5 MB of weights, 16.8 MB of f16 KV cache), 18.4 MB free on the NVIDIA GPU "
            "(counting the 1.6 MB LM Studio frees for it)") in result.stderr


# -- llama-server: spill from its load log, and the check before lmprep starts it ----------------

#: From `llama-server -lv 4` b11434 on this CPU-only build (tests/test_fit.py's tiny model): the
#: devices and the KV cache, and no "offloaded" line (llama_supports_gpu_offload() is false).
CPU_ONLY_LOG = """\
0.00.007.169 I cmn  common_param: device_info:
0.00.007.186 I cmn  common_param:   - CPU     : AMD EPYC (24105 MiB, 24105 MiB free)
0.00.039.338 I load_tensors:   CPU_Mapped model buffer size =     5.36 MiB
0.00.060.257 I llama_kv_cache: size =   16.00 MiB (  8192 cells,   4 layers,  4/1 seqs), K (f16):    8.00 MiB, V (f16):    8.00 MiB
"""
#: A CUDA build whose --fit put 30 of qwen3-coder-30b's 49 layers (48 + output) on the GPU
#: (the lines of llama.cpp src/llama-model.cpp `load_tensors`).
GPU_LOG = """\
load_tensors: offloading output layer to GPU
load_tensors: offloading 29 repeating layers to GPU
load_tensors: offloaded 30/49 layers to GPU
load_tensors:        CUDA0 model buffer size = 11412.53 MiB
load_tensors:   CPU_Mapped model buffer size =  6939.21 MiB
"""


def test_the_load_log_says_how_much_runs_on_the_cpu():
    assert fit.offloaded_layers(GPU_LOG) == (30, 49)
    assert fit.log_cpu_percent(GPU_LOG) == 39  # 19 of 49 layers
    assert fit.log_cpu_percent(GPU_LOG.replace("30/49", "49/49")) == 0
    assert fit.log_cpu_percent(GPU_LOG.replace("30/49", "48/49")) == 2
    # Without a GPU backend it all runs on the CPU by design: no spill to report.
    assert fit.offloaded_layers(CPU_ONLY_LOG) is None and fit.log_cpu_percent(CPU_ONLY_LOG) is None


@pytest.mark.parametrize("args", [["-ngl", "20"], ["--n-gpu-layers", "20"], ["--gpu-layers", "0"], ["-dev", "none"],
                                  ["--device", "none"]])
def test_a_split_the_command_line_chose_is_no_spill(args):
    assert fit.log_cpu_percent(GPU_LOG, ["llama-server", "-m", "x.gguf", *args]) is None
    assert fit.log_cpu_percent(GPU_LOG.replace("30/49", "49/49"), ["llama-server", *args]) in (0, None)


def test_all_layers_on_the_gpu_as_the_command_line_asked_is_none_on_the_cpu():
    assert fit.log_cpu_percent(GPU_LOG.replace("30/49", "49/49"), ["llama-server", "-ngl", "999"]) == 0


def test_the_log_of_a_server_lmprep_started_reports_its_spill(tmp_path, monkeypatch, llamacpp_emulator):
    """LlamaCpp.cpu_percent reads the log that lmprep/started.py records for a server it started
    (here a stand-in of that module, with its find_started / is_same_process interface)."""
    import sys
    import types

    from helpers import provider_settings
    from lmprep.providers import open_provider

    log = tmp_path / "llama-server.log"
    log.write_text(CPU_ONLY_LOG + GPU_LOG)
    record = types.SimpleNamespace(log=str(log), argv=("llama-server", "-m", "x.gguf"))
    started = types.ModuleType("lmprep.started")
    asked = []
    started.find_started = lambda name, base_url: asked.append((name, base_url)) or record
    started.is_same_process = lambda found: found is record
    monkeypatch.setitem(sys.modules, "lmprep.started", started)
    settings = provider_settings("llamacpp", provider="llamacpp", base_url=llamacpp_emulator.base_url)
    with open_provider(settings) as provider:
        assert provider.model_state("tiny").cpu_percent == 39
        assert asked[0] == ("llamacpp", llamacpp_emulator.base_url)
        log.write_text(CPU_ONLY_LOG)
        assert provider.model_state("tiny").cpu_percent is None
        started.find_started = lambda name, base_url: None  # a server lmprep did not start: no log
        assert provider.cpu_percent("tiny") is None


def _nvidia_with(tmp_path, monkeypatch, free_mib: int) -> None:
    _fake_commands(tmp_path, monkeypatch, nvidia_smi={NVIDIA_QUERY: f"8192, {8192 - free_mib}, {free_mib}\n"})


def test_before_starting_llama_server_a_window_that_does_not_fit_is_refused(tmp_path, monkeypatch):
    from lmprep import ContextTooSmallError

    model = write_tiny_gguf(tmp_path / "models" / "tiny.gguf", 131072)
    _nvidia_with(tmp_path, monkeypatch, 10)  # 10 MiB free
    argv = ["/usr/bin/llama-server", "-m", str(model), "--host", "127.0.0.1", "--port", "8080", "--jinja",
            "-c", "65536"]
    with pytest.raises(ContextTooSmallError) as refused:
        fit.check_command(argv, 65536, refuse=True)
    # 2 layers x 2 KV heads x 16 x 2 (K, V) x 2 bytes x 65,536 = 16.8 MB, and the file's 0.5 MB
    assert refused.value.message.startswith("tiny at 65,536 tokens needs ~17.3 MB (0.5 MB of weights, 16.8 MB of "
                                            "f16 KV cache), 10.5 MB free on the NVIDIA GPU: it does not fit")
    assert "-ctk q8_0" not in refused.value.hint and QUANTISED_CACHE_IS_NONE in refused.value.hint  # head size 16
    assert "(it is F32; at Q4_K_M it needs ~16.9 MB)" in refused.value.hint  # tiny_gguf's weights are F32
    assert "the largest window that fits: 37,888 tokens (`--min-context 37888`)" in refused.value.hint
    # Without a required window: the command's own -c, estimated, not refused.
    assert not fit.check_command(argv, None, refuse=False).fits
    # Its cache types (-ctk/--cache-type-k, -ctv) and its alias count.
    quantised = fit.check_command([*argv, "--cache-type-k", "q8_0", "-ctv", "q8_0", "-fa", "on", "-a", "mine"], None,
                                  refuse=True)
    assert quantised.fits and quantised.model == "mine" and quantised.facts.k_type == "q8_0"


def test_before_starting_llama_server_on_the_cpu_by_choice_system_memory_counts(tmp_path, monkeypatch):
    model = write_tiny_gguf(tmp_path / "tiny.gguf", 131072)
    _nvidia_with(tmp_path, monkeypatch, 1)
    argv = ["llama-server", "-m", str(model), "-c", "65536", "-ngl", "0"]
    estimated = fit.check_command(argv, None, refuse=True)
    assert estimated.fits and estimated.memory.where == "in system memory" and not estimated.memory.gpu


def test_before_starting_llama_server_nothing_to_estimate(tmp_path, monkeypatch):
    _nvidia_with(tmp_path, monkeypatch, 1)
    assert fit.check_command(["llama-server", "--models-dir", str(tmp_path)], 8192, refuse=True) is None  # router
    assert fit.check_command(["llama-server", "-m", str(tmp_path / "missing.gguf")], 8192, refuse=True) is None
    assert fit.check_command(["llama-server", "-m", "relative.gguf"], 8192, refuse=True) is None


# -- LM Studio: its own estimate, and its models folder ---------------------------------------------

@pytest.mark.parametrize("printed, total", [
    # lms 0.3.43 (src/formatBytes.ts formatSizeBytes1024), to stderr, no terminal: no colours
    ("Model: openai/gpt-oss-120b\nContext Length: 65,536\nEstimated GPU Memory:   61.17 GiB\n"
     "Estimated Total Memory: 61.17 GiB\n\nEstimate: This model may be loaded based on your resource guardrails "
     "settings.\n", 61.17 * 2**30),
    # lms 0.3.27 to early 2026 (formatSizeBytes1000): the docs' example
    ("Model: openai/gpt-oss-120b\nEstimated GPU Memory:   65.68 GB\nEstimated Total Memory: 65.68 GB\n", 65.68e9),
    ("Estimated Total Memory: \x1b[32m812.50 MiB\x1b[39m\n", 812.5 * 2**20),  # coloured, where lms saw a terminal
    ("error: unknown option '--estimate-only'\n", None),  # lms before 0.3.27
    ("Estimated Total Memory: 12.00 parsecs\n", None),
    ("Estimated Total Memory: 1.2.3 GB\n", None),
])
def test_lms_estimate_output(printed, total):
    from lmprep.lms import parse_lms_estimate

    assert parse_lms_estimate(printed) == (pytest.approx(total) if total else None)


def test_lm_studio_s_own_estimate_counts_where_lms_offers_it(lmstudio_with_a_small_gpu):
    lmstudio, env = lmstudio_with_a_small_gpu
    env = {**env, "FAKE_LMS_ESTIMATE": str(20 * 10**6)}  # lms says 20 MB: 2.7 MB more than the header's 17.3
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        env=env)
    assert result.returncode == 11, result.stderr
    assert (f"{LMS_MODEL} at 65,536 tokens needs ~20.0 MB (0.5 MB of weights, 16.8 MB of f16 KV cache, 2.7 MB more "
            "as `lms load --estimate-only` counts it), 10.5 MB free on the NVIDIA GPU") in result.stderr
    # The ways out count it too: the largest window leaves room for it (no q8_0 cache at head size 16).
    assert QUANTISED_CACHE_IS_NONE in result.stderr
    # 10 MiB free - (19.07 MiB - the 16.8 MB the KV cache takes at 65,536) leaves 7.3 MB: 28,400 tokens at 256 B
    assert "the largest window that fits: 27,648 tokens" in result.stderr
    assert lmstudio.requests_to("POST", "/api/v1/models/load") == []


def test_lm_studio_s_estimate_below_the_header_s_is_not_taken(lmstudio_with_a_small_gpu):
    lmstudio, env = lmstudio_with_a_small_gpu
    env = {**env, "FAKE_LMS_ESTIMATE": str(10**6)}  # a floor is a floor: the header's 17.3 MB stays
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        env=env)
    assert result.returncode == 11 and "needs ~17.3 MB (0.5 MB of weights, 16.8 MB of f16 KV cache)," in result.stderr


def test_lm_studio_s_models_folder_from_its_settings(tmp_path, monkeypatch):
    from lmprep.lms import lmstudio_models_folder

    home = tmp_path / ".lmstudio"
    home.mkdir()
    assert lmstudio_models_folder(home) == home / "models"
    (home / "settings.json").write_text('{"downloadsFolder": "/data/lm-models", "other": 1}')
    assert lmstudio_models_folder(home) == Path("/data/lm-models")
    for broken in ('{"downloadsFolder": 5}', '{"downloadsFolder": "relative"}', "[1, 2]", "{not json"):
        (home / "settings.json").write_text(broken)
        assert lmstudio_models_folder(home) == home / "models"


def test_lm_studio_s_moved_models_folder_is_where_the_file_is_found(lmstudio_with_a_small_gpu, tmp_path):
    lmstudio, env = lmstudio_with_a_small_gpu
    moved = tmp_path / "big-disk" / "models"
    (tmp_path / "home" / ".lmstudio" / "models").rename(tmp_path / "big-disk-models")
    moved.parent.mkdir()
    (tmp_path / "big-disk-models").rename(moved)
    (tmp_path / "home" / ".lmstudio" / "settings.json").write_text(f'{{"downloadsFolder": "{moved}"}}')
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        env=env)
    assert result.returncode == 11 and "needs ~17.3 MB" in result.stderr


# -- Ollama: parallel sequences; the quantisation in the ways out --------------------------------

def test_ollama_allocates_the_window_for_each_parallel_sequence(big_model, tmp_path):
    ollama, env = big_model
    (tmp_path / "bin" / "nvidia-smi").write_text("#!/bin/sh\necho '49140, 1000, 48140'\n")  # fits once, not twice
    result = run_lmprep("-p", "ollama", "--base-url", ollama.base_url, "-m", MODEL, "--for", "codex",
                        env={**env, "OLLAMA_NUM_PARALLEL": "8"})
    assert result.returncode == 11, result.stderr
    # 6.4 GB of f16 KV cache per 65,536-token sequence, 8 of them (llm/llama_server.go `-c num_ctx x parallel`)
    assert (f"{MODEL} at 65,536 tokens x 8 parallel sequences needs ~70.1 GB (18.6 GB of weights, 51.5 GB of f16 "
            "KV cache), 50.5 GB free on the NVIDIA GPU: it does not fit") in result.stderr
    largest = int(re.search(r"--min-context (\d+)", result.stderr)[1])
    assert largest % 1024 == 0 and 18.6e9 + 8 * 98304 * largest <= 48140 * 2**20 < 18.6e9 + 8 * 98304 * (largest + 1024)
    assert ollama.load_count == 0


@pytest.mark.parametrize("file_type, way", [
    (7, "a smaller quantisation of the model (it is Q8_0; at Q4_K_M it needs ~25.1 GB, fits)"),
    (15, None),  # Q4_K_M already: a smaller one is not offered
    (None, "a smaller quantisation of the model (Q4_K_M rather than Q8_0)"),  # not known
])
def test_the_quantisation_way_out_names_the_model_s(file_type, way):
    info = {key: value for key, value in QWEN3_CODER_30B.items() if key != "general.file_type"}
    info.update({"general.file_type": file_type} if file_type is not None else {})
    facts = fit.ModelFacts(shape_from_metadata(info, 32_500_000_000))  # the Q8_0 file's size
    memory = fit.Memory(26e9, 26e9, "on the NVIDIA GPU", True)
    text = fit.ways_out("ollama", fit.estimate(facts, MODEL, 65536, memory))
    if way is None:
        assert "smaller quantisation" not in text
    else:
        assert way in text, text


def test_lm_studio_s_own_estimate_alone_where_no_gguf_header_is_found(lmstudio_with_a_small_gpu, tmp_path):
    """An MLX model (or a GGUF lmprep does not find) has no header to read: LM Studio's own
    estimate is the figure, and the ways out come without numbers."""
    lmstudio, env = lmstudio_with_a_small_gpu
    (tmp_path / "home" / ".lmstudio" / "models" / LMS_MODEL / "model.gguf").unlink()
    result = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                        env={**env, "FAKE_LMS_ESTIMATE": str(20 * 10**6)})
    assert result.returncode == 11, result.stderr
    assert (f"{LMS_MODEL} at 65,536 tokens needs ~20.0 MB (as `lms load --estimate-only` counts it), 10.5 MB free on "
            "the NVIDIA GPU: it does not fit") in result.stderr
    assert "Cache Quantization Type to Q8_0;" in result.stderr and "largest window" not in result.stderr
    # Without the header and without an lms that estimates (before 0.3.27): no estimate, the load goes ahead.
    plain = run_lmprep("-p", "lmstudio", "--base-url", lmstudio.base_url, "-m", LMS_MODEL, "--min-context", "64k",
                       "--warm-up", "wait", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "needs ~" not in plain.stderr


def _kv_string(key: str, value: str) -> bytes:
    return _string(key) + struct.pack("<I", 8) + _string(value)


def _kv_u32(key: str, value: int) -> bytes:
    return _string(key) + struct.pack("<II", 4, value)


def test_a_split_model_s_weights_are_all_its_parts(tmp_path):
    # gguf-split's first part carries the header and `split.count` (a u16); the others only tensors.
    header = _header(_kv_string("general.architecture", "llama"), _kv_u32("llama.block_count", 2),
                     _kv_u32("llama.attention.head_count", 4), _kv_u32("llama.embedding_length", 64),
                     _string("split.count") + struct.pack("<IH", 2, 3))
    first = tmp_path / "big-00001-of-00003.gguf"
    first.write_bytes(header)
    (tmp_path / "big-00002-of-00003.gguf").write_bytes(b"\0" * 1000)
    (tmp_path / "big-00003-of-00003.gguf").write_bytes(b"\0" * 500)
    assert fit.gguf_facts(first).shape.weights == len(header) + 1500
    (tmp_path / "big-00003-of-00003.gguf").unlink()  # a part missing: the server cannot load it either
    assert fit.gguf_facts(first) is None
    alone = tmp_path / "big.gguf"  # not named as a part: its own size
    alone.write_bytes(header)
    assert fit.gguf_facts(alone).shape.weights == len(header)


@pytest.mark.real_server
@pytest.mark.parametrize("extra", [["--cache-type-k", "q8_0", "-ctv", "q8_0", "-fa", "on"], ["-ctk", "q4_0"]])
def test_the_check_before_a_start_reads_the_command_line_as_llama_server_does(llama_server_binary, tmp_path,
                                                                               monkeypatch, extra):
    """check_command() on the very argv the real server then runs: its `-m`, `-c` and cache types
    give the KV cache b11434 allocates, within 10% (the numbers land in the log's rounding)."""
    from realserver.server import LlamaServer

    model = write_tiny_gguf(tmp_path / "shaped.gguf", 131072, layers=4, embedding=256, heads=4, kv_heads=2)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no GPU tool: system memory
    with LlamaServer(llama_server_binary, model, context=20000, extra_args=["-lv", "4", *extra]) as server:
        estimated = fit.check_command(server.argv, None, refuse=True)
        logged = _logged_kv_mib(server.log_text()) * 2**20
    assert estimated.fits and estimated.window == 20000 and estimated.memory.where == "in system memory"
    assert abs(estimated.kv - logged) / logged < 0.10, (estimated.kv, logged)

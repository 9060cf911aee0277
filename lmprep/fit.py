"""Will the model fit the machine at the window asked for? Estimated before any load.

The memory a load needs is taken as the weights plus the KV cache at the window:

    KV bytes = layers x KV heads x (key length x bytes per K element + value length x bytes per V element) x window

which for the usual equal key and value lengths (head size) and one cache type is
2 (K and V) x layers x KV heads x head size x window x bytes per element. The bytes per
element are ggml's block sizes (ggml/src/ggml-common.h): f32 4, f16 and bf16 2, q8_0 34/32
(32 int8 and one f16 scale per block of 32), q4_0 18/32, q4_1 20/32, q5_0 22/32, q5_1 24/32,
iq4_nl 18/32. The head size is the model's `key_length` / `value_length` where it gives them,
else embedding_length / head_count (llama.cpp src/llama-model.cpp `n_embd_head_k`). Where
the metadata gives the KV heads per layer (an array), each layer counts with its own; layers
with a sliding window (gpt-oss, gemma2/3, cohere2: `*.attention.sliding_window`) hold only
that window plus one batch of 512 (llama.cpp src/llama-kv-cache.cpp `size_swa`); hybrid
models with `*.full_attention_interval` have a KV cache only every that many layers. The
window is rounded up to a multiple of 256 cells, as llama.cpp allocates them.
Checked against llama-server b11434, which logs `llama_kv_cache: size = N MiB` at load
(tests/test_fit.py: windows 1,000 to 65,536, f16, q8_0, q4_0 and mixed caches, all within 0.1%,
the log's own rounding). Compute buffers (a few hundred MB on large models) are not counted:
the estimate is a floor, unless the server gives its own (LM Studio's `lms load --estimate-only`,
0.3.27+, which counts them), whose excess over it is added. Ollama runs a model at
`-c num_ctx x OLLAMA_NUM_PARALLEL` (llm/llama_server.go; default 1), so its cache is that many windows.

The metadata comes from the model itself: the key/value section of its GGUF file (read here,
never its tensors: magic `GGUF`, version 2 or 3, tensor count, key/value count, then the
pairs; github.com/ggml-org/ggml docs/gguf.md), or Ollama's `/api/show` `model_info`, which
carries the same keys. The weights are the file's size (Ollama: the `/api/tags` size).

The memory free where the model runs, for a server on this machine only: NVIDIA GPUs
(`nvidia-smi --query-gpu=memory.total,memory.used,memory.free --format=csv,noheader,nounits`,
MiB, summed over the GPUs: llama.cpp and Ollama split layers over them), AMD
(`rocm-smi --showmeminfo vram --json`, bytes, else `amd-smi metric --mem-usage --json`), Apple
unified memory (`sysctl -n hw.memsize`; Metal lets the GPU wire about three quarters of it,
recommendedMaxWorkingSetSize, or `iogpu.wired_limit_mb` where the user set it), else system RAM
(/proc/meminfo MemAvailable). A llama-server command line that keeps the model on the CPU
(`-ngl 0`, `--device none`) is estimated against system RAM.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

#: Bytes per element of each KV cache type (ggml block bytes / block elements).
CACHE_TYPE_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32, "q4_1": 20 / 32,
                    "q5_0": 22 / 32, "q5_1": 24 / 32, "iq4_nl": 18 / 32}
#: llama.cpp rounds the cells of its KV cache up to a multiple of this (b11434: `-c 1000` logs 1024 cells).
CELL_PAD = 256
#: llama.cpp's default micro-batch: a sliding-window layer holds its window plus one of these.
UBATCH = 512
#: Layers with a sliding window, by architecture, where the file does not say (llama.cpp
#: src/llama-model.cpp `set_swa_pattern`): every Nth layer has full attention, the others the window.
SWA_PATTERNS = {"gpt-oss": 2, "gemma2": 2, "gemma3": 6, "gemma3n": 5, "cohere2": 4}
#: Apple silicon: the share of unified memory the GPU may use (Metal's recommendedMaxWorkingSetSize).
APPLE_GPU_SHARE = 0.75
#: Heavier spill than this onto the CPU, under --for, is a warning.
HEAVY_SPILL_PERCENT = 25
GB = 1e9

# -- GGUF ----------------------------------------------------------------------------------------

GGUF_MAGIC = b"GGUF"
#: The most of a file's header read: metadata is kB (the tokenizer's arrays a few MB), never more.
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_KEYS = 100_000
MAX_STRING = 16 * 1024 * 1024
#: Arrays longer than this are skipped over, not kept (the tokenizer's; per-layer values are short).
KEPT_ARRAY = 4096
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


class GGUFError(ValueError):
    """Not a GGUF header lmprep can read (the message says why)."""


class _Reader:
    """Reads a file front to back, never past MAX_HEADER_BYTES."""

    def __init__(self, file) -> None:
        self.file = file
        self.read_bytes = 0

    def take(self, size: int) -> bytes:
        self.read_bytes += size
        if self.read_bytes > MAX_HEADER_BYTES:
            raise GGUFError(f"its header is longer than {MAX_HEADER_BYTES} bytes")
        data = self.file.read(size)
        if len(data) != size:
            raise GGUFError("it ends inside its header")
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        size = self.unpack("<Q")
        if size > MAX_STRING:
            raise GGUFError(f"a string of {size} bytes")
        return self.take(size).decode("utf-8", "replace")

    def value(self, kind: int, depth: int = 0) -> Any:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY and depth == 0:
            item_kind, count = self.unpack("<I"), self.unpack("<Q")
            if item_kind in _SCALARS and count > KEPT_ARRAY:  # skipped in one step, still bounded
                self.take(struct.calcsize(_SCALARS[item_kind]) * count)
                return None
            if item_kind not in _SCALARS and item_kind != _STRING:
                raise GGUFError(f"an array of type {item_kind}")
            if count > KEPT_ARRAY:  # strings read one by one, none kept: the tokenizer's vocabulary
                for _ in range(count):
                    self.value(item_kind, depth + 1)
                return None
            return [self.value(item_kind, depth + 1) for _ in range(count)]
        raise GGUFError(f"a value of type {kind}")


def read_gguf_metadata(path: Path) -> dict[str, Any]:
    """The key/value metadata of a GGUF file (long arrays left out as None); GGUFError or
    OSError when it is no GGUF file. Only a regular file whose name ends in .gguf is opened:
    a path a server names never makes lmprep read anything else."""
    from .files import open_regular

    if not str(path).lower().endswith(".gguf"):
        raise GGUFError("its name does not end in .gguf")
    with open_regular(path) as file:
        reader = _Reader(file)
        if reader.take(4) != GGUF_MAGIC:
            raise GGUFError("it does not start with GGUF")
        version = reader.unpack("<I")
        if version not in (2, 3):
            raise GGUFError(f"GGUF version {version}")
        reader.unpack("<Q")  # tensor count: the tensors themselves are never read
        keys = reader.unpack("<Q")
        if keys > MAX_KEYS:
            raise GGUFError(f"{keys} metadata keys")
        metadata: dict[str, Any] = {}
        for _ in range(keys):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("<I"))
        return metadata


# -- the model's shape, and the estimate -----------------------------------------------------------


#: Layers, KV heads and head sizes above this are no model's (the largest have a few hundred).
MAX_DIMENSION = 1 << 16


class Shape(NamedTuple):
    """What the estimate needs of a model."""

    layers: int
    kv_heads: tuple[int, ...]  # per layer
    key_length: int
    value_length: int
    weights: int | None  # bytes
    sliding_window: int | None = None
    swa_layers: tuple[bool, ...] = ()  # per layer: it holds only the sliding window
    attention_layers: tuple[bool, ...] = ()  # per layer: it has a KV cache at all
    max_context: int | None = None
    file_type: int | None = None  # general.file_type: the weights' quantisation (llama.h `llama_ftype`)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def shape_from_metadata(metadata: Mapping[str, Any], weights: int | None) -> Shape | None:
    """The shape from GGUF keys (``general.architecture``, ``ARCH.block_count``, ...) as a GGUF
    file or Ollama's model_info has them; None where they do not say enough."""
    arch = metadata.get("general.architecture")
    if not isinstance(arch, str):
        return None

    def get(key: str) -> Any:
        return metadata.get(f"{arch}.{key}")

    layers, heads, embedding = _int(get("block_count")), get("attention.head_count"), _int(get("embedding_length"))
    kv = get("attention.head_count_kv")
    if not layers or layers > MAX_DIMENSION:
        return None
    per_layer = lambda value: (tuple(_int(v) or 0 for v in value[:layers]) if isinstance(value, list)  # noqa: E731
                               else (_int(value),) * layers if _int(value) is not None else None)
    kv_heads = per_layer(kv) if kv is not None else per_layer(heads)
    head_counts = per_layer(heads)
    if kv_heads is None or len(kv_heads) != layers:
        return None
    top_heads = max(head_counts or (0,))
    key_length = _int(get("attention.key_length")) or (embedding // top_heads if embedding and top_heads else None)
    value_length = _int(get("attention.value_length")) or key_length
    if not all(0 < length <= MAX_DIMENSION for length in (key_length or 0, value_length or 0)) \
            or max(kv_heads) > MAX_DIMENSION:
        return None  # no model has such a shape: a server's nonsense, not an estimate
    window = _int(get("attention.sliding_window")) or None
    pattern = get("attention.sliding_window_pattern")
    if window and isinstance(pattern, list) and len(pattern) >= layers:
        swa = tuple(bool(item) for item in pattern[:layers])
    elif window and arch in SWA_PATTERNS:
        every = SWA_PATTERNS[arch]
        swa = tuple((index + 1) % every != 0 for index in range(layers))
    else:
        swa = ()
    interval = _int(get("full_attention_interval"))
    attention = tuple((index + 1) % interval == 0 for index in range(layers)) if interval else ()
    file_type = metadata.get("general.file_type")
    return Shape(layers, kv_heads, key_length, value_length, weights, window if swa else None, swa, attention,
                 _int(get("context_length")) or None, _int(file_type))


def kv_cache_bytes(shape: Shape, window: int, k_type: str = "f16", v_type: str = "f16") -> float:
    """The KV cache of ``shape`` at ``window`` tokens (see the module's docstring)."""
    k_bytes, v_bytes = CACHE_TYPE_BYTES[k_type], CACHE_TYPE_BYTES[v_type]
    window = -(-window // CELL_PAD) * CELL_PAD
    total = 0.0
    for index, heads in enumerate(shape.kv_heads):
        if shape.attention_layers and not shape.attention_layers[index]:
            continue
        cells = window
        if shape.swa_layers and shape.swa_layers[index] and shape.sliding_window:
            cells = min(window, shape.sliding_window + UBATCH)
        total += heads * (shape.key_length * k_bytes + shape.value_length * v_bytes) * cells
    return total


def needed_bytes(shape: Shape, window: int, k_type: str = "f16", v_type: str = "f16") -> float:
    return (shape.weights or 0) + kv_cache_bytes(shape, window, k_type, v_type)


def largest_window(shape: Shape, free: float, k_type: str = "f16", v_type: str = "f16") -> int:
    """The largest window (a multiple of 1024 tokens) whose load fits ``free`` bytes; 0: none."""
    low, high = 0, (shape.max_context or 1 << 24) // 1024
    while low < high:
        middle = (low + high + 1) // 2
        if needed_bytes(shape, middle * 1024, k_type, v_type) <= free:
            low = middle
        else:
            high = middle - 1
    return low * 1024


#: The weights' quantisations (general.file_type, llama.cpp include/llama.h `llama_ftype`) above
#: Q4_K_M, by name and bits per weight (llama.cpp tools/quantize: the sizes it lists for each).
#: At Q4_K_M and below a smaller quantisation costs an agent more than it saves: not offered.
FILE_TYPES = {0: ("F32", 32.0), 1: ("F16", 16.0), 32: ("BF16", 16.0), 7: ("Q8_0", 8.5), 18: ("Q6_K", 6.56),
              17: ("Q5_K_M", 5.69), 16: ("Q5_K_S", 5.54), 9: ("Q5_1", 6.0), 8: ("Q5_0", 5.5), 3: ("Q4_1", 5.0)}
Q4_K_M_BITS = 4.89


# -- the memory free where the model runs -----------------------------------------------------------


class Memory(NamedTuple):
    free: float  # bytes the model can take
    total: float | None
    where: str  # "on the GPU (NVIDIA)", "in system memory", ...
    gpu: bool  # the model runs on a GPU: what does not fit spills onto the CPU


Runner = Callable[[list[str]], str | None]


def run_tool(argv: list[str]) -> str | None:
    """``argv``'s stdout where the program is on PATH and succeeds within 5 s; else None."""
    from .proc import run_captured

    program = shutil.which(argv[0])
    if program is None:
        return None
    try:
        result = run_captured([program, *argv[1:]], timeout=5.0, doing=f"asking {argv[0]} about memory")
    except (OSError, TimeoutError, ValueError):
        return None
    return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else None


def free_memory(run: Runner = run_tool, meminfo: Path = Path("/proc/meminfo")) -> Memory | None:
    """The memory a model loaded on this machine can take, from the first source that answers;
    None where none does."""
    for probe in (_nvidia, _rocm, _amd_smi, _apple):
        memory = probe(run)
        if memory is not None:
            return memory
    return _system(meminfo)


def _nvidia(run: Runner) -> Memory | None:
    out = run(["nvidia-smi", "--query-gpu=memory.total,memory.used,memory.free", "--format=csv,noheader,nounits"])
    rows = [[part.strip() for part in line.split(",")] for line in (out or "").splitlines() if line.strip()]
    try:
        gpus = [(float(total), float(free)) for total, _used, free in rows]
    except ValueError:
        return None
    if not gpus:
        return None
    mib = 1024 * 1024
    count = f"{len(gpus)} NVIDIA GPUs" if len(gpus) > 1 else "the NVIDIA GPU"
    return Memory(sum(free for _, free in gpus) * mib, sum(total for total, _ in gpus) * mib, f"on {count}", True)


def _rocm(run: Runner) -> Memory | None:
    try:
        cards = json.loads(run(["rocm-smi", "--showmeminfo", "vram", "--json"]) or "null")
    except (ValueError, RecursionError):
        return None
    totals = frees = 0.0
    found = 0
    for card in cards.values() if isinstance(cards, dict) else ():
        if not isinstance(card, dict):
            continue
        total = _number(card.get("VRAM Total Memory (B)"))
        used = _number(card.get("VRAM Total Used Memory (B)"))
        if total is not None and used is not None:
            totals, frees, found = totals + total, frees + max(0.0, total - used), found + 1
    if not found:
        return None
    return Memory(frees, totals, f"on {found} AMD GPUs" if found > 1 else "on the AMD GPU", True)


def _amd_smi(run: Runner) -> Memory | None:
    try:
        gpus = json.loads(run(["amd-smi", "metric", "--mem-usage", "--json"]) or "null")
    except (ValueError, RecursionError):
        return None
    if isinstance(gpus, dict):
        gpus = gpus.get("gpu_data", [gpus])
    totals = frees = 0.0
    found = 0
    for gpu in gpus if isinstance(gpus, list) else ():
        usage = gpu.get("mem_usage") if isinstance(gpu, dict) else None
        if not isinstance(usage, dict):
            continue
        total, free = _amount(usage.get("total_vram")), _amount(usage.get("free_vram"))
        if total is not None and free is not None:
            totals, frees, found = totals + total, frees + free, found + 1
    if not found:
        return None
    return Memory(frees, totals, f"on {found} AMD GPUs" if found > 1 else "on the AMD GPU", True)


def _apple(run: Runner) -> Memory | None:
    total = _number((run(["sysctl", "-n", "hw.memsize"]) or "").strip())
    if not total:
        return None
    # macOS 14+ lets the user raise (or lower) what the GPU may wire: `sudo sysctl
    # iogpu.wired_limit_mb=N`; 0, the default, leaves Metal's own share. Older macOS has no such key.
    limit = _number((run(["sysctl", "-n", "iogpu.wired_limit_mb"]) or "").strip())
    share = min(limit * 2**20, total) if limit else total * APPLE_GPU_SHARE
    return Memory(share, total, "for the GPU in unified memory", True)


def _system(meminfo: Path) -> Memory | None:
    from .files import read_regular

    try:
        text = read_regular(meminfo, 64 * 1024).decode("ascii", "replace")
    except OSError:
        return None
    values = {match[1]: float(match[2]) * 1024 for match in re.finditer(r"^(\w+):\s+(\d+) kB", text, re.M)}
    if "MemAvailable" not in values:
        return None
    return Memory(values["MemAvailable"], values.get("MemTotal"), "in system memory", False)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0 <= number < 1e18 else None


def _amount(value: Any) -> float | None:
    """amd-smi's {"value": 16368, "unit": "MB"} (MB as amd-smi means it: MiB), in bytes."""
    if not isinstance(value, dict):
        return None
    number = _number(value.get("value"))
    units = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}
    unit = units.get(str(value.get("unit", "MB")).upper())
    return None if number is None or unit is None else number * unit


# -- the check --------------------------------------------------------------------------------------


#: A model whose shape is not known, only the server's own estimate of its load (ModelFacts.overhead).
UNKNOWN_SHAPE = Shape(0, (), 0, 0, None)


class ModelFacts(NamedTuple):
    """What a provider found out about a model for the estimate."""

    shape: Shape
    k_type: str = "f16"
    v_type: str = "f16"
    cache_source: str = ""  # where the cache type came from, for the message ("" for the default)
    window: int | None = None  # the window the server loads it with when none is asked for, where known
    parallel: int = 1  # the server allocates the window this many times (Ollama: OLLAMA_NUM_PARALLEL)
    overhead: float = 0.0  # bytes the server's own estimate adds to weights + KV cache (compute buffers, ...)
    overhead_source: str = ""  # whose estimate that is, for the message (`lms load --estimate-only`)


class Fit(NamedTuple):
    model: str
    window: int
    needed: float
    weights: float
    kv: float
    memory: Memory
    facts: ModelFacts

    @property
    def fits(self) -> bool:
        return self.needed <= self.memory.free


def facts_needed(facts: ModelFacts, window: int, k_type: str | None = None, v_type: str | None = None) -> float:
    """What a load of ``facts``' model at ``window`` needs: weights, KV cache (of every parallel
    sequence), and what the server's own estimate adds."""
    return needed_bytes(facts.shape, window * facts.parallel, k_type or facts.k_type,
                        v_type or facts.v_type) + facts.overhead


def estimate(facts: ModelFacts, model: str, window: int, memory: Memory) -> Fit:
    shape = facts.shape
    kv = kv_cache_bytes(shape, window * facts.parallel, facts.k_type, facts.v_type)
    return Fit(model, window, (shape.weights or 0) + kv + facts.overhead, shape.weights or 0, kv, memory, facts)


def largest_fitting_window(facts: ModelFacts, free: float) -> int:
    """largest_window() for ``facts``: its parallel sequences and the server's overhead counted."""
    shape = facts.shape
    per_sequence = largest_window(shape._replace(max_context=(shape.max_context or 1 << 24) * facts.parallel),
                                  free - facts.overhead, facts.k_type, facts.v_type) // facts.parallel
    per_sequence = per_sequence // 1024 * 1024
    return min(per_sequence, shape.max_context or per_sequence)


def gb(value: float) -> str:
    """Bytes as people read a memory figure: GB (10^9 bytes), MB below one GB."""
    return f"{value / GB:.1f} GB" if value >= GB else f"{value / 1e6:.1f} MB"


def fit_statement(fit: Fit) -> str:
    """"qwen3-coder:30b at 65,536 tokens needs ~24.1 GB (...), 15.2 GB free on the NVIDIA GPU"."""
    facts = fit.facts
    if not facts.shape.layers:  # the server's own figure only
        return (f"{fit.model} at {fit.window:,} tokens needs ~{gb(fit.needed)} (as {facts.overhead_source} counts "
                f"it), {gb(fit.memory.free)} free {fit.memory.where}")
    cache = facts.k_type if facts.k_type == facts.v_type else f"K {facts.k_type}, V {facts.v_type}"
    parallel = f" x {facts.parallel} parallel sequences" if facts.parallel > 1 else ""
    more = f", {gb(facts.overhead)} more as {facts.overhead_source} counts it" if facts.overhead >= 1e6 else ""
    return (f"{fit.model} at {fit.window:,} tokens{parallel} needs ~{gb(fit.needed)} ({gb(fit.weights)} of weights, "
            f"{gb(fit.kv)} of {cache} KV cache{more}), {gb(fit.memory.free)} free {fit.memory.where}")


def does_not_fit(fit: Fit, label: str, refused: bool) -> str:
    """The statement of a load that will not fit, and what then happens."""
    outcome = ("spill it onto the CPU (every turn crawls) or fail to load it" if fit.memory.gpu
               else "push the machine into swap (every turn crawls) or fail to load it")
    if refused:
        return f"{fit_statement(fit)}: it does not fit, so {label} would {outcome}."
    return f"{fit_statement(fit)}: it will not fit, and {label} will {outcome}."


def ways_out(kind: str, fit: Fit | None, ignore_hint: bool = True) -> str:
    """What makes it fit on this server, each with its exact setting (numbers where ``fit`` is known)."""
    ways = []
    q8 = None
    if fit is not None and not fit.facts.shape.layers:
        fit = None  # no shape: no figures for the ways out, only the settings
    if fit is not None:
        q8 = estimate(fit.facts._replace(k_type="q8_0", v_type="q8_0"), fit.model, fit.window, fit.memory)
    needs_q8 = f" (~{gb(q8.needed)}{', fits' if q8.fits else ''})" if q8 is not None else ""
    cannot = head_size_problem(fit.facts.shape) if fit is not None else None
    if fit is not None and CACHE_TYPE_BYTES[fit.facts.k_type] <= CACHE_TYPE_BYTES["q8_0"]:
        pass  # quantised already
    elif cannot:
        pass  # said after the ways out: a load with it would fail
    elif kind == "llamacpp":
        ways.append(f"a quantised KV cache: start llama-server with `-ctk q8_0 -ctv q8_0 -fa on`{needs_q8}")
    elif kind == "ollama":
        # OLLAMA_FLASH_ATTENTION=1 too: with it at 0 the quantised cache does not load (HTTP 500).
        unknown = "" if fit is not None else f" (for a model whose attention head size is a multiple of {CACHE_BLOCK})"
        ways.append("a quantised KV cache: start Ollama with `OLLAMA_FLASH_ATTENTION=1 OLLAMA_KV_CACHE_TYPE=q8_0 "
                    f"ollama serve`{needs_q8}{unknown}")
    elif kind == "lmstudio":
        ways.append("a quantised KV cache: in LM Studio's load settings turn Flash Attention on and set the K and V "
                    f"Cache Quantization Type to Q8_0{needs_q8}")
    quantised = fit.facts.shape.file_type if fit is not None else None
    if quantised in FILE_TYPES and fit is not None and fit.weights:
        name, bits = FILE_TYPES[quantised]
        smaller = estimate(fit.facts._replace(shape=fit.facts.shape._replace(weights=fit.weights * Q4_K_M_BITS / bits)),
                           fit.model, fit.window, fit.memory)
        ways.append(f"a smaller quantisation of the model (it is {name}; at Q4_K_M it needs "
                    f"~{gb(smaller.needed)}{', fits' if smaller.fits else ''})")
    elif quantised is None or fit is None:
        ways.append("a smaller quantisation of the model (Q4_K_M rather than Q8_0)")
    ways.append("a smaller model")
    if fit is not None:
        largest = largest_fitting_window(fit.facts, fit.memory.free)
        if 0 < largest < fit.window:
            ways.append(f"the largest window that fits: {largest:,} tokens (`--min-context {largest}`)")
    text = "Ways out: " + "; ".join(ways) + "."
    if cannot:
        text += f" A quantised KV cache is none for this model: {cannot}, and the load would fail."
    if ignore_hint:
        text += " To load it anyway, pass --ignore-fit (or `ignore_fit = true` in the config file)."
    return text


def check_fit(provider, model: str, window: int | None, refuse: bool, run: Runner = run_tool,
              loaded_window: int | None = None) -> Fit | None:
    """Estimate the load of ``model`` at ``window`` tokens on ``provider``'s machine. Returns the
    Fit (None where it cannot be estimated: a server on another machine, no metadata, no memory
    figure); raises ContextTooSmallError where it does not fit and ``refuse``. ``loaded_window``:
    the model is loaded now with that window, and the load replaces it (its memory is freed first)."""
    from .hosts import is_loopback_url

    if not is_loopback_url(provider.base_url):
        return None  # another machine's memory is not this one's
    facts = provider.fit_facts(model)
    if not window and facts is not None and facts.window:
        # The server's own window; b11434 caps one above the model's training window to it.
        window = min(facts.window, facts.shape.max_context or facts.window)
    if not window:
        return None
    memory = free_memory(run)
    if memory is None:
        return None
    # The server's own estimate where it offers one (LM Studio's `lms load --estimate-only`):
    # what it adds to weights + KV cache (compute buffers, a vision projector) counts too; for a
    # model without a GGUF header lmprep reads (LM Studio's MLX models) it is the only figure.
    own = provider.server_estimate(model, window)
    if facts is None and own is not None:
        facts = ModelFacts(UNKNOWN_SHAPE, overhead=own[0], overhead_source=own[1])
    elif facts is not None and own is not None and own[0] > facts_needed(facts, window):
        facts = facts._replace(overhead=own[0] - facts_needed(facts, window), overhead_source=own[1])
    if facts is None:
        return None
    freed = provider.reclaimable_bytes(model, memory.gpu)
    if loaded_window:
        freed += facts_needed(facts, loaded_window)
    return judge(facts, model, window, memory, provider.label, provider.kind, refuse, freed)


def judge(facts: ModelFacts, model: str, window: int, memory: Memory, label: str, kind: str, refuse: bool,
          freed: float = 0.0) -> Fit:
    """The Fit of ``facts``' model at ``window`` in ``memory`` (plus the ``freed`` bytes the load
    frees first); ContextTooSmallError with the numbers and the ways out where it does not fit
    and ``refuse``."""
    if freed:
        memory = memory._replace(free=memory.free + freed,
                                 where=f"{memory.where} (counting the {gb(freed)} {label} frees for it)")
    fit = estimate(facts, model, window, memory)
    if not fit.fits and refuse:
        from .errors import ContextTooSmallError

        raise ContextTooSmallError(does_not_fit(fit, label, refused=True), ways_out(kind, fit))
    return fit


def check_command(argv: list[str] | tuple[str, ...], window: int | None, refuse: bool, run: Runner = run_tool,
                  label: str = "llama-server") -> Fit | None:
    """Before lmprep starts llama-server with ``argv`` (its `-m` file, `-c`, `-ctk`/`-ctv`):
    the estimate of that load, as check_fit() gives it for a load on a running server. ``window``:
    the window required (None: the command's own `-c`). None where it cannot be estimated (no
    `-m` file lmprep can read, router mode, no memory figure)."""
    args = [str(arg) for arg in argv]
    facts = llama_server_facts(args)
    if facts is None:
        return None
    window = window or facts.window or facts.shape.max_context
    memory = free_memory(run) if window else None
    if memory is None or not window:
        return None
    if uses_cpu_only(args):
        memory = _system(Path("/proc/meminfo")) if memory.gpu else memory
        if memory is None:
            return None
    pairs = _pairs(args)
    model = next((value for flag, value in pairs if flag in ("-a", "--alias")), None) \
        or Path(next(value for flag, value in pairs if flag in ("-m", "--model"))).stem
    return judge(facts, model, window, memory, label, "llamacpp", refuse)


#: llama.cpp src/llama-model.cpp `load_tensors`, logged only where a GPU backend is built in
#: (`llama_supports_gpu_offload()`): "load_tensors: offloaded 25/49 layers to GPU"; the total is
#: block_count + 1 (the output layer). A CPU-only build (as b11434 on a machine without a GPU,
#: checked by tests/test_fit.py) logs no such line: nothing spilled, it runs where it was built to.
_OFFLOADED = re.compile(r"offloaded (\d{1,6})/(\d{1,6}) layers to GPU")
#: The most of a server's log read for it: the line comes with the load, in its first lines.
MAX_LOG_BYTES = 16 * 1024 * 1024


def offloaded_layers(log: str) -> tuple[int, int] | None:
    """(layers on the GPU, layers) from the last load a llama-server log records; None where it
    says nothing of offloading."""
    found = _OFFLOADED.findall(log)
    if not found:
        return None
    done, total = (int(part) for part in found[-1])
    return (min(done, total), total) if total else None


def uses_cpu_only(args: list[str] | tuple[str, ...]) -> bool:
    """A llama-server command line that puts the model on the CPU by choice (`-ngl 0`,
    `--device none`): its memory is system memory, and nothing on the CPU is a spill."""
    for flag, value in _pairs(args):
        if flag in ("-ngl", "--n-gpu-layers", "--gpu-layers") and value.strip() == "0":
            return True
        if flag in ("-dev", "--device") and value.strip().lower() == "none":
            return True
    return False


def log_cpu_percent(log: str, args: list[str] | tuple[str, ...] = ()) -> int | None:
    """The share (in %) of a model llama-server runs on the CPU because it did not fit on the
    GPU, from its load log; None where the log does not say (no GPU backend) or where the
    command line chose the split itself (an explicit `-ngl N`, `--device none`): a choice is no
    spill. b11434's --fit (on by default) lowers the GPU layers itself when memory is short."""
    layers = offloaded_layers(log)
    if layers is None or uses_cpu_only(args):
        return None
    done, total = layers
    if done >= total:
        return 0
    chosen = any(flag in ("-ngl", "--n-gpu-layers", "--gpu-layers") and value.strip().isdigit()
                 for flag, value in _pairs(args))
    return None if chosen else max(1, round(100 * (total - done) / total))


def read_log(path: Path) -> str | None:
    """The start of a server's log file (a regular file only, at most MAX_LOG_BYTES); None where it cannot be read."""
    from .files import open_regular

    try:
        with open_regular(path) as file:
            return file.read(MAX_LOG_BYTES).decode("utf-8", "replace")
    except (OSError, ValueError):
        return None


def _pairs(args: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """(flag, value) of a llama-server command line. Only `--flag value`: b11434 refuses
    `--flag=value` ("error: invalid argument: --port=8080") and does not start."""
    args = list(args)
    return list(zip(args, args[1:]))


def cache_types_from_args(args: list[str]) -> tuple[str, str]:
    """The KV cache types a llama-server command line sets (`-ctk`/`--cache-type-k`, `-ctv`/`--cache-type-v`)."""
    types = {"k": "f16", "v": "f16"}
    for flag, value in _pairs(args):
        for which in "kv":
            if flag in (f"-ct{which}", f"--cache-type-{which}") and value in CACHE_TYPE_BYTES:
                types[which] = value
    return types["k"], types["v"]


def llama_server_facts(args: list[str]) -> ModelFacts | None:
    """The facts of the model a llama-server command line (a router model's `status.args`)
    loads: its `--model` file, its cache types, its `--ctx-size`."""
    path = window = None
    for flag, value in _pairs(args):
        if flag in ("-m", "--model"):
            path = value
        elif flag in ("-c", "--ctx-size") and value.isdigit():
            window = int(value) or None  # 0: the model's own (training) window
    if path is None:
        return None
    k_type, v_type = cache_types_from_args(args)
    return gguf_facts(Path(path), k_type, v_type, "llama-server's -ctk/-ctv" if (k_type, v_type) != ("f16", "f16")
                      else "", window)


def ollama_cache_type(environ: Mapping[str, str] | None = None) -> str:
    """Ollama's KV cache type as a server started from this environment takes it (OLLAMA_KV_CACHE_TYPE,
    lower-cased and handed to llama-server as `--cache-type-k/-v` whatever it is: llm/server.go;
    checked against Ollama v0.33.0-rc2 built from source); f16 where unset or not a type lmprep
    can size."""
    value = (os.environ if environ is None else environ).get("OLLAMA_KV_CACHE_TYPE", "").strip().strip("\"'").lower()
    return value if value in CACHE_TYPE_BYTES else "f16"


#: OLLAMA_FLASH_ATTENTION values that turn flash attention off: strconv.ParseBool's false ones.
#: Any other value that is not blank turns it on, `off` and `no` too (envconfig.BoolWithDefault).
_PARSEBOOL_FALSE = ("0", "f", "F", "false", "False", "FALSE")


def ollama_flash_attention_off(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a server started from this environment has flash attention turned off by the
    user (OLLAMA_FLASH_ATTENTION=0); unset, Ollama passes `--flash-attn auto`."""
    value = (os.environ if environ is None else environ).get("OLLAMA_FLASH_ATTENTION", "").strip().strip("\"'")
    return value in _PARSEBOOL_FALSE


def quantised(cache_type: str) -> bool:
    return CACHE_TYPE_BYTES.get(cache_type, 2.0) < 2.0


#: The block every quantised cache type packs values in (q8_0, q4_0, q4_1, q5_0, q5_1, iq4_nl: 32).
CACHE_BLOCK = 32


def head_size_problem(shape: Shape, k_type: str = "q8_0", v_type: str = "q8_0") -> str | None:
    """Why llama.cpp cannot make a K/V cache of these types for a model of ``shape``: a quantised
    type packs a head's values in blocks of 32, so the head size must be a multiple of 32
    (llama-context.cpp; Ollama v0.33.0-rc2 built from source answers a load of a model with head
    size 16 and q8_0 with HTTP 500 `K cache type q8_0 with block size 32 does not divide
    n_embd_head_k=16`). None where it can (or the head size is not known)."""
    for which, cache_type, size in (("key", k_type, shape.key_length), ("value", v_type, shape.value_length)):
        if quantised(cache_type) and size and size % CACHE_BLOCK:
            return (f"its attention heads' {which} length ({size}) is not a multiple of {CACHE_BLOCK}, "
                    f"which a {cache_type} cache needs")
    return None


def ollama_cache_problem(shape: Shape | None, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """Why an Ollama started with ``environ`` (known only for one lmprep started) fails to load a
    model of ``shape`` whatever its window, as (what, what to do); None where nothing says it does.
    Checked against Ollama v0.33.0-rc2 built from source: OLLAMA_KV_CACHE_TYPE=q8_0 with
    OLLAMA_FLASH_ATTENTION=0 is HTTP 500 `quantized V cache requires flash_attn to be enabled`
    (q8_0 alone has Ollama pass `--flash-attn auto`, which turns it on); q8_0 or q4_0 with a
    head size that is not a multiple of 32 is HTTP 500 too."""
    cache = ollama_cache_type(environ)
    if not quantised(cache):
        return None
    if ollama_flash_attention_off(environ):
        shown = environ.get("OLLAMA_FLASH_ATTENTION", "").strip()
        return (f"OLLAMA_KV_CACHE_TYPE={cache} needs flash attention, and OLLAMA_FLASH_ATTENTION={shown} turns it off",
                f"Unset OLLAMA_FLASH_ATTENTION={shown} (or set it to 1), or unset OLLAMA_KV_CACHE_TYPE")
    problem = head_size_problem(shape, cache, cache) if shape is not None and shape.layers else None
    if problem:
        return (f"OLLAMA_KV_CACHE_TYPE={cache} cannot hold this model's cache: {problem}",
                "Unset OLLAMA_KV_CACHE_TYPE (or set it to f16)")
    return None


def ollama_parallel(environ: Mapping[str, str] | None = None) -> int:
    """The sequences Ollama allocates a window for, as a server started from this environment
    takes them (OLLAMA_NUM_PARALLEL, default 1): it runs its model at `-c num_ctx x parallel`
    (llm/llama_server.go), so the KV cache is that many windows."""
    value = (os.environ if environ is None else environ).get("OLLAMA_NUM_PARALLEL", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 256 else 1


def ollama_default_window(environ: Mapping[str, str] | None = None) -> int | None:
    """The window Ollama loads a model with when a request names none, where this environment
    says it (OLLAMA_CONTEXT_LENGTH); without it Ollama picks one by VRAM (4k under 24 GiB). Only
    digits: `8k` is no number to Ollama (checked against v0.33.0-rc2 built from source: it warns
    and keeps its default), and a window above the model's training one is capped to it."""
    value = (os.environ if environ is None else environ).get("OLLAMA_CONTEXT_LENGTH", "").strip()
    return int(value) if value.isdigit() and 0 < int(value) <= 1 << 24 else None


def _weights_size(path: Path, metadata: Mapping[str, Any]) -> int:
    """The bytes of the model's weights: its file, or, for a model split by llama.cpp's
    gguf-split (`NAME-00001-of-00003.gguf`, `split.count` in the first part's header), all its parts."""
    count = _int(metadata.get("split.count"))
    found = re.fullmatch(r"(.+)-(\d{5})-of-(\d{5})\.gguf", path.name, re.IGNORECASE)
    if not count or count < 2 or count > 999 or not found or int(found[3]) != count:
        return os.stat(path).st_size
    return sum(os.stat(path.with_name(f"{found[1]}-{index:05d}-of-{found[3]}.gguf")).st_size
               for index in range(1, count + 1))


def gguf_facts(path: Path, k_type: str = "f16", v_type: str = "f16", source: str = "",
               window: int | None = None) -> ModelFacts | None:
    """The estimate's facts from a GGUF file; None where it is not one lmprep can read (or a
    relative path, which would be read from lmprep's folder, not the server's)."""
    if not path.is_absolute():
        return None
    try:
        metadata = read_gguf_metadata(path)
        size = _weights_size(path, metadata)
    except (OSError, GGUFError):
        return None
    shape = shape_from_metadata(metadata, size)
    return None if shape is None else ModelFacts(shape, k_type, v_type, source, window)


__all__ = ["CACHE_TYPE_BYTES", "Fit", "Memory", "ModelFacts", "Shape", "check_command", "check_fit", "free_memory",
           "kv_cache_bytes", "largest_window", "log_cpu_percent", "offloaded_layers", "read_gguf_metadata",
           "shape_from_metadata", "ways_out"]

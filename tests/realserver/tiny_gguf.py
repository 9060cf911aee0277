"""Write a tiny, random-weight, llama-architecture GGUF model for tests.

The model is useless as a language model (its weights are seeded noise) but it is
a valid GGUF that ``llama-server`` loads in milliseconds and serves on every
endpoint.  It never reliably emits end-of-sequence, so always cap output tokens.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "CHATML_TEMPLATE",
    "N_CTX_TRAIN_DEFAULT",
    "tiny_vocab",
    "write_tiny_gguf",
]

N_CTX_TRAIN_DEFAULT = 2048

# Model shape.
_N_LAYER = 2
_N_EMBD = 64
_N_HEAD = 4
_N_HEAD_KV = 2
_N_FF = 128
_HEAD_DIM = _N_EMBD // _N_HEAD
_SEED = 20240611

# Token types as stored in tokenizer.ggml.token_type (GGUF spec).
_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

_SPACE = "\u2581"  # SentencePiece's word-boundary marker
_WORDS = (
    "the", "a", "an", "and", "or", "of", "to", "in", "is", "it", "you", "I", "we", "that",
    "this", "for", "on", "with", "as", "are", "be", "was", "not", "hello", "Hello", "hi",
    "world", "model", "server", "local", "ready", "test", "yes", "no", "ok", "OK", "user",
    "assistant", "system", "say", "what", "how", "why", "who", "can", "do", "does", "one",
    "two", "three", "four", "five",
)


def tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    """Return ``(tokens, scores, token_types)`` of the tiny SentencePiece-style vocabulary.

    Ids 0/1/2 are ``<unk>``/``<s>``/``</s>``, 3/4 are ``<|im_start|>``/``<|im_end|>``,
    then the 256 byte-fallback tokens ``<0x00>``..``<0xFF>``, then word pieces.
    """
    tokens: list[str] = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    types: list[int] = [_UNKNOWN, _CONTROL, _CONTROL, _CONTROL, _CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(_BYTE)

    pieces: list[str] = [_SPACE]
    pieces += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    pieces += [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    pieces += [str(d) for d in range(10)]
    pieces += list(".,!?:;'\"-()")
    pieces += [_SPACE + w for w in _WORDS]
    pieces += [w for w in _WORDS if w.islower() and len(w) > 1]
    seen = set(tokens)
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(_NORMAL)

    # SentencePiece scores: higher merges first.  Longer pieces win, ties by order.
    scores = [0.0] * len(tokens)
    for i, (tok, typ) in enumerate(zip(tokens, types)):
        if typ == _NORMAL:
            scores[i] = float(len(tok)) * 10.0 - i * 0.001
    return tokens, scores, types


def write_tiny_gguf(path: Path, context_length: int = N_CTX_TRAIN_DEFAULT, *, layers: int = _N_LAYER,
                    embedding: int = _N_EMBD, heads: int = _N_HEAD, kv_heads: int = _N_HEAD_KV) -> Path:
    """Write the tiny model to ``path`` (atomically) and return ``path``. ``layers``, ``embedding``,
    ``heads`` and ``kv_heads`` change its shape (a quantised KV cache wants a head size of a
    multiple of 32: ``embedding / heads``).

    Deterministic: the same arguments always produce byte-identical files.
    """
    head_dim = embedding // heads
    import gguf  # imported lazily: only needed when a model is actually written

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tokens, scores, types = tiny_vocab()
    n_vocab = len(tokens)
    rng = np.random.default_rng(_SEED)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    def ones(n: int) -> np.ndarray:
        return np.ones(n, dtype=np.float32)

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    writer = gguf.GGUFWriter(tmp, "llama")
    try:
        writer.add_name("lmprep tiny test model")
        writer.add_file_type(gguf.LlamaFileType.ALL_F32)
        writer.add_context_length(context_length)
        writer.add_embedding_length(embedding)
        writer.add_block_count(layers)
        writer.add_feed_forward_length(_N_FF)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_rope_dimension_count(head_dim)
        writer.add_rope_freq_base(10000.0)
        writer.add_layer_norm_rms_eps(1e-5)
        writer.add_vocab_size(n_vocab)

        writer.add_tokenizer_model("llama")
        writer.add_token_list(tokens)
        writer.add_token_scores(scores)
        writer.add_token_types(types)
        writer.add_unk_token_id(0)
        writer.add_bos_token_id(1)
        writer.add_eos_token_id(2)
        writer.add_add_bos_token(False)
        writer.add_add_eos_token(False)
        writer.add_chat_template(CHATML_TEMPLATE)

        # numpy shapes are (rows, cols); GGUF stores them reversed, as llama.cpp expects.
        writer.add_tensor("token_embd.weight", rand(n_vocab, embedding))
        for i in range(layers):
            p = f"blk.{i}."
            writer.add_tensor(p + "attn_norm.weight", ones(embedding))
            writer.add_tensor(p + "attn_q.weight", rand(heads * head_dim, embedding))
            writer.add_tensor(p + "attn_k.weight", rand(kv_heads * head_dim, embedding))
            writer.add_tensor(p + "attn_v.weight", rand(kv_heads * head_dim, embedding))
            writer.add_tensor(p + "attn_output.weight", rand(embedding, heads * head_dim))
            writer.add_tensor(p + "ffn_norm.weight", ones(embedding))
            writer.add_tensor(p + "ffn_gate.weight", rand(_N_FF, embedding))
            writer.add_tensor(p + "ffn_up.weight", rand(_N_FF, embedding))
            writer.add_tensor(p + "ffn_down.weight", rand(embedding, _N_FF))
        writer.add_tensor("output_norm.weight", ones(embedding))
        writer.add_tensor("output.weight", rand(n_vocab, embedding))

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    try:
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path

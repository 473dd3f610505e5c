"""Tiny GGUF files and hand-made GGUF headers for the tests (nothing is downloaded)."""

from __future__ import annotations

import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np


def write_tiny_llama(
    path: Path, vocab: int = 64, hidden: int = 16, blocks: int = 2, ff: int = 32, seed: int = 0
) -> Path:
    """A random llama that transformers loads from GGUF: F32 tensors, a byte-level BPE
    vocabulary of printable ASCII characters (no merges), no chat template."""
    import gguf

    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny")
    w.add_context_length(64)
    w.add_embedding_length(hidden)
    w.add_block_count(blocks)
    w.add_feed_forward_length(ff)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_rope_dimension_count(hidden // 2)
    w.add_layer_norm_rms_eps(1e-5)
    tokens = ["<|endoftext|>"] + [chr(c) for c in range(33, 33 + vocab - 1)]
    w.add_tokenizer_model("gpt2")
    w.add_token_list(tokens)
    w.add_token_merges([])
    w.add_token_scores([0.0] * vocab)
    w.add_token_types([3] + [1] * (vocab - 1))
    w.add_bos_token_id(0)
    w.add_eos_token_id(0)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    w.add_tensor("token_embd.weight", rand(vocab, hidden))
    for i in range(blocks):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        for name in ("q", "k", "v", "output"):
            w.add_tensor(f"blk.{i}.attn_{name}.weight", rand(hidden, hidden))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(ff, hidden))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(ff, hidden))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(hidden, ff))
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def header_bytes(
    version: int = 3,
    n_tensors: int = 0,
    n_kv: int = 0,
    body: bytes = b"",
    magic: bytes = b"GGUF",
) -> bytes:
    """A hand-made GGUF header: magic, version, counts, then ``body`` as given."""
    return magic + struct.pack("<IQQ", version, n_tensors, n_kv) + body


def gguf_string(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def fake_packaged_model(
    model_id: str, n_parts: int, sha256: str, size: int, blocks: int, hidden: int, vocab: int
) -> Any:
    """A packaged llama whose parts are ``fakepart_N/data/partNN.bin``, pinned ``fakepart-N``."""
    from sara_core.models import packaged_data as pd

    pins = [f"fakepart-{i}==1.0" for i in range(1, n_parts + 1)]
    return pd.PackagedModel(
        id=model_id,
        title=model_id.title(),
        upstream="https://example.org",
        licence="MIT",
        licence_url="https://example.org/licence",
        note="",
        architecture="llama",
        blocks=blocks,
        hidden=hidden,
        vocab=vocab,
        chat_template=False,
        packages=tuple(pins),
        parts=tuple(
            pd.Part(f"fakepart_{i}", f"data/part{i:02d}.bin", pins[i - 1])
            for i in range(1, n_parts + 1)
        ),
        sha256=sha256,
        size=size,
    )


def packaged_tiny(tiny_gguf: Path, fake_parts: Any, monkeypatch: Any, parts: int = 2) -> Any:
    """``pypi:tiny``: ``tiny_gguf`` cut in two part packages (the first ``parts`` installed)."""
    from sara_core.models import packaged

    data = tiny_gguf.read_bytes()
    cut = len(data) // 2
    chunks = [data[:cut], data[cut:]]
    for i, chunk in enumerate(chunks[:parts], 1):
        fake_parts(f"fakepart_{i}", f"data/part{i:02d}.bin", chunk)
    model = fake_packaged_model(
        "tiny", 2, hashlib.sha256(data).hexdigest(), len(data), blocks=2, hidden=16, vocab=64
    )
    monkeypatch.setattr(packaged, "packaged_models", lambda: {"tiny": model})
    return model

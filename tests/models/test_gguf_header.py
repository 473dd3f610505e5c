"""The bounded GGUF header reader: real tiny files read right, bad ones refused in one line."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from gguf_fixtures import gguf_string, header_bytes

from sara_core.models import gguf_header as gh
from sara_core.models.gguf_header import GGUFHeaderError, read_header

F32 = 0  # ggml type
U32 = 4  # GGUF value types
STRING = 8
ARRAY = 9


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "model.gguf"
    path.write_bytes(data)
    return path


def _refused(tmp_path: Path, data: bytes) -> str:
    with pytest.raises(GGUFHeaderError) as info:
        read_header(_write(tmp_path, data))
    message = str(info.value)
    assert "\n" not in message
    return message


def _tensor(name: str, shape: tuple[int, ...], ggml_type: int = F32, offset: int = 0) -> bytes:
    dims = struct.pack(f"<I{len(shape)}Q", len(shape), *shape)
    return gguf_string(name) + dims + struct.pack("<IQ", ggml_type, offset)


def test_tiny_llama_header(tiny_gguf: Path) -> None:
    h = read_header(tiny_gguf)
    assert (h.version, h.architecture) == (3, "llama")
    assert (h.block_count, h.embedding_length, h.vocab_size) == (2, 16, 64)
    assert not h.has_chat_template
    assert h.array_lengths["tokenizer.ggml.tokens"] == 64
    assert "tokenizer.ggml.tokens" not in h.metadata  # string arrays are skipped, not kept
    emb = next(t for t in h.tensors if t.name == "token_embd.weight")
    assert emb.shape == (16, 64) and emb.ggml_type == "F32" and emb.nbytes == 16 * 64 * 4
    # 64x16 embedding, per block 4 attention 16x16, 3 MLP 32x16, 2 norms; a final norm
    assert h.parameter_count == 64 * 16 + 2 * (4 * 256 + 3 * 512 + 2 * 16) + 16
    gh.check_supported(h)


def test_not_gguf(tmp_path: Path) -> None:
    assert "not a GGUF file" in _refused(tmp_path, b"PK\x03\x04 a zip file, not a model")
    assert "not a GGUF file" in _refused(tmp_path, b"")


def test_bad_version(tmp_path: Path) -> None:
    assert "version 1" in _refused(tmp_path, header_bytes(version=1))


@pytest.mark.parametrize("cut", [6, 20, 30, 40])
def test_truncated_header(tmp_path: Path, cut: int) -> None:
    body = gguf_string("general.architecture") + struct.pack("<I", STRING) + gguf_string("llama")
    data = header_bytes(n_kv=1, body=body)
    assert "truncated" in _refused(tmp_path, data[:cut])


def test_truncated_tensor_data(tiny_gguf: Path, tmp_path: Path) -> None:
    data = tiny_gguf.read_bytes()
    assert "truncated" in _refused(tmp_path, data[:-100])


def test_absurd_counts(tmp_path: Path) -> None:
    assert "absurd" in _refused(tmp_path, header_bytes(n_tensors=1 << 62))
    assert "absurd" in _refused(tmp_path, header_bytes(n_kv=gh.MAX_KV + 1))


def test_absurd_string_and_array(tmp_path: Path) -> None:
    huge_key = struct.pack("<Q", 1 << 40) + b"x"
    assert "absurd" in _refused(tmp_path, header_bytes(n_kv=1, body=huge_key))
    array = gguf_string("tokens") + struct.pack("<IIQ", ARRAY, U32, gh.MAX_ARRAY + 1)
    assert "absurd" in _refused(tmp_path, header_bytes(n_kv=1, body=array))


@pytest.mark.parametrize(
    "shape", [(), (1, 1, 1, 1, 1), (0, 4), (1 << 33, 1), (1 << 21, 1 << 21, 1 << 21)]
)
def test_absurd_shapes(tmp_path: Path, shape: tuple[int, ...]) -> None:
    data = header_bytes(n_tensors=1, body=_tensor("w", shape))
    assert "absurd" in _refused(tmp_path, data)


def test_unknown_types(tmp_path: Path) -> None:
    data = header_bytes(n_tensors=1, body=_tensor("w", (32,), ggml_type=999))
    assert "unknown ggml type 999" in _refused(tmp_path, data)
    kv = gguf_string("key") + struct.pack("<I", 77)
    assert "unknown GGUF value type 77" in _refused(tmp_path, header_bytes(n_kv=1, body=kv))


def test_quantized_shape_must_fill_blocks(tmp_path: Path) -> None:
    q4_k = 12  # blocks of 256 elements
    data = header_bytes(n_tensors=1, body=_tensor("w", (100, 2), ggml_type=q4_k))
    assert "block" in _refused(tmp_path, data)


def test_unsupported_architecture(tmp_path: Path) -> None:
    body = gguf_string("general.architecture") + struct.pack("<I", STRING) + gguf_string("rwkv7")
    h = read_header(_write(tmp_path, header_bytes(n_kv=1, body=body)))
    with pytest.raises(GGUFHeaderError, match="'rwkv7' model, which transformers cannot load"):
        gh.check_supported(h)
    assert "qwen2" in gh.supported_architectures()
    assert gh.transformers_architecture("qwen2moe") in gh.supported_architectures()

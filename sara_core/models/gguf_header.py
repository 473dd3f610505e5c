"""Read a GGUF file's header within hard bounds: what the model is, before any weight is read.

Hand-written rather than ``gguf.GGUFReader`` (gguf 0.19) because that reader memory-maps the
whole file, trusts every count it reads (a ``kv_count`` of 2**64 loops for ever, a string length
past the end of the file gives an empty slice and an ``IndexError`` much later), builds a numpy
view for every token of the vocabulary (262,144 for Gemma 3) and for every tensor, and fails
with ``ValueError``, ``KeyError`` or ``IndexError`` depending on where the file is bad. This
reader keeps the scalars and small arrays, skips long arrays by seeking, checks every count and
length against the bounds below and the file's size, and fails with :class:`GGUFHeaderError`
in one line. The constants (value types, ggml types and their block sizes) come from ``gguf``.

GGUF layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): magic ``GGUF``, uint32
version, uint64 tensor count, uint64 metadata count, the metadata (key string, uint32 type,
value), the tensor infos (name, uint32 dims, uint64 dims, uint32 ggml type, uint64 offset), then
the tensor data from the next multiple of ``general.alignment``. Everything is little-endian.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

MAGIC = b"GGUF"
VERSIONS = (2, 3)
MAX_TENSORS = 100_000
"""Most tensor infos accepted; a 70B llama has 723, a 128-expert MoE about 20,000."""
MAX_KV = 100_000
"""Most metadata entries accepted; real files have 20 to 60."""
MAX_STRING_BYTES = 1 << 20
"""Longest string value (1 MiB): chat templates, the longest strings in real files, are 10 KB."""
MAX_ARRAY = 1_000_000
"""Most elements of one metadata array: vocabularies (262,144 tokens for Gemma 3, 151,936 for
Qwen 2.5) and their merges fit (Qwen 2.5 has 151,387)."""
MAX_NAME_BYTES = 1024
"""Longest key or tensor name (ggml itself caps tensor names at 64 bytes)."""
MAX_DIMS = 4
MAX_DIM = 1 << 32
"""Largest single dimension of a tensor."""
MAX_TENSOR_ELEMENTS = 1 << 40
"""Most elements in one tensor (a trillion): past this a shape is garbage, not a model."""
KEEP_ARRAY = 1024
"""Numeric arrays up to this many elements are kept as values; longer ones only by length."""

_SCALARS: dict[int, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
# The architecture names llama.cpp writes that transformers maps to another name before its
# support check (transformers.modeling_gguf_pytorch_utils.load_gguf_checkpoint does the same).
_TRANSFORMERS_RENAMES = {
    "qwen2moe": "qwen2_moe",
    "qwen3moe": "qwen3_moe",
    "gpt-oss": "gpt_oss",
    "minimax-m2": "minimax_m2",
    "t5encoder": "t5",
}

Scalar = int | float | bool | str


class GGUFHeaderError(ValueError):
    """The file is not a GGUF file, is truncated, or holds counts, shapes or types past the
    bounds of this module; the message says which in one line."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the header describes it (its data is never read)."""

    name: str
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension first
    ggml_type: str  # GGMLQuantizationType name: F32, Q4_K, ...
    offset: int  # from the start of the data section
    nbytes: int

    @property
    def elements(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class GGUFHeader:
    """The facts a GGUF header gives about its model."""

    path: Path
    version: int
    file_size: int
    data_offset: int
    metadata: dict[str, Scalar | tuple[Scalar, ...]]
    array_lengths: dict[str, int]  # every array's length, kept or not
    tensors: tuple[TensorInfo, ...]

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    def arch_int(self, key: str) -> int | None:
        """``{architecture}.{key}`` as an int, or None when absent or not a number."""
        value = self.metadata.get(f"{self.architecture}.{key}")
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def block_count(self) -> int | None:
        return self.arch_int("block_count")

    @property
    def embedding_length(self) -> int | None:
        return self.arch_int("embedding_length")

    @property
    def vocab_size(self) -> int | None:
        """``{arch}.vocab_size``, else the token list's length, else the embedding's rows."""
        size = self.arch_int("vocab_size") or self.array_lengths.get("tokenizer.ggml.tokens")
        if size:
            return size
        emb = next((t for t in self.tensors if t.name == "token_embd.weight"), None)
        return emb.shape[-1] if emb is not None and len(emb.shape) == 2 else None

    @property
    def has_chat_template(self) -> bool:
        return bool(self.metadata.get("tokenizer.chat_template"))

    @property
    def parameter_count(self) -> int:
        """Elements of all tensors stored (a tied output layer is stored once)."""
        return sum(t.elements for t in self.tensors)


class _Reader:
    """A bounded sequential reader: every read and skip is checked against the file's size."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh = fh
        self.size = size
        self.pos = 0

    def read(self, n: int, what: str) -> bytes:
        if self.pos + n > self.size:
            raise GGUFHeaderError(f"truncated GGUF file: it ends inside {what}")
        data = self.fh.read(n)
        if len(data) != n:
            raise GGUFHeaderError(f"truncated GGUF file: it ends inside {what}")
        self.pos += n
        return data

    def skip(self, n: int, what: str) -> None:
        if self.pos + n > self.size:
            raise GGUFHeaderError(f"truncated GGUF file: it ends inside {what}")
        self.fh.seek(n, 1)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Scalar:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt), what))[0]

    def u32(self, what: str) -> int:
        return int(self.unpack("<I", what))

    def u64(self, what: str) -> int:
        return int(self.unpack("<Q", what))

    def string(self, what: str, limit: int = MAX_STRING_BYTES) -> str:
        n = self.u64(what)
        if n > limit:
            raise GGUFHeaderError(f"absurd GGUF header: {what} is {n:,} bytes (at most {limit:,})")
        return self.read(n, what).decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        n = self.u64(what)
        if n > MAX_STRING_BYTES:
            raise GGUFHeaderError(f"absurd GGUF header: {what} holds a {n:,}-byte string")
        self.skip(n, what)


def _value_type(raw: int, what: str) -> int:
    if raw not in _SCALARS and raw not in (GGUFValueType.STRING, GGUFValueType.ARRAY):
        raise GGUFHeaderError(f"unknown GGUF value type {raw} in {what}")
    return raw


def _read_value(r: _Reader, key: str, vtype: int) -> tuple[Scalar | tuple[Scalar, ...] | None, int]:
    """The value of ``key`` (None for an array too long to keep) and its length if an array."""
    if vtype == GGUFValueType.STRING:
        return r.string(f"the value of {key}"), 0
    if vtype != GGUFValueType.ARRAY:
        return r.unpack(_SCALARS[vtype], f"the value of {key}"), 0
    itype = _value_type(r.u32(f"the array type of {key}"), key)
    count = r.u64(f"the array length of {key}")
    if count > MAX_ARRAY:
        raise GGUFHeaderError(
            f"absurd GGUF header: array {key} has {count:,} elements (at most {MAX_ARRAY:,})"
        )
    if itype == GGUFValueType.ARRAY:
        raise GGUFHeaderError(f"unsupported GGUF header: {key} is an array of arrays")
    if itype == GGUFValueType.STRING:  # token lists and merges: lengths only, skipped
        for _ in range(count):
            r.skip_string(f"array {key}")
        return None, count
    fmt = _SCALARS[itype]
    width = struct.calcsize(fmt)
    if count > KEEP_ARRAY:
        r.skip(count * width, f"array {key}")
        return None, count
    data = r.read(count * width, f"array {key}")
    return tuple(v[0] for v in struct.iter_unpack(fmt, data)), count


def _tensor_nbytes(name: str, shape: tuple[int, ...], raw_type: int) -> tuple[str, int]:
    try:
        qtype = GGMLQuantizationType(raw_type)
        block, type_size = GGML_QUANT_SIZES[qtype]
    except (ValueError, KeyError):
        raise GGUFHeaderError(f"unknown ggml type {raw_type} for tensor {name}") from None
    if shape[0] % block:
        raise GGUFHeaderError(
            f"absurd GGUF header: tensor {name}'s first dimension {shape[0]} is not a multiple "
            f"of {qtype.name}'s block of {block}"
        )
    return qtype.name, math.prod(shape) // block * type_size


def _read_tensor(r: _Reader, index: int) -> TensorInfo:
    name = r.string(f"tensor #{index}'s name", MAX_NAME_BYTES)
    n_dims = r.u32(f"tensor {name}'s dimension count")
    if not 1 <= n_dims <= MAX_DIMS:
        raise GGUFHeaderError(
            f"absurd GGUF header: tensor {name} has {n_dims} dimensions (1 to {MAX_DIMS})"
        )
    shape = tuple(r.u64(f"tensor {name}'s shape") for _ in range(n_dims))
    if any(not 1 <= d <= MAX_DIM for d in shape) or math.prod(shape) > MAX_TENSOR_ELEMENTS:
        raise GGUFHeaderError(f"absurd GGUF header: tensor {name} has shape {list(shape)}")
    type_name, nbytes = _tensor_nbytes(name, shape, r.u32(f"tensor {name}'s type"))
    offset = r.u64(f"tensor {name}'s offset")
    return TensorInfo(name, shape, type_name, offset, nbytes)


def read_header(path: Path | str) -> GGUFHeader:
    """The header of the GGUF file at ``path``; GGUFHeaderError in one line when it is not a
    GGUF file, is truncated (the header or any tensor's data), or is past a bound."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as fh:
        r = _Reader(fh, size)
        if size < 4 or r.read(4, "the magic") != MAGIC:
            raise GGUFHeaderError(f"{path.name} is not a GGUF file (it does not start with GGUF)")
        version = r.u32("the version")
        if version not in VERSIONS:
            raise GGUFHeaderError(f"unsupported GGUF version {version} (this reads 2 and 3)")
        n_tensors, n_kv = r.u64("the tensor count"), r.u64("the metadata count")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise GGUFHeaderError(
                f"absurd GGUF header: {n_tensors:,} tensors and {n_kv:,} metadata entries "
                f"(at most {MAX_TENSORS:,} and {MAX_KV:,})"
            )
        metadata: dict[str, Scalar | tuple[Scalar, ...]] = {}
        lengths: dict[str, int] = {}
        for i in range(n_kv):
            key = r.string(f"metadata key #{i}", MAX_NAME_BYTES)
            vtype = _value_type(r.u32(f"the type of {key}"), key)
            value, length = _read_value(r, key, vtype)
            if vtype == GGUFValueType.ARRAY:
                lengths[key] = length
            if value is not None:
                metadata[key] = value
        tensors = tuple(_read_tensor(r, i) for i in range(n_tensors))
        align = metadata.get("general.alignment", 32)
        if not isinstance(align, int) or align <= 0 or align & (align - 1):
            raise GGUFHeaderError(f"absurd GGUF header: general.alignment is {align!r}")
        data_offset = -(-r.pos // align) * align
    for t in tensors:
        if data_offset + t.offset + t.nbytes > size:
            raise GGUFHeaderError(
                f"truncated GGUF file: tensor {t.name}'s data ends past the end of the file"
            )
    return GGUFHeader(path, version, size, data_offset, metadata, lengths, tensors)


def transformers_architecture(arch: str) -> str:
    """The name transformers' GGUF loader checks for llama.cpp's architecture name ``arch``."""
    return _TRANSFORMERS_RENAMES.get(arch, arch)


def gguf_architecture(model_type: str) -> str:
    """llama.cpp's architecture name for transformers' ``model_type`` (``gemma3_text`` is
    ``gemma3``, ``qwen2_moe`` is ``qwen2moe``); other names are the same in both."""
    if model_type == "gemma3_text":
        return "gemma3"
    reverse = {hf: cpp for cpp, hf in _TRANSFORMERS_RENAMES.items() if cpp != "t5encoder"}
    return reverse.get(model_type, model_type)


def supported_architectures() -> frozenset[str]:
    """The GGUF architectures this transformers can load (its own list, less the non-model
    sections ``general`` and ``tokenizer`` that share the mapping)."""
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    return frozenset(GGUF_SUPPORTED_ARCHITECTURES) - {"general", "tokenizer"}


def check_supported(header: GGUFHeader) -> None:
    """Refuse, in one line, a GGUF model transformers cannot load (before any conversion)."""
    arch = header.architecture
    supported = supported_architectures()
    if not arch:
        raise GGUFHeaderError(f"{header.path.name} names no general.architecture")
    if arch not in supported and transformers_architecture(arch) not in supported:
        raise GGUFHeaderError(
            f"{header.path.name} is a {arch!r} model, which transformers cannot load from GGUF "
            f"(it loads {', '.join(sorted(supported))})"
        )

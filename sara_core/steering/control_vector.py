"""ActAdd as a llama.cpp control vector: one GGUF file any llama.cpp build can apply.

A control vector holds one float32 direction per layer and llama.cpp adds it to every position,
prompt and generated tokens alike: exactly ActAdd in its every-position mode (the CAA-style
variant), whose vector is c * mean over positions of (h_plus - h_minus). It is built here by the
library's own :func:`~sara_core.steering.prepare.prepare_actadd`, so the file holds what our ActAdd
adds.

Where llama.cpp adds it (read in its source, ``src/models/llama.cpp`` and
``src/llama-adapter.cpp``): after block ``il`` computes its output (``cur = build_cvec(cur,
il)``, then ``l_out``), it adds the tensor named ``direction.{il}``. The output of block il is
the residual stream entering block il + 1, and our steerings edit the residual stream entering
block L, so our block L is llama.cpp's ``direction.{L - 1}``. llama.cpp keeps no direction for
il = 0 (its loader refuses ``direction.0``, and the embeddings entering block 0 have no slot),
so blocks 0 and 1 cannot be exported. repeng writes the same numbering: its direction for
``model.layers[i]``, added to that layer's output, is ``direction.{i}``.

SARA cannot be a file like this: its per-unit scale 1 + lambda * (c_a - c_r) comes from the SVD of
each prompt's own activations, so it differs for every prompt; a static vector cannot express it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sara_core.models.gguf_header import gguf_architecture
from sara_core.models.loading import LoadedModel
from sara_core.steering.prepare import prepare_actadd
from sara_core.validation import InputError

ARCH = "controlvector"
FIRST_BLOCK = 2
"""The first of our blocks llama.cpp can steer (its direction.1: the output of block 1)."""
MAX_META_CHARS = 8_000


def llama_index(block: int) -> int:
    """llama.cpp's ``direction.N`` for our block L (the residual entering it): N = L - 1."""
    return block - 1


def block_of(index: int) -> int:
    """Our block for llama.cpp's ``direction.N``: L = N + 1."""
    return index + 1


def check_blocks(blocks: Iterable[int], n_layers: int) -> list[int]:
    """Blocks a control vector can hold: 2 .. n_layers - 1, each once, sorted."""
    out = sorted(set(int(b) for b in blocks))
    if not out:
        raise InputError("no blocks to export")
    bad = [b for b in out if not FIRST_BLOCK <= b < n_layers]
    if bad:
        raise InputError(
            f"block(s) {bad} cannot be a llama.cpp control vector: llama.cpp adds direction N "
            f"to the output of block N (N >= 1), which is the input of our block N + 1, so "
            f"blocks {FIRST_BLOCK}..{n_layers - 1} can be exported"
        )
    return out


def actadd_directions(
    lm: LoadedModel, attract: str, repel: str, blocks: Iterable[int], coeff: float = 4.0
) -> dict[int, torch.Tensor]:
    """{our block: c * mean(h_plus - h_minus)} (hidden,) float32: ActAdd's every-position vector."""
    out = {}
    for block in check_blocks(blocks, lm.n_layers):
        steering = prepare_actadd(lm, attract, repel, block, coeff, "every-position")
        out[block] = steering.tensor.mean(dim=0).detach().to(torch.float32).cpu()
    return out


@dataclass
class ControlVectorFile:
    """A control vector read back: llama.cpp's numbering (``directions[N]``) and the metadata."""

    model_hint: str
    layer_count: int
    directions: dict[int, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def blocks(self) -> dict[int, np.ndarray]:
        """The directions in our numbering (the block whose input they steer)."""
        return {block_of(n): v for n, v in self.directions.items()}


def write_control_vector(
    path: str | Path,
    directions: Mapping[int, torch.Tensor],
    model_hint: str,
    meta: Mapping[str, str | float | int] | None = None,
) -> Path:
    """Write ``{our block: vector}`` as a llama.cpp control vector (written to a temporary file
    and renamed, so a failure never leaves half a file)."""
    import gguf

    if not directions:
        raise InputError("no directions to write")
    sizes = {int(v.numel()) for v in directions.values()}
    if len(sizes) != 1:
        raise InputError(f"every direction must have the model's hidden size; got {sizes}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), ARCH)
    try:
        writer.add_string(f"{ARCH}.model_hint", model_hint)
        writer.add_int32(f"{ARCH}.layer_count", len(directions))
        for key, value in (meta or {}).items():
            if isinstance(value, str):
                writer.add_string(f"sara.{key}", value[:MAX_META_CHARS])
            elif isinstance(value, int):
                writer.add_int32(f"sara.{key}", value)
            else:
                writer.add_float32(f"sara.{key}", float(value))
        for block in sorted(directions):
            vector = directions[block].detach().to(torch.float32).cpu().numpy().reshape(-1)
            if not np.isfinite(vector).all():
                raise InputError(f"the direction for block {block} is not finite")
            writer.add_tensor(f"direction.{llama_index(block)}", vector)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(tmp, path)
    return path


def _field_value(reader: Any, key: str) -> Any:
    f = reader.get_field(key)
    if f is None:
        return None
    return f.contents()


def read_control_vector(path: str | Path) -> ControlVectorFile:
    """Read a control vector (ours, repeng's or llama.cpp's) with the ``gguf`` package."""
    import gguf

    reader = gguf.GGUFReader(str(path))
    arch = _field_value(reader, "general.architecture")
    if arch != ARCH:
        raise InputError(f"{path} is not a control vector (general.architecture={arch!r})")
    directions: dict[int, np.ndarray] = {}
    for tensor in reader.tensors:
        prefix, _, index = tensor.name.partition(".")
        if prefix != "direction" or not index.isdigit():
            raise InputError(f"{path}: unexpected tensor {tensor.name!r}")
        directions[int(index)] = np.array(tensor.data, dtype=np.float32).reshape(-1)
    meta = {
        key.removeprefix("sara."): _field_value(reader, key)
        for key in reader.fields
        if key.startswith("sara.")
    }
    return ControlVectorFile(
        model_hint=str(_field_value(reader, f"{ARCH}.model_hint") or ""),
        layer_count=int(_field_value(reader, f"{ARCH}.layer_count") or 0),
        directions=directions,
        meta=meta,
    )


def model_hint(lm: LoadedModel) -> str:
    """``controlvector.model_hint``: the model's GGUF architecture name, as llama.cpp's
    cvector-generator writes it (``qwen2``, ``gemma3``, ``llama``; not transformers'
    ``gemma3_text``)."""
    cfg: Any = getattr(lm.model.config, "text_config", None) or lm.model.config
    model_type = str(getattr(cfg, "model_type", "") or "")
    return gguf_architecture(model_type) if model_type else lm.name

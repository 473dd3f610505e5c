"""Loading a model with ``--dtype int8``: its blocks' linear weights as int8, one tensor at a time.

The blocks' ``nn.Linear`` layers become :class:`sara_core.engine.cpu.int8_linear.Int8Linear`
(int8 rows, a float32 scale per output row, symmetric absmax), and so does the output layer
(measured harmless, and a large share of what a step reads); the token embedding becomes an
:class:`~sara_core.engine.cpu.int8_linear.Int8Embedding` (the same rows and scales, shared with
a tied output layer; measured harmless too, docs/benchmark.md). Everything else stays float32:
position embeddings, norms, biases, and all the arithmetic (the residual stream, SARA's SVD and
scores, ActAdd's vectors and the hooks see float32 as before). A block's layer of another kind
(GPT-2's ``Conv1D``) also stays float32; :func:`float32_layers` names them.

The float32 model is never held whole: the model is built empty (meta), and each tensor of the
safetensors files is read (pread) and put in place before the next is read; a covered weight is
read and quantized a few rows at a time, so the peak is the int8 weights, the float32 rest and
16 MB.
That holds only if freed tensors go back to the system: glibc keeps a freed block of up to
32 MB in its heap, where the int8 blocks allocated meanwhile pin it (a 0.5B model peaked at
3 times its int8 weights), so the load first fixes glibc's mmap threshold at 1 MB
(:func:`release_large_blocks`; docs/real-models.md has the figures).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sara_core.engine.cpu.int8_kernels import QWeight, quantize
from sara_core.engine.cpu.int8_linear import Int8Embedding, Int8Linear, int8_layers, swap_in
from sara_core.models.blocks import get_blocks

log = logging.getLogger(__name__)


class Int8LoadError(ValueError):
    """The checkpoint cannot be loaded in int8 (no safetensors, or weights missing)."""


CHUNK_FLOATS = 1 << 22
"""Floats of a covered weight read and quantized at once (16 MB)."""
MMAP_THRESHOLD = 1 << 20
"""Blocks of at least this many bytes are mapped and unmapped on their own (glibc)."""


def release_large_blocks() -> None:
    """Have glibc map every block of :data:`MMAP_THRESHOLD` bytes or more on its own, so that a
    freed float32 tensor returns to the system at once (a no-op where glibc is absent)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return
    with suppress(OSError, AttributeError):
        ctypes.CDLL(name).mallopt(-3, MMAP_THRESHOLD)  # -3: M_MMAP_THRESHOLD


def covered(model: Any) -> set[str]:
    """Names of the modules int8 stores: the ``nn.Linear`` layers (exactly that type) of the
    decoder blocks, the token embedding, and an output layer with a weight of its own (a tied
    one shares the embedding's int8 rows: :func:`quantize_ends`)."""
    blocks = {id(b) for b in get_blocks(model)}
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    untied = type(head) is nn.Linear and head.weight is not embed.weight
    ends = {embed, head} if untied else {embed}
    names = {n for n, m in model.named_modules() if m in ends and isinstance(m, _ENDS)}
    inside = ""
    for name, module in model.named_modules():
        if id(module) in blocks:
            inside = name + "."
        elif inside and name.startswith(inside) and type(module) is nn.Linear:
            names.add(name)
    return names


def float32_layers(model: nn.Module) -> dict[str, int]:
    """The blocks' weight layers that stayed float32 in an int8 model, by their name inside a
    block (``attn.c_attn``: 12), or {} when every one is int8 (or the model is not int8)."""
    if not int8_layers(model):
        return {}
    left: Counter[str] = Counter()
    for block in get_blocks(model):
        for name, module in block.named_modules():
            if isinstance(module, Int8Linear) or not name:
                continue
            weight = getattr(module, "weight", None)
            own = module._parameters.get("weight") is weight  # not a norm's inner module
            if isinstance(weight, torch.Tensor) and weight.ndim == 2 and own:
                left[name] += 1
    return dict(left)


def quantizer(model: nn.Module) -> Callable[[str, nn.Module], None]:
    """``after(name, module)``: swap a covered ``nn.Linear`` whose weights are all in place
    for its int8 layer (the random models' builder calls it module by module). The old layer's
    float32 weight is released at once, even where a caller still holds the module."""
    names = covered(model)
    release_large_blocks()

    def after(name: str, module: nn.Module) -> None:
        if name in names and isinstance(module, nn.Linear) and not _has_meta(module):
            swap_in(model, name, Int8Linear.from_weight(module.weight, module.bias))
            module._parameters["weight"] = None

    return after


_ENDS = (nn.Embedding, nn.Linear)


def quantize_ends(model: Any) -> None:
    """Store the token embedding and the output layer in int8 where they are still float32; a
    tied output layer shares the embedding's int8 rows. Quality on the real Qwen2.5 0.5B: KL to
    float32 0.0019 with both float32, 0.0020 with an int8 head (docs/benchmark.md has the
    embedding's figures)."""
    embed, head = model.get_input_embeddings(), model.get_output_embeddings()
    tied = type(head) is nn.Linear and head.weight is getattr(embed, "weight", None)
    if isinstance(embed, nn.Embedding):
        embed = int8_embedding(_quantize_rows(embed.weight, list(embed.weight.shape)), embed)
        model.set_input_embeddings(embed)
    if tied and isinstance(embed, Int8Embedding):
        model.set_output_embeddings(Int8Linear.from_quantized(embed.weight_int8, head.bias))
    elif type(head) is nn.Linear:
        model.set_output_embeddings(Int8Linear.from_weight(head.weight, head.bias))


def int8_embedding(weight: QWeight, old: nn.Module) -> Int8Embedding:
    """The int8 embedding of ``weight`` standing in for ``old`` (its ``embed_scale`` kept)."""
    return Int8Embedding(weight, getattr(old, "embed_scale", None))


def _has_meta(module: nn.Module) -> bool:
    return any(p.is_meta for p in module.parameters(recurse=False))


def _quantize_rows(part: Any, shape: list[int]) -> QWeight:
    """A covered weight read and quantized :data:`CHUNK_FLOATS` at a time from its file slice, so
    not even that one tensor is held in float32 (an untied output layer is the largest)."""
    n, k = shape
    q = torch.empty(n, k, dtype=torch.int8)
    scale = torch.empty(n, dtype=torch.float32)
    step = max(1, CHUNK_FLOATS // k)
    for lo in range(0, n, step):
        hi = min(n, lo + step)  # safetensors refuses a slice past the end
        chunk = quantize(part[lo:hi])
        q[lo:hi], scale[lo:hi] = chunk.q, chunk.scale
    return QWeight(q, scale)


def _place(model: nn.Module, key: str, handle: Any, names: set[str]) -> bool:
    """Put one checkpoint tensor in place: a covered weight as int8 (its layer swapped in), any
    other tensor as float32; False if the model has no such tensor."""
    for name in (key, f"model.{key}"):
        mod_name, _, attr = name.rpartition(".")
        try:
            module = model.get_submodule(mod_name)
        except AttributeError:
            continue
        if mod_name in names and attr == "weight" and isinstance(module, _ENDS):
            part = handle.get_slice(key)
            weight = _quantize_rows(part, part.get_shape())
            new: nn.Module = (
                Int8Linear.from_quantized(weight, module.bias)
                if isinstance(module, nn.Linear)
                else int8_embedding(weight, module)
            )
            swap_in(model, mod_name, new)
        elif attr in module._parameters:
            tensor = handle.get_tensor(key).float()
            module._parameters[attr] = nn.Parameter(tensor, requires_grad=False)
        elif attr in module._buffers:
            module._buffers[attr] = handle.get_tensor(key).float()
        else:
            continue
        return True
    return False


def load_int8(folder: Path, files: list[Path], config: Any) -> Any:
    """The causal LM of ``config`` with the weights of ``files``, its blocks' linear layers int8
    (see the module docstring). Int8LoadError if a weight is missing."""
    from accelerate import init_empty_weights
    from safetensors import safe_open
    from transformers import AutoModelForCausalLM, GenerationConfig

    if not files:
        raise Int8LoadError(f"int8 needs the model's safetensors files; {folder} has none")
    with init_empty_weights(include_buffers=False):
        model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    names = covered(model)
    release_large_blocks()
    unknown: list[str] = []
    for file in files:
        with safe_open(str(file), framework="pt", device="cpu", backend="pread") as handle:
            for key in handle.keys():  # noqa: SIM118 - not iterable
                if not _place(model, key, handle, names):
                    unknown.append(key)
    if unknown:
        log.info("int8 load: %d tensors the model does not use, e.g. %s", len(unknown), unknown[0])
    tied = getattr(config, "tie_word_embeddings", False)
    if tied and isinstance(model.get_input_embeddings(), Int8Embedding):
        rows = model.get_input_embeddings().weight_int8  # the head, still on meta, shares them
        model.set_output_embeddings(Int8Linear.from_quantized(rows, None))
    elif tied:
        model.tie_weights()
    missing = [n for n, p in model.named_parameters() if p.is_meta]
    if missing:
        raise Int8LoadError(f"int8 load: the checkpoint lacks {len(missing)} weights: {missing[0]}")
    quantize_ends(model)
    model.eval()
    with suppress(OSError):  # no generation_config.json: the one built from the config stays
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model

"""``random:NAME`` models: a public model's shape with seeded random weights, no download.

Size, memory, speed, batching and every code path depend on a model's shape, not on its
weights' values, so a random model of Gemma-2-2B's shape checks all of them where the real
weights cannot be fetched. Its text is noise.

- The shape comes from ``presets/shapes.yaml`` (:mod:`sara_core.presets.shapes`), the
  vocabulary from the embedded model's tokenizer (the note says where that cuts the real one).
- Weights are seeded by the shape's and the parameter's names, in fixed chunks, and drawn in
  float32 before they are cast: the same name gives the same model on any machine, in any
  thread count, and its bfloat16 weights are its float32 weights rounded.
- Building needs the model's memory once: the modules are created with empty (meta)
  parameters, and each parameter is allocated in its final dtype and device and filled in
  place, chunk by chunk (a chunk is at most :data:`CHUNK` floats). In int8, each linear layer
  of the blocks is drawn in float32 and quantized as soon as it is full.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sara_core.models.names import RANDOM_PREFIX
from sara_core.presets.shapes import Shape, get_shape

__all__ = ["RandomSpec", "build_config", "build_model", "get_shape"]

CHUNK = 1 << 22
"""Floats drawn per seeded chunk (16 MB in float32); fixed, so the weights do not depend on it
being filled by one thread or several."""


@dataclass(frozen=True)
class RandomSpec:
    """What ``random:NAME`` resolves to: the shape and the note for ``info``."""

    shape: Shape
    vocab_size: int
    tokenizer_note: str


def shape_name(model_id: str) -> str:
    return model_id.strip()[len(RANDOM_PREFIX) :].strip()


def resolve(model_id: str, tokenizer_size: int) -> RandomSpec:
    """The shape ``model_id`` names; a ValueError listing the known ``random:`` names if none."""
    shape = get_shape(shape_name(model_id))
    if shape.vocab_size > tokenizer_size:
        note = (
            f"embedded SmolLM2 tokenizer: the vocabulary is cut from {shape.vocab_size:,} to "
            f"{tokenizer_size:,} tokens ({shape.hub_id} has its own tokenizer)"
        )
    else:
        note = f"embedded SmolLM2 tokenizer ({tokenizer_size:,} tokens)"
    return RandomSpec(shape, tokenizer_size, note)


def build_config(spec: RandomSpec, tokenizer: Any = None) -> Any:
    """The transformers config of the shape, with the tokenizer's vocabulary and special ids
    (without a tokenizer, the ids are left to the architecture's defaults: enough to count
    parameters)."""
    from transformers import AutoConfig

    fields = {k: v for k, v in spec.shape.config.items() if k not in ("model_type", "vocab_size")}
    if tokenizer is not None:
        eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else eos
        fields.update(eos_token_id=eos, pad_token_id=pad, bos_token_id=bos)
    return AutoConfig.for_model(
        spec.shape.config["model_type"], vocab_size=spec.vocab_size, **fields
    )


def _seed(*parts: object) -> int:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _fill_normal(target: torch.Tensor, std: float, key: str, workers: int) -> None:
    """Fill ``target`` with N(0, std) drawn in float32, chunk by chunk, each chunk seeded by
    ``key`` and its index (so the values do not depend on ``workers``)."""
    flat = target.view(-1)
    starts = range(0, flat.numel(), CHUNK)

    def one(start: int) -> None:
        gen = torch.Generator().manual_seed(_seed(key, start // CHUNK))
        n = min(CHUNK, flat.numel() - start)
        values = torch.empty(n, dtype=torch.float32).normal_(0.0, std, generator=gen)
        flat[start : start + n].copy_(values)

    if workers <= 1 or len(starts) == 1:
        for s in starts:
            one(s)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:  # torch drops the GIL while drawing
        list(pool.map(one, starts))


def build_model(
    spec: RandomSpec,
    config: Any,
    dtype: torch.dtype,
    device: torch.device,
    report: Any = None,
) -> nn.Module:
    """A causal LM of ``config`` with seeded random weights, built in place in ``dtype`` on
    ``device`` (see the module docstring). ``report(fraction)`` hears the progress."""
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    from sara_core.models.int8 import quantize_ends, quantizer

    int8 = dtype == torch.int8  # drawn in float32, each linear layer quantized once it is full
    if int8:
        dtype = torch.float32
    with init_empty_weights(include_buffers=False):  # parameters on meta, buffers computed
        model: Any = AutoModelForCausalLM.from_config(config, dtype=dtype)
    after = quantizer(model) if int8 else None
    std = float(getattr(config, "initializer_range", 0.02) or 0.02)
    tied = bool(getattr(config, "tie_word_embeddings", False))
    head = model.get_output_embeddings() if tied else None  # tied below, never drawn
    workers = max(1, torch.get_num_threads())
    modules = list(model.named_modules())
    total = sum(p.numel() for _, m in modules for p in m._parameters.values() if p is not None)
    done = 0
    for mname, module in modules:
        if module is head:
            continue
        own = [(n, p) for n, p in module._parameters.items() if p is not None]
        if not own or not any(p.is_meta for _, p in own):
            continue
        for pname, meta in own:
            value = torch.empty(meta.shape, dtype=dtype, device=device)
            if meta.ndim >= 2:
                _fill_normal(value, std, f"{spec.shape.name}/{mname}.{pname}", workers)
            else:
                value.zero_()  # biases; norm weights are set by the model's own init below
            module._parameters[pname] = nn.Parameter(value, requires_grad=False)
            done += meta.numel()
        if all(p.ndim < 2 for _, p in own):
            # Norms: whatever the architecture's init gives (ones for llama, zeros for gemma's
            # 1 + w); no random draw, so it cannot break the seeding.
            model._init_weights(module)
        if after is not None:
            after(mname, module)
        if report is not None:
            report(done / max(1, total))
    if tied:
        model.tie_weights()
        if head is not None and head.weight is not model.get_input_embeddings().weight:
            raise RuntimeError("the output embedding did not tie to the input embedding")
    if int8:
        quantize_ends(model)
    model.to(device)  # the buffers (rotary tables, scales) were built on the CPU
    model.eval()
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.bos_token_id = config.bos_token_id
    return model

"""The weights a :class:`sara_core.engine.cpu.lean_model.LeanModel` reads, block by block: the
model's own float32 tensors, its int8 rows and scales (a model loaded in int8), or fused (in, out)
copies of q/k/v and gate/up on a small float32 model (lean_model.py says why)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from sara_core.engine.cpu.int8_kernels import QWeight
from sara_core.engine.cpu.int8_linear import Int8Linear

Weight = torch.Tensor | QWeight
"""A layer's weight: the model's own float32 (out, in) tensor, or its int8 rows and scales."""


@dataclass
class BlockWeights:
    norms: list[torch.Tensor]  # 2 (llama, qwen2, gemma) or 4 (gemma-2), as multiplied
    qkv: torch.Tensor | None  # fused copy (hidden, q + k + v), or None: use q, k, v
    q: Weight  # the model's own (out, in) weights
    k: Weight
    v: Weight
    qkv_bias: torch.Tensor | None
    o: Weight
    o_bias: torch.Tensor | None
    gate_up: torch.Tensor | None  # fused copy (hidden, 2 * intermediate), or None
    gate: Weight
    up: Weight
    down: Weight
    window: int | None  # sliding-window width of this block's attention, None: full


def norm_weight(norm: Any, gemma: bool) -> torch.Tensor:
    weight = norm.weight.detach()
    return 1.0 + weight.float() if gemma else weight


def block_weights(layer: Any, gemma: bool, copy: bool, window: int | None) -> BlockWeights:
    """One block's weights: fused (in, out) copies when ``copy``, else the model's own."""
    attn, mlp = layer.self_attn, layer.mlp
    q, k, v = (layer_weight(p) for p in (attn.q_proj, attn.k_proj, attn.v_proj))
    biases = [p.bias for p in (attn.q_proj, attn.k_proj, attn.v_proj)]
    qkv_bias = None
    if any(x is not None for x in biases):
        qkv_bias = torch.cat([x.detach() for x in biases if x is not None])
    names = ["input_layernorm", "post_attention_layernorm"]
    if hasattr(layer, "pre_feedforward_layernorm"):
        names += ["pre_feedforward_layernorm", "post_feedforward_layernorm"]
    o_bias = attn.o_proj.bias
    gate, up = layer_weight(mlp.gate_proj), layer_weight(mlp.up_proj)
    copy = copy and all(isinstance(w, torch.Tensor) for w in (q, k, v, gate, up))
    return BlockWeights(
        norms=[norm_weight(getattr(layer, n), gemma) for n in names],
        qkv=t_copy(q, k, v) if copy else None,
        q=q,
        k=k,
        v=v,
        qkv_bias=qkv_bias,
        o=layer_weight(attn.o_proj),
        o_bias=None if o_bias is None else o_bias.detach(),
        gate_up=t_copy(gate, up) if copy else None,
        gate=gate,
        up=up,
        down=layer_weight(mlp.down_proj),
        window=window,
    )


def layer_weight(layer: Any) -> Weight:
    """A linear layer's weight: its int8 rows and scales, or its float tensor."""
    if isinstance(layer, Int8Linear):
        return layer.weight_int8
    return layer.weight.detach()


def t_copy(*weights: Weight) -> torch.Tensor | None:
    """The float weights stacked and laid out (in, out); None for int8 weights (no copies)."""
    floats = [w for w in weights if isinstance(w, torch.Tensor)]
    if len(floats) < len(weights):
        return None
    return torch.cat(floats, dim=0).t().contiguous()

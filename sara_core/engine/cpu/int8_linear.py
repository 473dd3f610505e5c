"""``Int8Linear`` and ``Int8Embedding``: a linear layer and a token embedding whose weight is
stored as int8 rows and float32 scales.

They stand in for ``nn.Linear`` and ``nn.Embedding`` inside a model loaded with ``--dtype int8``,
so transformers' own forward runs on int8 too. The linear forward is
:func:`sara_core.engine.cpu.int8_kernels.linear`; the embedding widens the looked-up rows (inputs
and outputs float32 for both). The int8 weights and their scales are buffers, not parameters:
they are not trained, and a model's ``dtype`` (its first parameter's) stays float32, the dtype it
computes in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sara_core.engine.cpu import int8_kernels
from sara_core.engine.cpu.int8_kernels import QWeight


class Int8Linear(nn.Module):
    """y = x @ (qweight * scale[:, None])^T + bias, for float32 x on the CPU."""

    qweight: torch.Tensor
    scale: torch.Tensor

    def __init__(self, in_features: int, out_features: int, bias: torch.Tensor | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features, dtype=torch.float32))
        self.bias = None if bias is None else nn.Parameter(bias.float(), requires_grad=False)

    @classmethod
    def from_weight(cls, weight: torch.Tensor, bias: torch.Tensor | None = None) -> Int8Linear:
        """The int8 layer of a float weight (out, in), quantized per output row."""
        return cls.from_quantized(int8_kernels.quantize(weight), bias)

    @classmethod
    def from_quantized(cls, weight: QWeight, bias: torch.Tensor | None = None) -> Int8Linear:
        """The layer of quantized rows; ``bias`` may still be on the meta device (a loader
        fills it when its tensor is read)."""
        out_features, in_features = weight.q.shape
        layer = cls.__new__(cls)
        nn.Module.__init__(layer)
        layer.in_features, layer.out_features = in_features, out_features
        layer.register_buffer("qweight", weight.q)
        layer.register_buffer("scale", weight.scale)
        layer.bias = None if bias is None else nn.Parameter(bias.detach().float(), False)
        return layer

    @property
    def weight_int8(self) -> QWeight:
        return QWeight(self.qweight, self.scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return int8_kernels.linear(x, self.weight_int8, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


class Int8Embedding(nn.Module):
    """rows = qweight[ids] * scale[ids] (* embed_scale, as Gemma's scaled embedding does), float32.

    A step reads one row of it; what int8 buys here is memory (a quarter of a float32
    vocabulary, 0.93 GB less on the real Qwen2.5 1.5B). A tied output layer shares these
    buffers: per-row scales of the vocabulary are per-output-row scales of the head."""

    qweight: torch.Tensor
    scale: torch.Tensor
    embed_scale: torch.Tensor | None

    def __init__(self, weight: QWeight, embed_scale: torch.Tensor | None = None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = weight.q.shape
        self.register_buffer("qweight", weight.q)
        self.register_buffer("scale", weight.scale)
        scale = None if embed_scale is None else embed_scale.detach().float().clone()
        self.register_buffer("embed_scale", scale, persistent=False)

    @property
    def weight_int8(self) -> QWeight:
        return QWeight(self.qweight, self.scale)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        rows = self.qweight[ids].to(torch.float32) * self.scale[ids].unsqueeze(-1)
        return rows if self.embed_scale is None else rows * self.embed_scale

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, int8"


def int8_layers(model: nn.Module) -> list[str]:
    """The names of the model's int8 layers."""
    return [name for name, m in model.named_modules() if isinstance(m, (Int8Linear, Int8Embedding))]


def swap_in(model: nn.Module, name: str, layer: nn.Module) -> None:
    """Put ``layer`` at the dotted ``name`` of ``model`` (replacing the module there)."""
    parent_name, _, child = name.rpartition(".")
    parent: Any = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, layer)

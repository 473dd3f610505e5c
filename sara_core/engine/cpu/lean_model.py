"""A lean forward pass for the architectures we ship (llama, qwen2, gemma, gemma-2) on CPU.

Why not transformers' own forward: a decode step of a few rows is a chain of matrix-vector
products, so it should cost the time to read the weights once. Profiled on the 2-core CPU
(docs/benchmark.md), transformers' forward spends about as long again in Python and small ops
(module calls, the mask, the rotary embedding, the cache) as in the products on the embedded
135M model. This module runs the same arithmetic in plain torch ops with one Python loop over
the blocks, for the prompt (one unpadded sequence group at a time, which lets the decode loop
share the blocks below a steering between rows; :mod:`sara_core.engine.cpu.lean_decoder`) and for
decode steps (over :class:`sara_core.engine.cpu.kv_cache.KVState`, a preallocated key/value buffer
rows can join and leave).

Weights: a model loaded in int8 (:mod:`sara_core.models.int8`) keeps its int8 weights, which
its products read through :mod:`sara_core.engine.cpu.int8_kernels`; no copies. On a float32
model of at most :data:`COPY_LIMIT_BYTES`, q/k/v and gate/up are fused into
copies laid out (in, out), where MKL's axpy GEMV reads faster than ``F.linear``'s dot-product
GEMV when ``in`` is short (576 on the embedded model; docs/benchmark.md has the figures).
A larger model uses its own weights through ``F.linear`` (no copy: a 2B model must not need
twice its memory; at hidden 2304 the two layouts read at the same speed).

Numerics: the operations of transformers' modules, in their order, in float32 (llama's and
qwen2's RMSNorm ``w * x``, gemma's ``x * (1 + w)``, gemma-2's four norms, embedding scaling, soft
caps, sliding windows); only the summation order inside products differs (about 1e-6
relative). tests/engine/cpu/test_lean_model.py checks logits and greedy tokens against transformers
on every architecture. ``torch.compile`` was measured and does not pay here (docs/benchmark.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sara_core.engine.cpu import int8_kernels, kernels
from sara_core.engine.cpu.int8_kernels import QWeight
from sara_core.engine.cpu.int8_linear import Int8Embedding, Int8Linear
from sara_core.engine.cpu.kv_cache import KVState
from sara_core.engine.cpu.lean_weights import (
    BlockWeights,
    Weight,
    block_weights,
    layer_weight,
    norm_weight,
    t_copy,
)

# Rope types whose inverse frequencies do not depend on the sequence length.
_STATIC_ROPE = ("default", "linear", "llama3")
_ARCHS = ("LlamaForCausalLM", "Qwen2ForCausalLM", "GemmaForCausalLM", "Gemma2ForCausalLM")
_ACTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "silu": F.silu,
    "swish": F.silu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}
COPY_LIMIT_BYTES = 1 << 30
"""Models up to this many bytes of weights get fused (in, out) copies (see the docstring)."""

ENABLED = True
"""Set False to run everything through transformers' forward (tests, before/after timings)."""

Edit = Callable[[int, torch.Tensor], torch.Tensor]
"""``edit(block, hidden (rows, seq, hidden))``: the steerings at the input of a block."""


class LeanModel:
    """One model's weights, rotary tables and architecture facts; see the module docstring."""

    def __init__(self, model: nn.Module):
        cfg: Any = model.config
        inner: Any = model.model
        name = type(model).__name__
        self.gemma = name.startswith("Gemma")
        self.four_norms = name == "Gemma2ForCausalLM"
        self.n_heads = int(cfg.num_attention_heads)
        self.n_kv = int(cfg.num_key_value_heads or self.n_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads)
        self.eps = float(cfg.rms_norm_eps)
        scalar = getattr(cfg, "query_pre_attn_scalar", None) if self.four_norms else None
        self.scale = float(scalar if scalar is not None else self.head_dim) ** -0.5
        self.attn_cap = getattr(cfg, "attn_logit_softcapping", None) if self.four_norms else None
        self.final_cap = getattr(cfg, "final_logit_softcapping", None) if self.four_norms else None
        self.act = _ACTS[_act_name(cfg)]
        # the model's own embedding module looks rows up: float32 or int8, with Gemma's
        # embed_scale where it has one, exactly as transformers' forward does
        self.embed: nn.Module = inner.embed_tokens
        int8_embed = isinstance(self.embed, Int8Embedding)
        self.dtype = torch.float32 if int8_embed else self.embed.weight.dtype
        int8 = any(isinstance(m, Int8Linear) for m in model.modules())
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        copy = not int8 and size <= COPY_LIMIT_BYTES
        types = getattr(cfg, "layer_types", None) or ["full_attention"] * len(inner.layers)
        window = getattr(cfg, "sliding_window", None)
        self.blocks = [
            block_weights(layer, self.gemma, copy, window if kind == "sliding_attention" else None)
            for layer, kind in zip(inner.layers, types, strict=True)
        ]
        self.final_norm = norm_weight(inner.norm, self.gemma)
        head: Any = model.lm_head
        # (in, out) copy on a small model (tied to the embedding in most small llamas)
        self.lm_head_w = layer_weight(head)
        self.lm_head = t_copy(self.lm_head_w) if copy else None
        rotary = inner.rotary_emb
        self._inv_freq = rotary.inv_freq.detach().float()
        self._rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        self._cos = self._sin = torch.empty(0)
        self._rope_table(256)
        self.n_layers = len(self.blocks)
        self.source = _fingerprint(model)

    # -- tables and small pieces ------------------------------------------------------------

    def _rope_table(self, n: int) -> None:
        """cos and sign-folded sin for positions 0..n-1, computed exactly as transformers does."""
        pos = torch.arange(n, dtype=torch.long)
        freqs = pos[:, None].float() * self._inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        half = self.head_dim // 2
        sin = emb.sin() * self._rope_scale
        # rotate_half(x) * sin == roll(x, half) * sin_signed, with the first half's sign folded in
        self._cos = emb.cos() * self._rope_scale
        self._sin = torch.cat((-sin[:, :half], sin[:, half:]), dim=-1)

    def rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin rows for ``positions`` (any shape), the table grown as needed."""
        need = int(positions.max()) + 1 if positions.numel() else 0
        if need > self._cos.shape[0]:
            self._rope_table(max(need, 2 * self._cos.shape[0]))
        return self._cos[positions], self._sin[positions]

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # as the detached weight it replaced: no graph, whoever calls
            return self.embed(ids)

    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """llama's ``w * (x * rsqrt)`` or gemma's ``(x * rsqrt) * (1 + w)`` (float32 models)."""
        normed = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed * weight if self.gemma else weight * normed

    @staticmethod
    def _linear(
        x: torch.Tensor,
        own: Weight,
        copy: torch.Tensor | None = None,
        bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x times a weight: int8 through its kernels, a few rows through
        :mod:`sara_core.engine.cpu.kernels` (the model's own layout), else the (in, out) copy
        where there is one, else ``F.linear``."""
        if isinstance(own, QWeight):
            return int8_kernels.linear(x, own, bias)
        if kernels.applies(x.numel() // x.shape[-1], own):
            return kernels.linear(x, own, bias)
        if copy is None:
            return F.linear(x, own, bias)
        out = x @ copy
        return out if bias is None else out + bias

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Final norm, output layer and (gemma-2) soft cap: (rows, hidden) -> (rows, vocab)."""
        x = self._norm(h, self.final_norm)
        out = self._linear(x, self.lm_head_w, self.lm_head)
        if self.final_cap is not None:
            out = torch.tanh(out / self.final_cap) * self.final_cap
        return out

    def _qkv(self, b: BlockWeights, x: torch.Tensor) -> torch.Tensor:
        small = isinstance(b.q, torch.Tensor) and kernels.applies(x.numel() // x.shape[-1], b.q)
        if b.qkv is not None and not small:
            out = x @ b.qkv
            return out if b.qkv_bias is None else out + b.qkv_bias
        parts = [self._linear(x, w) for w in (b.q, b.k, b.v)]
        out = torch.cat(parts, dim=-1)
        return out if b.qkv_bias is None else out + b.qkv_bias

    def _mlp(self, b: BlockWeights, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        small = isinstance(b.gate, torch.Tensor) and kernels.applies(rows, b.gate)
        if b.gate_up is not None and not small:
            gate, up = (x @ b.gate_up).chunk(2, dim=-1)
        else:
            gate, up = self._linear(x, b.gate), self._linear(x, b.up)
        return self._linear(self.act(gate) * up, b.down)

    def _attend(
        self, b: BlockWeights, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """q (rows, heads, n, d) over k, v (rows, kv_heads, s, d); ``mask`` bool, broadcastable
        to (rows, 1, n, s), True = attend. Returns (rows, n, heads * d)."""
        rows, _, n, d = q.shape
        if self.attn_cap is None:  # scaled_dot_product_attention, as transformers' sdpa path
            group = self.n_heads // self.n_kv
            if n == 1:  # a single query per row: its heads grouped under their key/value head
                qg = q.view(rows, self.n_kv, group, d)
                out = F.scaled_dot_product_attention(qg, k, v, attn_mask=mask, scale=self.scale)
            else:
                out = F.scaled_dot_product_attention(
                    q, k, v, attn_mask=mask, scale=self.scale, enable_gqa=group > 1
                )
            return out.reshape(rows, self.n_heads, n, d).transpose(1, 2).reshape(rows, n, -1)
        # gemma-2's eager attention: soft-capped scores, the mask, softmax in float32
        group = self.n_heads // self.n_kv
        if group > 1:
            k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) * self.scale
        scores = torch.tanh(scores / self.attn_cap) * self.attn_cap
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
        weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        return torch.matmul(weights, v).transpose(1, 2).reshape(rows, n, -1)

    def _block(
        self,
        b: BlockWeights,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        store: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
        mask: torch.Tensor,
    ) -> torch.Tensor:
        """One block on h (rows, n, hidden); ``store(k, v)`` keeps the new keys and values and
        returns the keys and values to attend over."""
        rows, n, _ = h.shape
        nq, nkv, d = self.n_heads, self.n_kv, self.head_dim
        q_end = (nq + nkv) * d
        x = self._norm(h, b.norms[0])
        qkv = self._qkv(b, x)
        qk = qkv[..., :q_end].view(rows, n, nq + nkv, d)
        qk = qk * cos + qk.roll(d // 2, -1) * sin
        qk = qk.transpose(1, 2)  # (rows, heads, n, d)
        keys, values = store(qk[:, nq:], qkv[..., q_end:].view(rows, n, nkv, d).transpose(1, 2))
        att = self._attend(b, qk[:, :nq], keys, values, mask)
        out = self._linear(att, b.o, bias=b.o_bias)
        if self.four_norms:
            out = self._norm(out, b.norms[1])
        h = h + out
        x = self._norm(h, b.norms[-3] if self.four_norms else b.norms[1])
        out = self._mlp(b, x)
        if self.four_norms:
            out = self._norm(out, b.norms[3])
        return h + out

    # -- the two passes ---------------------------------------------------------------------

    def prefill(
        self,
        h: torch.Tensor,
        lo: int,
        hi: int,
        kv: list[tuple[torch.Tensor, torch.Tensor]],
        edit: Edit | None = None,
    ) -> torch.Tensor:
        """Blocks ``lo``..``hi``-1 on unpadded sequences h (rows, n, hidden) at positions 0..n-1;
        appends each block's keys and values (rows, kv_heads, n, d) to ``kv``. ``edit`` is
        called at the input of every block (the steerings)."""
        n = h.shape[1]
        cos, sin = self.rope(torch.arange(n))
        cos, sin = cos[None, :, None], sin[None, :, None]
        causal = torch.ones(n, n, dtype=torch.bool).tril()

        def store(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            kv.append((k, v))
            return k, v

        for i in range(lo, hi):
            if edit is not None:
                h = edit(i, h)
            b = self.blocks[i]
            mask = causal if b.window is None else causal.triu(1 - b.window)
            h = self._block(b, h, cos, sin, store, mask)
        return h

    def step(
        self,
        state: KVState,
        ids: torch.Tensor,
        positions: torch.Tensor,
        edit: Edit | None = None,
        edit_layers: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        """One decode step: ``ids`` and ``positions`` (rows,) -> logits (rows, vocab)."""
        t = state.open_column()
        valid = state.valid[:, None, None, : t + 1]
        cos, sin = self.rope(positions)
        cos, sin = cos[:, None, None], sin[:, None, None]
        h = self.embed_ids(ids)[:, None]
        for i, b in enumerate(self.blocks):
            if edit is not None and i in edit_layers:
                h = edit(i, h)
            keys, values = state.keys[i], state.values[i]

            def store(k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                keys[:, :, t] = k[:, :, 0]  # noqa: B023 - used at once, inside this iteration
                values[:, :, t] = v[:, :, 0]  # noqa: B023
                return keys[:, :, : t + 1], values[:, :, : t + 1]  # noqa: B023

            mask = valid
            if b.window is not None and t + 1 > b.window:
                mask = valid.clone()
                mask[..., : t + 1 - b.window] = False
            h = self._block(b, h, cos, sin, store, mask)
        state.close_column()
        return self.logits(h[:, 0])


def _act_name(cfg: Any) -> str:
    return str(getattr(cfg, "hidden_activation", None) or getattr(cfg, "hidden_act", "silu"))


def _fingerprint(model: nn.Module) -> tuple[tuple[int, int], ...]:
    """Where the weights (int8 ones too) live and their version counters: a model that was
    moved, reloaded or edited in place (even under no_grad) gets new tables and copies."""
    return tuple((p.data_ptr(), p._version) for p in [*model.parameters(), *model.buffers()])


def supported(model: nn.Module) -> bool:
    """A model this module computes exactly as transformers does: one of the architectures
    above, float32 on the CPU, in eval mode, with a static rope and a known activation."""
    if type(model).__name__ not in _ARCHS or model.training:
        return False
    cfg: Any = model.config
    rope = getattr(cfg, "rope_parameters", None) or {}
    rope_type = rope.get("rope_type", "default") if isinstance(rope, dict) else "default"
    first = next(model.parameters())
    return (
        _act_name(cfg) in _ACTS
        and not getattr(cfg, "mlp_bias", False)
        and not getattr(cfg, "use_bidirectional_attention", False)
        and int(getattr(cfg, "pretraining_tp", 1) or 1) == 1
        and rope_type in _STATIC_ROPE
        and first.device.type == "cpu"
        and first.dtype == torch.float32
    )


_LEAN: weakref.WeakKeyDictionary[nn.Module, LeanModel] = weakref.WeakKeyDictionary()


def lean_model(model: nn.Module) -> LeanModel | None:
    """The model's lean form (built on first use: the fused copies cost the embedded model a
    fraction of a second and their bytes; no copies for one over :data:`COPY_LIMIT_BYTES`), or None
    when it is not one this module computes, or hooks that a lean pass would skip are installed on
    it."""
    if not ENABLED or not supported(model) or hook_count(model):
        return None
    lean = _LEAN.get(model)
    if lean is None or lean.source != _fingerprint(model):
        with torch.no_grad():
            lean = LeanModel(model)
        _LEAN[model] = lean
    return lean


def hook_count(model: nn.Module) -> int:
    """Forward hooks installed on the model's modules, and global ones: the lean passes run no
    module, so a decode loop takes them only when there are none."""
    from torch.nn.modules import module as torch_module

    count = len(torch_module._global_forward_pre_hooks) + len(torch_module._global_forward_hooks)
    for m in model.modules():
        count += len(m._forward_pre_hooks) + len(m._forward_hooks)
    return count

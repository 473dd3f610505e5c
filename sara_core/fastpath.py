"""A lean decode step for llama-architecture models on CPU (the embedded SmolLM2 is one).

Why not transformers' own forward for decode steps: one new token per row is a sequence of
matrix-vector products, so a step should cost the time to read the weights once. Profiled on the
2-core CPU (docs/benchmark.md), transformers' llama forward spends about as long again in Python
and small ops (module calls, the mask, rotary embedding, the cache) as in the products, and
``torch.nn.functional.linear`` on weights stored (out, in) runs MKL's dot-product GEMV, half
the bandwidth of the axpy GEMV on the same weights stored (in, out) when ``in`` is short (576
here); the fused copies cost about 385 MB for the embedded model.
``torch.compile`` removes the Python but took over 8 minutes to compile this model here, and
transformers' StaticCache cannot drop finished rows; so this module does one decode step in
plain torch ops: q, k and v in one product, gate and up in one, weights laid out for the faster
GEMV, a preallocated key/value buffer, and no per-step Python beyond one loop over the blocks.

The prompt (prefill) still runs through transformers, hooks and all; its key/value cache is
copied into the buffer. Steerings that act on decode steps are applied through
:meth:`sara_core.layers.SteeringHooks.edit` at their block, as the pre-hook would. Numerics:
the same operations as transformers' llama, in float32; only the summation order inside the
products differs (about 1e-6 relative), see tests/test_fastpath.py.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# Rope types whose inverse frequencies do not depend on the sequence length.
_STATIC_ROPE = ("default", "linear", "llama3")

ENABLED = True
"""Set False to decode through transformers' forward everywhere (tests, before/after timings)."""


@dataclass
class _Block:
    norm1: torch.Tensor  # (hidden,)
    qkv: torch.Tensor  # (hidden, q + k + v): the three projections, stored (in, out)
    o: torch.Tensor  # (hidden, heads * head_dim), transformers' (out, in)
    norm2: torch.Tensor
    gate_up: torch.Tensor  # (hidden, 2 * intermediate), stored (in, out)
    down: torch.Tensor  # (hidden, intermediate), (out, in): long rows, the dot-product GEMV wins


class FastLlama:
    """Fused weights and rotary tables of one llama model; see the module docstring."""

    def __init__(self, model: nn.Module):
        cfg: Any = model.config
        inner: Any = model.model
        self.n_heads = int(cfg.num_attention_heads)
        self.n_kv = int(cfg.num_key_value_heads or self.n_heads)
        self.head_dim = int(getattr(cfg, "head_dim", None) or cfg.hidden_size // self.n_heads)
        self.eps = float(cfg.rms_norm_eps)
        self.scale = self.head_dim**-0.5
        self.blocks = [_fuse(layer) for layer in inner.layers]
        self.final_norm = inner.norm.weight.detach()
        self.embed = inner.embed_tokens.weight.detach()
        # Tied to the embedding in most small llamas: the (in, out) copy costs vocab * hidden.
        head: Any = model.lm_head
        self.lm_head = head.weight.detach().t().contiguous()
        rotary = inner.rotary_emb
        self._inv_freq = rotary.inv_freq.detach().float()
        self._rope_scale = float(getattr(rotary, "attention_scaling", 1.0))
        self._cos = self._sin = torch.empty(0)
        self._rope_table(int(getattr(cfg, "max_position_embeddings", 2048) or 2048))
        self.source = _fingerprint(model)

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

    def new_state(
        self, cache: Any, mask: torch.Tensor, extra: int, dtype: torch.dtype
    ) -> DecodeState:
        """Buffers for ``extra`` more tokens per row, holding the prefill's keys and values."""
        batch, width = mask.shape
        need = width + extra
        if need > self._cos.shape[0]:
            self._rope_table(need)
        keys, values = [], []
        for i in range(len(self.blocks)):
            k, v = _layer_kv(cache, i)
            kb = k.new_zeros((batch, self.n_kv, need, self.head_dim))
            vb = v.new_zeros((batch, self.n_kv, need, self.head_dim))
            kb[:, :, :width] = k
            vb[:, :, :width] = v
            keys.append(kb)
            values.append(vb)
        valid = torch.zeros((batch, need), dtype=torch.bool)
        valid[:, :width] = mask.bool()
        return DecodeState(keys, values, valid, width)

    def step(
        self,
        state: DecodeState,
        ids: torch.Tensor,
        positions: torch.Tensor,
        edit: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
        edit_layers: frozenset[int] = frozenset(),
    ) -> torch.Tensor:
        """One decode step: ``ids`` and ``positions`` (batch,) -> logits (batch, vocab).

        ``edit(block, hidden (batch, 1, hidden))`` is called before each block in
        ``edit_layers`` (the steering hooks' blocks).
        """
        batch = ids.shape[0]
        t = state.length
        state.valid[:, t] = True
        mask = state.valid[:, None, None, : t + 1]
        cos, sin = self._cos[positions][:, None], self._sin[positions][:, None]
        nq, nkv, d = self.n_heads, self.n_kv, self.head_dim
        half, q_end = d // 2, (nq + nkv) * d
        h = F.embedding(ids, self.embed)
        for i, b in enumerate(self.blocks):
            if edit is not None and i in edit_layers:
                h = edit(i, h[:, None])[:, 0]
            x = _rms(h, b.norm1, self.eps)
            qkv = x @ b.qkv
            qk = qkv[:, :q_end].view(batch, nq + nkv, d)
            qk = qk * cos + qk.roll(half, -1) * sin
            keys, values = state.keys[i], state.values[i]
            keys[:, :, t] = qk[:, nq:]
            values[:, :, t] = qkv[:, q_end:].view(batch, nkv, d)
            # a single query per row: its heads grouped under their key/value head, as
            # transformers' pack_gqa does, so no key/value is repeated
            q = qk[:, :nq].view(batch, nkv, nq // nkv, d)
            att = F.scaled_dot_product_attention(
                q, keys[:, :, : t + 1], values[:, :, : t + 1], attn_mask=mask, scale=self.scale
            )
            h = h + F.linear(att.reshape(batch, nq * d), b.o)
            x = _rms(h, b.norm2, self.eps)
            gate, up = (x @ b.gate_up).chunk(2, dim=-1)
            h = h + F.linear(F.silu(gate) * up, b.down)
        state.length = t + 1
        return _rms(h, self.final_norm, self.eps) @ self.lm_head


@dataclass
class DecodeState:
    """Per-block key/value buffers (batch, kv_heads, capacity, head_dim) and valid columns."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    valid: torch.Tensor  # (batch, capacity) bool: real tokens (not left padding)
    length: int  # columns filled

    def select(self, index: torch.Tensor) -> None:
        """Keep only the rows ``index`` (finished rows leave the batch)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        self.valid = self.valid.index_select(0, index)


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """transformers' LlamaRMSNorm, operation for operation (float32 models)."""
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def _fuse(layer: Any) -> _Block:
    """One block's weights: q, k, v fused and gate, up fused, each laid out (in, out).

    Copies, not views handed back to the model: the model's own weights stay as transformers
    made them (``save_pretrained`` refuses tensors that share storage in other layouts).
    """
    attn, mlp = layer.self_attn, layer.mlp
    qkv = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight], dim=0)
    gate_up = torch.cat([mlp.gate_proj.weight, mlp.up_proj.weight], dim=0)
    return _Block(
        norm1=layer.input_layernorm.weight.detach(),
        qkv=qkv.detach().t().contiguous(),
        o=attn.o_proj.weight.detach(),
        norm2=layer.post_attention_layernorm.weight.detach(),
        gate_up=gate_up.detach().t().contiguous(),
        down=mlp.down_proj.weight.detach(),
    )


def _layer_kv(cache: Any, i: int) -> tuple[torch.Tensor, torch.Tensor]:
    layer = cache.layers[i]
    return layer.keys, layer.values


def _fingerprint(model: nn.Module) -> tuple[tuple[int, int], ...]:
    """Where the copied weights live and their version counters: a model that was moved,
    reloaded or edited in place (even under no_grad) gets new fused weights."""
    inner: Any = model.model
    head: Any = model.lm_head
    weights = [head.weight]
    for layer in inner.layers:
        attn, mlp = layer.self_attn, layer.mlp
        weights += [attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight]
        weights += [mlp.gate_proj.weight, mlp.up_proj.weight]
    return tuple((w.data_ptr(), w._version) for w in weights)


def supported(model: nn.Module) -> bool:
    """A llama model this module can decode exactly: plain llama blocks, CPU, no biases."""
    if type(model).__name__ != "LlamaForCausalLM" or model.training:
        return False
    cfg: Any = model.config
    rope = getattr(cfg, "rope_parameters", None) or {}
    rope_type = rope.get("rope_type", "default") if isinstance(rope, dict) else "default"
    return (
        cfg.hidden_act == "silu"
        and not getattr(cfg, "attention_bias", False)
        and not getattr(cfg, "mlp_bias", False)
        and int(getattr(cfg, "pretraining_tp", 1) or 1) == 1
        and rope_type in _STATIC_ROPE
        and next(model.parameters()).device.type == "cpu"
        and next(model.parameters()).dtype == torch.float32
    )


_FAST: weakref.WeakKeyDictionary[nn.Module, FastLlama] = weakref.WeakKeyDictionary()


def fast_llama(model: nn.Module) -> FastLlama | None:
    """The model's fused weights (built on first use, about 0.3 s for 135M; 390 MB more for
    it), or None when the model is not one this module decodes."""
    if not ENABLED or not supported(model):
        return None
    fast = _FAST.get(model)
    if fast is None or fast.source != _fingerprint(model):
        with torch.no_grad():
            fast = FastLlama(model)
        _FAST[model] = fast
    return fast


def hook_count(model: nn.Module) -> int:
    """Forward hooks installed on the model's modules, and global ones: the fast step runs no
    module, so a decode loop takes it only when every hook is one of its own steering hooks."""
    from torch.nn.modules import module as torch_module

    count = len(torch_module._global_forward_pre_hooks) + len(torch_module._global_forward_hooks)
    for m in model.modules():
        count += len(m._forward_pre_hooks) + len(m._forward_hooks)
    return count

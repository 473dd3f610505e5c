"""The decode loop: many rows in one batch, each with its own prompt, steerings and stop.

Written here rather than calling ``model.generate`` because each row needs what ``generate``
cannot give a shared batch: its own steering (applied to its real tokens only, never to the left
padding), its own length, stop event, deadline and sampling seed, and the right to leave the
batch when it is done without disturbing the others. It also tells the hooks explicitly whether
a forward pass is the prefill or a decode step, which lets :func:`score_continuations` feed a
whole continuation in one pass and still steer it exactly as generation would.

Greedy rows pick the arg-max; sampled rows draw from temperature + top-p with a generator seeded
per row, so a seed gives the same answer whatever else shares the batch.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sara_core.engine.cpu.lean_decoder import Join, decode_lean
from sara_core.engine.cpu.lean_model import lean_model
from sara_core.engine.row import (
    OnStep,
    Row,
    eos_ids,
    next_tokens,
    pad_id,
    seeded_generators,
)
from sara_core.engine.threads import decode_threads, intra_op_threads
from sara_core.models.loading import LoadedModel
from sara_core.steering.hooks import DECODE, PREFILL, RowSteering, SteeringHooks
from sara_core.steering.interface import Steering

__all__ = [
    "Continuation",
    "decode_rows",
    "left_pad",
    "score_continuations",
]


@dataclass
class _Batch:
    """Left-padded prompts: ids, mask and positions (B, T); ``starts`` = first real position."""

    ids: torch.Tensor
    mask: torch.Tensor
    positions: torch.Tensor
    starts: list[int]


def left_pad(prompts: Sequence[Sequence[int]], pad: int, device: torch.device) -> _Batch:
    """Pad prompts on the left to one length; positions count real tokens from 0, as alone."""
    if not prompts or any(len(p) == 0 for p in prompts):
        raise ValueError("every row needs at least one prompt token")
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p) :] = torch.tensor(list(p), dtype=torch.long)
        mask[i, width - len(p) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    starts = [width - len(p) for p in prompts]
    return _Batch(ids.to(device), mask.to(device), positions.to(device), starts)


_PARAMS: dict[type, frozenset[str]] = {}


def _forward_params(model_type: type) -> frozenset[str]:
    """The keyword arguments a model class's forward accepts (looked up once per class)."""
    if model_type not in _PARAMS:
        try:
            params = inspect.signature(model_type.forward).parameters  # type: ignore[attr-defined]
            _PARAMS[model_type] = frozenset(params)
        except (TypeError, ValueError):  # pragma: no cover - exotic wrappers
            _PARAMS[model_type] = frozenset()
    return _PARAMS[model_type]


def _new_cache(lm: LoadedModel) -> Any:
    from transformers import DynamicCache

    return DynamicCache(config=lm.model.config)


def _forward(
    lm: LoadedModel,
    ids: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    cache: Any,
    last_only: bool,
) -> torch.Tensor:
    """One forward pass with the cache; logits (B, seq or 1, vocab) in float32."""
    params = _forward_params(type(lm.model))
    # transformers 5.2x renamed past_key_values to cache; older classes take the old name
    kw: dict[str, Any] = {"attention_mask": mask, "use_cache": True}
    kw["cache" if "cache" in params else "past_key_values"] = cache
    if "position_ids" in params:
        kw["position_ids"] = positions
    if last_only and "logits_to_keep" in params:
        kw["logits_to_keep"] = 1
    logits = lm.model(input_ids=ids, **kw).logits
    return (logits[:, -1:] if last_only else logits).float()


class _Steps:
    """Decode steps through the model's own forward (any architecture), with its cache."""

    def __init__(self, lm: LoadedModel, batch: _Batch, cache: Any):
        self.lm, self.cache = lm, cache
        self.mask, self.positions = batch.mask, batch.positions[:, -1:]

    def select(self, index: torch.Tensor) -> None:
        self.cache.batch_select_indices(index)
        self.mask, self.positions = self.mask[index], self.positions[index]

    def __call__(self, next_ids: list[int]) -> torch.Tensor:
        self.mask = torch.cat([self.mask, self.mask.new_ones((self.mask.shape[0], 1))], dim=1)
        self.positions = self.positions + 1
        ids = torch.tensor(next_ids, device=self.mask.device).unsqueeze(1)
        return _forward(self.lm, ids, self.mask, self.positions, self.cache, last_only=True)[:, -1]


def decode_rows(
    lm: LoadedModel,
    rows: Sequence[Row],
    on_step: OnStep | None = None,
    *,
    join: Join | None = None,
) -> None:
    """Generate every row to its end (EOS, length, stop or deadline), batched, in this thread.

    The caller should hold ``lm.lock`` (this takes it too; it is re-entrant). Rows leave the
    batch as they finish. ``on_step`` sees all rows after every step (and after each prompt
    group's first tokens). ``join(rows_now)``, if given, is asked between decode steps for rows
    to add to the running batch; only the lean loop (:mod:`sara_core.engine.cpu.lean_decoder`: the
    architectures of :mod:`sara_core.engine.cpu.lean_model` on CPU) takes them, so a caller must not
    count on it. Elsewhere the prompt and the steps run through the model's own forward, with hooks.
    """
    if not rows:
        return
    eos = eos_ids(lm)
    lean = lean_model(lm.model)
    if lean is not None:
        decode_lean(lm, lean, rows, eos, on_step, join)
        return
    device = lm.device
    batch = left_pad([r.input_ids for r in rows], pad_id(lm), device)
    hooks = SteeringHooks(
        lm.model,
        [RowSteering(s, i, batch.starts[i]) for i, r in enumerate(rows) for s in r.steerings],
    )
    generators = seeded_generators(rows, device)
    active = list(range(len(rows)))  # original indices of the rows still in the batch
    cache = _new_cache(lm)
    with lm.lock, torch.no_grad(), hooks:
        hooks.phase = PREFILL
        logits = _forward(lm, batch.ids, batch.mask, batch.positions, cache, last_only=True)[:, -1]
        hooks.phase = DECODE
        steps = _Steps(lm, batch, cache)
        del cache
        with intra_op_threads(decode_threads(lm, len(rows))):
            while active:
                keep, next_ids = next_tokens(rows, active, logits, eos, generators)
                if on_step is not None:
                    on_step(rows)
                if not keep:
                    break
                if len(keep) < len(active):
                    steps.select(torch.tensor(keep, device=device))
                    hooks.select(keep)
                    active = [active[j] for j in keep]
                logits = steps(next_ids)


@dataclass
class Continuation:
    """A prompt, a continuation to score after it, and the steerings active while it is read."""

    prompt_ids: list[int]
    continuation: list[int]
    steerings: Sequence[Steering] = ()


def score_continuations(
    lm: LoadedModel, items: Sequence[Continuation], max_rows: int = 16
) -> list[list[float]]:
    """Log-probability of every continuation token, read as generation would produce it.

    The prompt is the prefill; the continuation's tokens are teacher-forced as decode steps (one
    pass, but the hooks treat every position as a generated token), so each steering's scope acts
    exactly as in :func:`decode_rows`. Returns, per item, one log-probability per token.
    """
    out: list[list[float]] = []
    lo = 0
    while lo < len(items):
        rows = _score_rows(lm, items[lo : lo + max_rows])
        out.extend(_score_batch(lm, items[lo : lo + rows]))
        lo += rows
    return out


SCORE_LOGITS_BYTES = 256 * 1024 * 1024
"""Most bytes of logits one scoring batch holds: a batch reads every continuation token's logits
at once (rows x tokens x vocabulary), 0.5 GB for 16 rows of 30 tokens at Gemma's 256k tokens,
and the output head copies them (Gemma-2's soft-cap: measured 2.6 copies at its peak)."""
SCORE_LOGIT_COPIES = 3


def _score_rows(lm: LoadedModel, items: Sequence[Continuation]) -> int:
    """How many of ``items`` (from the first) one scoring batch takes within the logits budget."""
    width = max(len(it.continuation) for it in items)
    per_row = width * lm.vocab_size * 4 * SCORE_LOGIT_COPIES
    return max(1, min(len(items), SCORE_LOGITS_BYTES // max(1, per_row)))


def _score_batch(lm: LoadedModel, items: Sequence[Continuation]) -> list[list[float]]:
    if any(not it.continuation for it in items):
        raise ValueError("every continuation needs at least one token")
    device = lm.device
    pad = pad_id(lm)
    batch = left_pad([it.prompt_ids for it in items], pad, device)
    hooks = SteeringHooks(
        lm.model,
        [RowSteering(s, i, batch.starts[i]) for i, it in enumerate(items) for s in it.steerings],
    )
    width = max(len(it.continuation) for it in items)
    cont = torch.full((len(items), width), pad, dtype=torch.long)
    cont_mask = torch.zeros((len(items), width), dtype=torch.long)
    for i, it in enumerate(items):
        cont[i, : len(it.continuation)] = torch.tensor(it.continuation)
        cont_mask[i, : len(it.continuation)] = 1
    cont, cont_mask = cont.to(device), cont_mask.to(device)
    cache = _new_cache(lm)
    with lm.lock, torch.no_grad(), hooks:
        hooks.phase = PREFILL
        first = _forward(lm, batch.ids, batch.mask, batch.positions, cache, last_only=True)
        logits = first
        if width > 1:
            hooks.phase = DECODE
            mask = torch.cat([batch.mask, cont_mask[:, :-1]], dim=1)
            positions = batch.positions[:, -1:] + torch.arange(1, width, device=device)
            rest = _forward(lm, cont[:, :-1], mask, positions, cache, last_only=False)
            logits = torch.cat([first, rest], dim=1)
            del first, rest
    # one position at a time: log_softmax over the whole (rows, tokens, vocabulary) tensor would
    # hold two more copies of it
    picked = logits.gather(-1, cont.unsqueeze(-1)).squeeze(-1)
    norm = torch.stack([logits[:, t].logsumexp(-1) for t in range(width)], dim=1)
    logprobs = (picked - norm).cpu()
    return [logprobs[i, : len(it.continuation)].tolist() for i, it in enumerate(items)]

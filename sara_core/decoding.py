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
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sara_core.fastpath import FastLlama, fast_llama, hook_count
from sara_core.layers import DECODE, PREFILL, RowSteering, SteeringHooks
from sara_core.models import LoadedModel
from sara_core.steering import Steering
from sara_core.threads import decode_threads, intra_op_threads

EOS, LENGTH, STOPPED, TIMEOUT, FAILED = "eos", "length", "stopped", "timeout", "failed"


@dataclass(frozen=True)
class Sampling:
    """Temperature + nucleus sampling, reproducible by ``seed``."""

    temperature: float = 0.8
    top_p: float = 1.0
    seed: int = 0


@dataclass
class Row:
    """One sequence of a batch. The loop fills ``tokens``, ``finish`` and ``first_token_at``."""

    input_ids: list[int]
    steerings: Sequence[Steering] = ()
    max_new_tokens: int = 80
    min_new_tokens: int = 0
    sampling: Sampling | None = None  # None: greedy
    stop: threading.Event | None = None  # set it to end this row at the next step
    deadline: float | None = None  # time.monotonic() after which the row ends as TIMEOUT
    tokens: list[int] = field(default_factory=list)
    finish: str | None = None  # EOS, LENGTH, STOPPED, TIMEOUT or FAILED once done
    first_token_at: float | None = None  # time.perf_counter() of its first new token

    @property
    def done(self) -> bool:
        return self.finish is not None


OnStep = Callable[[Sequence[Row]], None]
"""Called after every decode step with all rows of the batch (finished ones included)."""


def eos_ids(lm: LoadedModel) -> set[int]:
    """Every id that ends an answer: the generation config's and the tokenizer's EOS."""
    config: Any = lm.model.generation_config
    eos = config.eos_token_id
    ids = eos if isinstance(eos, list) else [eos]
    out = {int(e) for e in ids if e is not None}
    if lm.tokenizer.eos_token_id is not None:
        out.add(int(lm.tokenizer.eos_token_id))
    return out


def pad_id(lm: LoadedModel) -> int:
    tok: Any = lm.tokenizer
    value = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return int(value or 0)


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
            _PARAMS[model_type] = frozenset(inspect.signature(model_type.forward).parameters)  # type: ignore[attr-defined]
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


def _pick(logits: torch.Tensor, row: Row, eos: set[int], generator: torch.Generator | None) -> int:
    """The next token of one row from its logits (vocab,)."""
    if len(row.tokens) < row.min_new_tokens and eos:
        logits = logits.clone()
        logits[list(eos)] = float("-inf")
    if row.sampling is None:
        return int(logits.argmax())
    scaled = logits / row.sampling.temperature
    if row.sampling.top_p < 1.0:  # keep the smallest set whose probability reaches top_p
        sorted_logits, order = scaled.sort(descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        drop = cumulative - sorted_logits.softmax(-1) >= row.sampling.top_p
        drop[0] = False
        scaled = scaled.clone()
        scaled[order[drop]] = float("-inf")
    probs = scaled.softmax(-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def _finish_reason(row: Row, token: int | None, eos: set[int], now: float) -> str | None:
    if row.stop is not None and row.stop.is_set():
        return STOPPED
    if row.deadline is not None and now > row.deadline:
        return TIMEOUT
    if token is not None and token in eos:
        return EOS
    if len(row.tokens) >= row.max_new_tokens:
        return LENGTH
    return None


def _generators(rows: Sequence[Row], device: torch.device) -> list[torch.Generator | None]:
    out: list[torch.Generator | None] = []
    for row in rows:
        if row.sampling is None:
            out.append(None)
        else:
            out.append(torch.Generator(device=device).manual_seed(row.sampling.seed))
    return out


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


class _FastSteps:
    """Decode steps through :mod:`sara_core.fastpath` (llama on CPU), steered by ``hooks``."""

    def __init__(
        self, fast: FastLlama, batch: _Batch, cache: Any, extra: int, hooks: SteeringHooks
    ):
        self.fast = fast
        self.state = fast.new_state(cache, batch.mask, extra, torch.float32)
        self.positions = batch.positions[:, -1]
        self.layers = hooks.layers
        self.edit = hooks.edit if self.layers else None

    def select(self, index: torch.Tensor) -> None:
        self.state.select(index)
        self.positions = self.positions[index]

    def __call__(self, next_ids: list[int]) -> torch.Tensor:
        self.positions = self.positions + 1
        ids = torch.tensor(next_ids)
        return self.fast.step(self.state, ids, self.positions, self.edit, self.layers)


def _fast_path(lm: LoadedModel, hooks: SteeringHooks) -> FastLlama | None:
    """The lean llama step when it applies: a supported model and no hooks but ours."""
    fast = fast_llama(lm.model)
    if fast is None or hook_count(lm.model) != len(hooks.layers):
        return None
    return fast


def _next_tokens(
    rows: Sequence[Row],
    active: list[int],
    logits: torch.Tensor,
    eos: set[int],
    generators: list[torch.Generator | None],
) -> tuple[list[int], list[int]]:
    """Pick each active row's next token and end the rows that are done.

    Returns the batch positions that stay and their tokens. Greedy rows share one arg-max.
    """
    now = time.monotonic()
    greedy = logits.argmax(-1).tolist()
    keep: list[int] = []
    next_ids: list[int] = []
    for j, i in enumerate(active):
        row = rows[i]
        reason = _finish_reason(row, None, eos, now)
        token = None
        if reason is None:
            plain = row.sampling is None and len(row.tokens) >= row.min_new_tokens
            token = greedy[j] if plain else _pick(logits[j], row, eos, generators[i])
            reason = _finish_reason(row, token, eos, now)
            if reason is None:
                row.tokens.append(token)
                if row.first_token_at is None:
                    row.first_token_at = time.perf_counter()
                reason = _finish_reason(row, None, eos, now)
        if reason is None:
            keep.append(j)
            next_ids.append(token)  # type: ignore[arg-type]
        else:
            row.finish = reason
    return keep, next_ids


def decode_rows(lm: LoadedModel, rows: Sequence[Row], on_step: OnStep | None = None) -> None:
    """Generate every row to its end (EOS, length, stop or deadline), batched, in this thread.

    The caller should hold ``lm.lock`` (this takes it too; it is re-entrant). Rows leave the
    batch as they finish. ``on_step`` sees all rows after every step. The prompt runs through
    the model's forward; decode steps through :mod:`sara_core.fastpath` where it applies, with
    the intra-op threads of :func:`decode_threads`.
    """
    if not rows:
        return
    eos = eos_ids(lm)
    device = lm.device
    batch = left_pad([r.input_ids for r in rows], pad_id(lm), device)
    hooks = SteeringHooks(
        lm.model,
        [RowSteering(s, i, batch.starts[i]) for i, r in enumerate(rows) for s in r.steerings],
    )
    generators = _generators(rows, device)
    active = list(range(len(rows)))  # original indices of the rows still in the batch
    cache = _new_cache(lm)
    with lm.lock, torch.no_grad(), hooks:
        hooks.phase = PREFILL
        logits = _forward(lm, batch.ids, batch.mask, batch.positions, cache, last_only=True)[:, -1]
        hooks.phase = DECODE
        fast = _fast_path(lm, hooks)
        extra = max(r.max_new_tokens for r in rows) + 1
        steps = (
            _Steps(lm, batch, cache)
            if fast is None
            else _FastSteps(fast, batch, cache, extra, hooks)
        )
        del cache
        with intra_op_threads(decode_threads(lm, len(rows))):
            while active:
                keep, next_ids = _next_tokens(rows, active, logits, eos, generators)
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

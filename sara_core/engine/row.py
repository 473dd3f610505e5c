"""A decode row (one sequence of a batch) and picking its next token: shared by the decode
loop through transformers (:mod:`sara_core.engine.decoding`) and the lean one
(:mod:`sara_core.engine.cpu.lean_decoder`).

Greedy rows pick the arg-max; sampled rows draw from temperature + top-p with a generator seeded
per row, so a seed gives the same answer whatever else shares the batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from sara_core.models.loading import LoadedModel
from sara_core.steering.interface import Steering

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


def pick(logits: torch.Tensor, row: Row, eos: set[int], generator: torch.Generator | None) -> int:
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


def finish_reason(row: Row, token: int | None, eos: set[int], now: float) -> str | None:
    if row.stop is not None and row.stop.is_set():
        return STOPPED
    if row.deadline is not None and now > row.deadline:
        return TIMEOUT
    if token is not None and token in eos:
        return EOS
    if len(row.tokens) >= row.max_new_tokens:
        return LENGTH
    return None


def seeded_generators(rows: Sequence[Row], device: torch.device) -> list[torch.Generator | None]:
    out: list[torch.Generator | None] = []
    for row in rows:
        if row.sampling is None:
            out.append(None)
        else:
            out.append(torch.Generator(device=device).manual_seed(row.sampling.seed))
    return out


def next_tokens(
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
        reason = finish_reason(row, None, eos, now)
        token = None
        if reason is None:
            plain = row.sampling is None and len(row.tokens) >= row.min_new_tokens
            token = greedy[j] if plain else pick(logits[j], row, eos, generators[i])
            reason = finish_reason(row, token, eos, now)
            if reason is None:
                row.tokens.append(token)
                if row.first_token_at is None:
                    row.first_token_at = time.perf_counter()
                reason = finish_reason(row, None, eos, now)
        if reason is None:
            keep.append(j)
            next_ids.append(token)  # type: ignore[arg-type]
        else:
            row.finish = reason
    return keep, next_ids

"""The log-likelihood of a few short replies (the judge's nine labels) after a prompt, from one
cached pass over the prompt.

The prompt judge used to run the whole prompt once per label: nine copies of a ~260-token
prompt per answer, and every position's logits. Here the prompt runs once (only its last
position's logits are kept: they give every label's first token), its cache is repeated once per
label longer than one token, and the labels' remaining tokens run in one right-padded batch.
A :class:`PromptMemo` keeps the last prompt's cache, so the next prompt runs only the tokens
after the part they share (the judge's prompts share the instructions and the dilemma, about a
third of them). The sums equal the full forward pass's within float rounding
(tests/evaluation/judges/test_label_scores.py checks it against one).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from sara_core.engine.decoding import _forward, _new_cache
from sara_core.engine.row import pad_id

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models.loading import LoadedModel


@dataclass
class PromptMemo:
    """The last prompt run and its one-row cache (None until a prompt has run)."""

    ids: list[int]
    cache: Any = None


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many tokens ``a`` and ``b`` share from the start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def run_prompt(lm: LoadedModel, prompt: list[int], memo: PromptMemo | None) -> tuple[Any, Any]:
    """The prompt's one-row cache and the log-probabilities of its next token (vocab,).

    With ``memo``, the part this prompt shares with the last one is taken from its cache (cut
    back to the shared tokens; at least one token always runs, for the next-token logits), and
    the memo then holds this prompt. A cache that cannot be cut back (sliding-window layers) is
    not reused."""
    start, cache = 0, None
    if memo is not None and memo.cache is not None and getattr(memo.cache, "is_croppable", False):
        start = min(shared_prefix(memo.ids, prompt), len(prompt) - 1)
        if start > 0:
            cache = memo.cache
            extra = cache.get_seq_length() - start
            if extra > 0:
                cache.crop(-extra)  # transformers 5: a negative count removes that many
    if cache is None:
        start, cache = 0, _new_cache(lm)
    ids = torch.tensor([prompt[start:]], device=lm.device)
    mask = torch.ones((1, len(prompt)), dtype=torch.long, device=lm.device)
    positions = torch.arange(start, len(prompt), device=lm.device).unsqueeze(0)
    logits = _forward(lm, ids, mask, positions, cache, last_only=True)
    if memo is not None:
        memo.ids, memo.cache = list(prompt), cache
    return cache, torch.log_softmax(logits[0, -1], dim=-1)


def label_logprobs(
    lm: LoadedModel,
    prompt: list[int],
    labels: Sequence[list[int]],
    memo: PromptMemo | None = None,
) -> np.ndarray:
    """Summed log-probability of each label's tokens as the continuation of ``prompt``: (L,).

    One pass over the prompt (or its new part, with ``memo``), then one batch with a row per
    label of two or more tokens: the prompt's cache repeated, the label's tokens but the last
    fed in, right-padded (padding comes after every real token, so no real token sees it)."""
    if not prompt or any(not lab for lab in labels):
        raise ValueError("the prompt and every label need at least one token")
    with lm.lock, torch.no_grad():
        cache, first = run_prompt(lm, prompt, memo)
        out = first[[lab[0] for lab in labels]].double().cpu().numpy()
        longer = [i for i, lab in enumerate(labels) if len(lab) > 1]
        if not longer:
            return out
        width = max(len(labels[i]) for i in longer) - 1
        ids = torch.full((len(longer), width), pad_id(lm), dtype=torch.long)
        fed = torch.zeros((len(longer), width), dtype=torch.long)
        for r, i in enumerate(longer):
            ids[r, : len(labels[i]) - 1] = torch.tensor(labels[i][:-1])
            fed[r, : len(labels[i]) - 1] = 1
        rows = copy.deepcopy(cache)  # the memo keeps the one-row cache
        rows.batch_repeat_interleave(len(longer))
        mask = torch.cat([torch.ones((len(longer), len(prompt)), dtype=torch.long), fed], dim=1)
        positions = (len(prompt) + torch.arange(width)).expand(len(longer), width)
        dev = lm.device
        logits = _forward(lm, ids.to(dev), mask.to(dev), positions.to(dev), rows, last_only=False)
        del rows
        for r, i in enumerate(longer):
            rest = torch.tensor(labels[i][1:], device=logits.device)
            steps = torch.log_softmax(logits[r, : len(rest)], dim=-1)
            out[i] += float(steps.gather(-1, rest.unsqueeze(-1)).double().sum())
    return out

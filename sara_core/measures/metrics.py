"""Metrics of the evaluation, as pure functions on fixed inputs (tests/measures/test_metrics.py).

* fractions of answers per school and per group;
* steering success: the change in the fraction of answers in the stance's target group, steered
  minus original;
* spillover: the probability mass moved *into* non-target groups, sum over g != target of
  max(0, f_steered(g) - f_original(g)); 0 when steering only moves answers toward the target;
* coherence: distinct-n (unique n-grams / n-grams, on lowercase words), repetition rate
  (1 - distinct-3) and the perplexity of an answer under the unsteered model;
* percentile bootstrap confidence intervals with a fixed seed, optionally stratified (answers are
  resampled within each dilemma, so every resample keeps the design's balance).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from sara_core.models.loading import LoadedModel

_WORD_RE = re.compile(r"[a-z0-9']+")


class Interval(NamedTuple):
    """An estimate with its bootstrap confidence interval (NaNs when there is no data)."""

    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Coherence:
    """Word count, distinct-1, distinct-2 and repetition rate (3-grams) of one answer."""

    n_words: float
    distinct_1: float
    distinct_2: float
    repetition_3: float


def fractions(labels: Sequence[Hashable], categories: Sequence[Hashable]) -> dict[Hashable, float]:
    """Fraction of ``labels`` in each category (every category present; all 0 for no labels).

    Labels outside ``categories`` count in the denominator but in no category.
    """
    n = len(labels)
    out = dict.fromkeys(categories, 0.0)
    if n == 0:
        return out
    for lab in labels:
        if lab in out:
            out[lab] += 1.0
    return {k: v / n for k, v in out.items()}


def shift(steered: dict[Hashable, float], original: dict[Hashable, float]) -> dict[Hashable, float]:
    """Per-category change of fraction, steered - original."""
    return {k: steered.get(k, 0.0) - original.get(k, 0.0) for k in original.keys() | steered.keys()}


def steering_success(
    steered: dict[Hashable, float], original: dict[Hashable, float], target: Hashable
) -> float:
    """Change of the target's fraction: f_steered(target) - f_original(target), in [-1, 1]."""
    return steered.get(target, 0.0) - original.get(target, 0.0)


def spillover(
    steered: dict[Hashable, float], original: dict[Hashable, float], target: Hashable
) -> float:
    """Mass moved into non-target categories: sum over c != target of max(0, delta_c), in [0, 1]."""
    return sum(max(0.0, d) for k, d in shift(steered, original).items() if k != target)


def words(text: str) -> list[str]:
    """Lowercase words (letters, digits, apostrophes): model-independent units for distinct-n."""
    return _WORD_RE.findall(text.lower())


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokens: Sequence[Hashable], n: int) -> float:
    """Unique n-grams / n-grams (1.0 for text too short to have an n-gram: nothing repeats)."""
    grams = ngrams(tokens, n)
    if not grams:
        return 1.0
    return len(set(grams)) / len(grams)


def repetition_rate(tokens: Sequence[Hashable], n: int = 3) -> float:
    """Share of n-grams that repeat an earlier one: 1 - distinct-n (0 = no repetition)."""
    return 1.0 - distinct_n(tokens, n)


def coherence(text: str) -> Coherence:
    """distinct-1, distinct-2, repetition rate (3-grams) and word count of one answer."""
    w = words(text)
    return Coherence(
        n_words=float(len(w)),
        distinct_1=distinct_n(w, 1),
        distinct_2=distinct_n(w, 2),
        repetition_3=repetition_rate(w, 3),
    )


def perplexity_from_logprobs(logprobs: Sequence[float]) -> float:
    """exp of the mean negative log-likelihood per token; NaN for no tokens."""
    if len(logprobs) == 0:
        return float("nan")
    return math.exp(-float(np.mean(logprobs)))


def answer_logprobs(
    lm: LoadedModel, prompt_ids: torch.Tensor, answer_ids: Sequence[int]
) -> list[float]:
    """Log-probabilities of ``answer_ids`` after ``prompt_ids`` (1, T) under ``lm`` as it is (call
    it with no steering installed to score under the unsteered model)."""
    import torch

    if len(answer_ids) == 0:
        return []
    ids = torch.cat([prompt_ids.reshape(1, -1), torch.tensor([list(answer_ids)])], dim=1)
    with lm.lock, torch.no_grad():
        logits = lm.model(input_ids=ids.to(lm.device)).logits[0].float().cpu()
    t = prompt_ids.shape[-1]
    logp = torch.log_softmax(logits[t - 1 : -1], dim=-1)
    return logp[torch.arange(len(answer_ids)), torch.tensor(list(answer_ids))].tolist()


def perplexity(lm: LoadedModel, prompt_ids: torch.Tensor, answer_ids: Sequence[int]) -> float:
    """Perplexity of an answer given its prompt under ``lm`` (NaN for an empty answer)."""
    return perplexity_from_logprobs(answer_logprobs(lm, prompt_ids, answer_ids))


def _resample(
    rng: np.random.Generator, values: np.ndarray, strata: np.ndarray | None
) -> np.ndarray:
    if strata is None:
        return values[rng.integers(0, len(values), len(values))]
    parts = []
    for s in np.unique(strata):
        idx = np.flatnonzero(strata == s)
        parts.append(values[idx[rng.integers(0, len(idx), len(idx))]])
    return np.concatenate(parts)


def bootstrap_ci(
    statistic: Callable[..., float],
    samples: Sequence[Sequence[Hashable] | np.ndarray],
    strata: Sequence[Sequence[Hashable] | np.ndarray | None] | None = None,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> Interval:
    """(estimate, low, high): ``statistic(*samples)`` and its percentile bootstrap interval.

    Each sample is resampled with replacement independently of the others (within its strata when
    given). Deterministic for a given ``seed``. Empty samples give NaNs.
    """
    arrays = [np.asarray(s, dtype=object if _is_text(s) else None) for s in samples]
    if any(len(a) == 0 for a in arrays):
        return Interval(math.nan, math.nan, math.nan)
    strata = list(strata) if strata is not None else [None] * len(arrays)
    strata_arr = [None if s is None else np.asarray(s) for s in strata]
    estimate = float(statistic(*arrays))
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        stats[b] = statistic(
            *[_resample(rng, a, s) for a, s in zip(arrays, strata_arr, strict=True)]
        )
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return Interval(estimate, math.nan, math.nan)
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return Interval(estimate, float(low), float(high))


def _is_text(s: Sequence[Hashable] | np.ndarray) -> bool:
    return len(s) > 0 and isinstance(s[0], str)


def mean_of(values: Sequence[float]) -> float:
    """Mean ignoring NaNs (NaN when nothing is left)."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")


def success_stat(target: Hashable) -> Callable[[np.ndarray, np.ndarray], float]:
    """statistic(steered_groups, original_groups) -> steering success toward ``target``."""

    def stat(steered: np.ndarray, original: np.ndarray) -> float:
        return float(np.mean(steered == target) - np.mean(original == target))

    return stat


def spillover_stat(
    target: Hashable, categories: Sequence[Hashable]
) -> Callable[[np.ndarray, np.ndarray], float]:
    """statistic(steered_groups, original_groups) -> spillover away from ``target``."""

    def stat(steered: np.ndarray, original: np.ndarray) -> float:
        return float(
            sum(
                max(0.0, np.mean(steered == c) - np.mean(original == c))
                for c in categories
                if c != target
            )
        )

    return stat

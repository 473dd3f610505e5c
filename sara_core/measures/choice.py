"""The forced-choice measure: how far a method moves the model toward one answer, no judge needed.

For every item of a bank (a question and one answer per pole) the model reads each answer as
its own reply to the question: the question is the chat prompt, the answer is teacher-forced as
decode steps (:func:`sara_core.engine.decoding.score_continuations`), so a steering's scope and
hooks act as they do in generation. P(pole) is the softmax over the two answers of their mean
per-token log-likelihood (the mean, so a longer answer is not penalised for its length). A
method's shift is the mean over items of P(toward | method) - P(toward | unsteered), with a
paired percentile bootstrap over items. :mod:`sara_core.measures.choice_forms` reads the same
scores in two more forms (summed log-likelihood; per-item log-odds shift).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sara_core.distributed import Shard
from sara_core.engine.decoding import Continuation, score_continuations
from sara_core.models.loading import LoadedModel
from sara_core.presets.choice import ChoiceBank, ChoiceItem
from sara_core.progress import shared_progress
from sara_core.prompts import encode_prompt
from sara_core.steering.interface import Steering

MAX_ROWS = 32
"""Sequences per forward pass when scoring (all conditions and options share the batches)."""


@dataclass(frozen=True)
class Condition:
    """One way to put the items to the model: an instruction before the question, steerings."""

    name: str
    steerings: tuple[Steering, ...] = ()
    instruction: str | None = None


@dataclass(frozen=True)
class Shift:
    """Mean over items of P(toward | method) - P(toward | unsteered), with its 95% bootstrap CI."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero_upward(self) -> bool:
        """The whole interval lies above 0: the method moved the model toward the pole."""
        return self.low > 0

    def to_json(self) -> dict[str, Any]:
        ci = [round(self.low, 4), round(self.high, 4)]
        return {"mean": round(self.mean, 4), "ci": ci, "n": self.n}

    def text(self) -> str:
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def other_pole(bank: ChoiceBank, toward: str) -> str:
    """The pole that is not ``toward`` (``ValueError`` naming the poles if it is neither)."""
    if toward not in bank.poles:
        raise ValueError(
            f"--toward {toward!r} is not a pole of bank {bank.name!r} "
            f"(poles: {', '.join(bank.poles)})"
        )
    return bank.poles[1] if toward == bank.poles[0] else bank.poles[0]


def option_ids(lm: LoadedModel, text: str) -> list[int]:
    """An answer's tokens as the assistant would write them (no special tokens)."""
    return [int(i) for i in lm.tokenizer(text, add_special_tokens=False)["input_ids"]]


def quick_items(bank: ChoiceBank, n: int = 16) -> list[ChoiceItem]:
    """A fixed subset of ``n`` items, balanced on ``act`` where the bank sets it (the first
    n/2 items of each), else the first ``n``."""
    acts = [p for p in bank.poles if any(it.act == p for it in bank.items)]
    if len(acts) < 2:
        return list(bank.items[:n])
    keep = {id(it) for p in acts for it in [i for i in bank.items if i.act == p][: n // 2]}
    return [it for it in bank.items if id(it) in keep]


@dataclass(frozen=True)
class AnswerScores:
    """One condition's scores of every item's two answers, column 0 toward, column 1 away."""

    sums: np.ndarray
    """Summed token log-likelihood per item and answer, shape (n_items, 2)."""
    counts: np.ndarray
    """Tokens per item and answer, shape (n_items, 2)."""

    def p_mean(self) -> np.ndarray:
        """P(toward): the softmax over the two answers of their mean log-likelihood per token."""
        means = self.sums / self.counts
        return 1.0 / (1.0 + np.exp(means[:, 1] - means[:, 0]))

    def log_odds(self) -> np.ndarray:
        """log P(toward) / P(away) of the whole answers: the difference of the summed scores."""
        return self.sums[:, 0] - self.sums[:, 1]

    def p_sum(self) -> np.ndarray:
        """P(toward): the softmax over the two answers of their summed log-likelihood."""
        return 1.0 / (1.0 + np.exp(-self.log_odds()))


def p_toward(
    lm: LoadedModel,
    items: Sequence[ChoiceItem],
    toward: str,
    other: str,
    conditions: Sequence[Condition],
    max_rows: int = MAX_ROWS,
    shard: Shard | None = None,
    progress: bool = False,
) -> dict[str, np.ndarray]:
    """P(toward) per item under each condition (the mean form): {name: array (n_items,)}."""
    scores = answer_scores(lm, items, toward, other, conditions, max_rows, shard, progress)
    return {name: s.p_mean() for name, s in scores.items()}


def answer_scores(
    lm: LoadedModel,
    items: Sequence[ChoiceItem],
    toward: str,
    other: str,
    conditions: Sequence[Condition],
    max_rows: int = MAX_ROWS,
    shard: Shard | None = None,
    progress: bool = False,
) -> dict[str, AnswerScores]:
    """Both answers' scores per item under each condition: {condition name: AnswerScores}.

    Every (condition, item, option) is one row of the same batched scoring calls; rows are
    sorted by length so that batches carry little padding. The batches are fixed by that order,
    so with ``shard`` each process scores every N-th batch and every process gets the same
    result whatever N is.
    """
    prompts: dict[tuple[str, str | None], list[int]] = {}
    rows: list[Continuation] = []
    for cond in conditions:
        for it in items:
            key = (it.question, cond.instruction)
            if key not in prompts:
                prompts[key] = encode_prompt(lm, it.question, cond.instruction)[0].tolist()
            for pole in (toward, other):
                ids = option_ids(lm, it.options[pole])
                rows.append(Continuation(prompts[key], ids, cond.steerings))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].prompt_ids))
    cut = [order[lo : lo + max_rows] for lo in range(0, len(order), max_rows)]
    shard = shard or Shard()
    mine: dict[int, list[float]] = {}
    with shared_progress(shard, len(rows), 0, "choice", progress) as counted:
        for b in shard.mine(range(len(cut))):
            scored = score_continuations(lm, [rows[i] for i in cut[b]], max_rows=max_rows)
            mine[b] = [float(np.sum(lp)) for lp in scored]
            counted(len(cut[b]))
        shard.wait_all(len(rows))
    sums = np.full(len(rows), np.nan)  # every batch is filled by the process that scored it
    for part in shard.all_gather(mine):
        for b, values in part.items():
            sums[cut[b]] = values
    shape = (len(conditions), len(items), 2)
    counts = np.array([len(r.continuation) for r in rows], dtype=float).reshape(shape)
    sums = sums.reshape(shape)
    return {c.name: AnswerScores(sums[j], counts[j]) for j, c in enumerate(conditions)}


def paired_shift(
    p_method: np.ndarray, p_base: np.ndarray, n_boot: int = 2000, seed: int = 0
) -> Shift:
    """Mean of P(method) - P(base) over items, CI from resampling items (95%, percentile)."""
    diff = np.asarray(p_method, dtype=float) - np.asarray(p_base, dtype=float)
    n = len(diff)
    if n == 0:
        return Shift(float("nan"), float("nan"), float("nan"), 0)
    rng = np.random.default_rng(seed)
    boot = diff[rng.integers(0, n, (n_boot, n))].mean(axis=1)
    low, high = np.quantile(boot, [0.025, 0.975])
    return Shift(float(diff.mean()), float(low), float(high), n)

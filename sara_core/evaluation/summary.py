"""Summaries of a run's answers: group fractions, steering success, spillover and coherence per
(method, stance, layer) and pooled over layers, each with a bootstrap interval; and the headline,
SARA minus ActAdd. Answers are resampled within each dilemma (the strata)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.config import EvalConfig, steered_methods, target_group
from sara_core.evaluation.schools import GROUPS, SCHOOLS, UNCLASSIFIABLE
from sara_core.measures.agreement import Validity, validity
from sara_core.measures.metrics import (
    Interval,
    bootstrap_ci,
    fractions,
    mean_of,
    spillover_stat,
    success_stat,
)

# Answers labelled before the judge had a collapse detector count as collapsed when their word
# 3-grams repeat more than this, or they have fewer words; answers labelled since use the
# judge's own detector (sara_core.measures.collapse). Every effect is also reported on the
# coherent answers only.
MAX_REPETITION = 0.5
MIN_WORDS = 5
COHERENCE_FIGURES = ("distinct_2", "repetition_3", "perplexity", "new_tokens")


def ci_json(interval: Interval) -> dict[str, float | None]:
    """An interval as summary.json stores it: rounded, None for NaN."""

    def r(x: float) -> float | None:
        return None if x is None or not math.isfinite(x) else round(x, 4)

    return {"value": r(interval.estimate), "low": r(interval.low), "high": r(interval.high)}


def is_coherent(row: AnswerRow) -> bool:
    """False for a collapsed answer: the judge's detector's verdict when the row has one, else
    mostly repeated 3-grams or almost no words."""
    if row.judge_coherent is not None:
        return row.judge_coherent
    return not row.repetition_3 > MAX_REPETITION and not row.n_words < MIN_WORDS


@dataclass(frozen=True)
class GroupSample:
    """The groups of some answers and their dilemmas (the bootstrap's strata), as arrays."""

    groups: np.ndarray
    strata: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[AnswerRow], stance_in_label: bool = False) -> GroupSample:
        """``stance_in_label``: labels "stance|group" so one resample keeps stances apart."""
        g = [f"{r.stance}|{r.group}" if stance_in_label else r.group for r in rows]
        s = [f"{r.stance}|{r.dilemma}" if stance_in_label else r.dilemma for r in rows]
        return cls(np.array(g, dtype=object), np.array(s, dtype=object))


def select(
    rows: Sequence[AnswerRow],
    method: str,
    stance: str | None = None,
    layer: int | None = None,
) -> list[AnswerRow]:
    """The answers of one method, and of one stance and layer when given."""
    return [
        r
        for r in rows
        if r.method == method
        and (stance is None or r.stance == stance)
        and (layer is None or r.layer == layer)
    ]


def fraction_block(sel: Sequence[AnswerRow], nb: int, seed: int) -> dict[str, Any]:
    """n, school fractions, group fractions, coherence figures and the collapsed share."""
    sample = GroupSample.of(sel)

    def ci(stat: Any, values: Any) -> dict[str, float | None]:
        return ci_json(bootstrap_ci(stat, [values], [sample.strata], nb, seed=seed))

    return {
        "n": len(sel),
        "schools": {k: round(v, 4) for k, v in fractions([r.school for r in sel], SCHOOLS).items()},
        "groups": {c: ci(lambda a, c=c: float(np.mean(a == c)), sample.groups) for c in GROUPS},
        "coherence": {k: ci(mean_of, [getattr(r, k) for r in sel]) for k in COHERENCE_FIGURES},
        "collapsed": ci(mean_of, [0.0 if is_coherent(r) else 1.0 for r in sel]),
        "unclassifiable": ci(
            lambda a: float(np.mean(a == UNCLASSIFIABLE)) if len(a) else float("nan"),
            sample.groups,
        ),
    }


def effect_block(
    sel: Sequence[AnswerRow], target: str, original: GroupSample, nb: int, seed: int
) -> dict[str, Any]:
    """Steering success and spillover of some steered answers against the originals."""
    s = GroupSample.of(sel)
    samples, strata = [s.groups, original.groups], [s.strata, original.strata]
    groups = list(GROUPS)
    return {
        "success": ci_json(bootstrap_ci(success_stat(target), samples, strata, nb, seed=seed)),
        "spillover": ci_json(
            bootstrap_ci(spillover_stat(target, groups), samples, strata, nb, seed=seed)
        ),
    }


def _block(
    rows: Sequence[AnswerRow],
    cfg: EvalConfig,
    original: GroupSample,
    method: str,
    stance: str,
    layer: int | None,
) -> dict[str, Any]:
    # the control has no stance: its answers are compared with each stance's target
    sel = select(rows, method, None if method == "control" else stance, layer)
    target = target_group(stance)
    return {
        "method": method,
        "stance": stance,
        "layer": "all" if layer is None else layer,
        "target": target,
        **fraction_block(sel, cfg.n_boot, cfg.seed),
        **effect_block(sel, target, original, cfg.n_boot, cfg.seed),
    }


def headline(
    stance: str,
    sara: Sequence[AnswerRow],
    act: Sequence[AnswerRow],
    original: GroupSample,
    nb: int,
    seed: int,
) -> dict[str, Any]:
    """SARA - ActAdd success and spillover for one stance, pooled over layers."""
    target = target_group(stance)
    s, a = GroupSample.of(sara), GroupSample.of(act)
    suc, spill = success_stat(target), spillover_stat(target, list(GROUPS))

    def d_success(sg: np.ndarray, ag: np.ndarray, og: np.ndarray) -> float:
        return suc(sg, og) - suc(ag, og)

    def d_spill(sg: np.ndarray, ag: np.ndarray, og: np.ndarray) -> float:
        return spill(sg, og) - spill(ag, og)

    samples = [s.groups, a.groups, original.groups]
    strata = [s.strata, a.strata, original.strata]
    return {
        "stance": stance,
        "target": target,
        "success_sara_minus_actadd": ci_json(
            bootstrap_ci(d_success, samples, strata, nb, seed=seed)
        ),
        "spillover_sara_minus_actadd": ci_json(
            bootstrap_ci(d_spill, samples, strata, nb, seed=seed)
        ),
    }


def headline_pooled(
    stances: Sequence[str],
    sara: Sequence[AnswerRow],
    act: Sequence[AnswerRow],
    original: GroupSample,
    nb: int,
    seed: int,
) -> dict[str, Any]:
    """Every stance together: the mean over stances of each stance's SARA - ActAdd difference."""
    targets = [target_group(s) for s in stances]
    s, a = GroupSample.of(sara, stance_in_label=True), GroupSample.of(act, stance_in_label=True)

    def part(x: np.ndarray, stance: str) -> np.ndarray:
        return np.array([v.split("|", 1)[1] for v in x if v.startswith(stance + "|")], dtype=object)

    def diff(kind: str) -> Any:
        def stat(sg: np.ndarray, ag: np.ndarray, og: np.ndarray) -> float:
            vals = []
            for st, t in zip(stances, targets, strict=True):
                fn = success_stat(t) if kind == "success" else spillover_stat(t, list(GROUPS))
                vals.append(fn(part(sg, st), og) - fn(part(ag, st), og))
            return float(np.mean(vals))

        return stat

    samples = [s.groups, a.groups, original.groups]
    strata = [s.strata, a.strata, original.strata]
    return {
        "stance": "all",
        "target": "each stance's own",
        "success_sara_minus_actadd": ci_json(
            bootstrap_ci(diff("success"), samples, strata, nb, seed=seed)
        ),
        "spillover_sara_minus_actadd": ci_json(
            bootstrap_ci(diff("spillover"), samples, strata, nb, seed=seed)
        ),
    }


def headlines(rows: Sequence[AnswerRow], cfg: EvalConfig) -> list[dict[str, Any]]:
    """SARA - ActAdd success and spillover per stance (pooled over layers), and over stances."""
    original = GroupSample.of(select(rows, "original"))
    nb, seed = cfg.n_boot, cfg.seed
    out = [
        headline(st, select(rows, "sara", st), select(rows, "actadd", st), original, nb, seed)
        for st in cfg.stances
    ]
    if len(cfg.stances) > 1:
        sara, act = select(rows, "sara"), select(rows, "actadd")
        out.append(headline_pooled(cfg.stances, sara, act, original, nb, seed))
    return out


def summarize(
    rows: Sequence[AnswerRow],
    cfg: EvalConfig,
    layers: list[int],
    valid: Validity | None = None,
) -> dict[str, Any]:
    """The judge's validity first (from its blind check; unknown when ``valid`` is None), then
    fractions, success, spillover and coherence per (method, stance, layer) and pooled, and the
    headline on every answer, then on the coherent answers only."""
    valid = valid or validity(None, cfg.judge, cfg.min_confidence)  # unknown
    original_rows = select(rows, "original")
    original = GroupSample.of(original_rows)
    steered, pooled = [], []
    for stance in cfg.stances:
        for method in steered_methods(cfg):
            steered += [_block(rows, cfg, original, method, stance, layer) for layer in layers]
            pooled.append(_block(rows, cfg, original, method, stance, None))
    coherent = [r for r in rows if is_coherent(r)]
    return {
        "validity": valid.to_json(),
        "original": fraction_block(original_rows, cfg.n_boot, cfg.seed),
        "steered": steered,
        "pooled": pooled,
        # positive success difference = SARA moves more; negative spillover = SARA spills less
        "headline": headlines(rows, cfg),
        "coherent": {
            "rule": "the judge's collapse detector found no loop, code, non-answer or "
            f"off-topic text (older rows: repetition_3 <= {MAX_REPETITION} and at least "
            f"{MIN_WORDS} words)",
            "n": len(coherent),
            "n_all": len(rows),
            "headline": headlines(coherent, cfg),
        },
    }

"""Matched strength: each method's forced-choice shift against its coherence cost, over a grid.

SARA at lambda = 1 and ActAdd at c = 4 are arbitrary settings; comparing them says nothing about
the methods. Here both are swept at one layer (fixed by the caller before looking). At each point:

* effect: the forced-choice shift toward the pole (:mod:`sara_core.measures.choice`);
* cost: short greedy answers (``COST_TOKENS`` new tokens) are generated under that steering to a
  fixed subset of the bank's questions, and scored by the *unsteered* model given the plain
  question; cost = exp(mean over questions of log ppl(steered answer) - log ppl(unsteered
  answer)), 1.0 = no cost, with a paired bootstrap CI over questions. The collapse rules (no
  classifier) give the share of those answers that loop, break into code or gibberish, or are
  too short.

The prompted baseline is one more point (its answers are scored given the plain question too).
The comparison at equal cost is fixed in advance: within ``COST_BUDGET`` (point estimate), each
method's largest shift, and SARA minus ActAdd at those two settings, paired over items.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sara_core.engine.decoding import Continuation, decode_rows, score_continuations
from sara_core.engine.row import Row
from sara_core.measures.choice import (
    Condition,
    Shift,
    other_pole,
    p_toward,
    paired_shift,
    quick_items,
)
from sara_core.measures.collapse import detect_collapse
from sara_core.measures.control import prepare_control
from sara_core.models.loading import LoadedModel
from sara_core.presets.choice import ChoiceBank
from sara_core.prompts import decode, encode_prompt
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.interface import Steering
from sara_core.steering.prepare import prepare_actadd, prepare_sara
from sara_core.steering.sara import SaraSteering

SARA_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)
ACTADD_GRID = (1.0, 2.0, 4.0, 8.0, 16.0)
COST_TOKENS = 40
COST_QUESTIONS = 16
COST_BUDGET = 1.25
"""Largest cost (perplexity ratio) at which the methods are compared; fixed before any run."""
DECODE_BATCH = 16


@dataclass(frozen=True)
class StrengthSpec:
    """One sweep: the bank and pole, the stance's texts, the layer and the two grids."""

    bank: ChoiceBank
    toward: str
    attract: str
    repel: str
    instruction: str
    layer: int
    sara_grid: tuple[float, ...] = SARA_GRID
    actadd_grid: tuple[float, ...] = ACTADD_GRID
    scope: str = "prompt"  # SARA's and the control's
    quick: bool = False
    n_boot: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class Cost:
    """Perplexity ratio (steered / unsteered answers, geometric means) with its CI, and the
    share of answers the collapse rules reject."""

    ratio: float
    low: float
    high: float
    collapsed: float
    n: int
    rules: dict[str, int] = field(default_factory=dict)  # answers per collapse rule that fired

    def to_json(self) -> dict[str, Any]:
        ci = [round(self.low, 4), round(self.high, 4)]
        share = round(self.collapsed, 4)
        return {
            "ratio": round(self.ratio, 4),
            "ci": ci,
            "collapsed": share,
            "n": self.n,
            "rules": self.rules,
        }


@dataclass(frozen=True)
class StrengthPoint:
    """One setting: the method, its coefficient (None for prompted), effect and cost."""

    method: str
    coeff: float | None
    shift: Shift
    cost: Cost
    example: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "coeff": self.coeff,
            "shift": self.shift.to_json(),
            "cost": self.cost.to_json(),
            "example": self.example,
        }


@dataclass
class StrengthResult:
    """Every point of the sweep, the unsteered baseline and the comparison at equal cost."""

    spec: StrengthSpec
    model: str
    n_items: int
    base_ppl: float
    base_collapsed: float
    points: list[StrengthPoint]
    comparison: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    base_rules: dict[str, int] = field(default_factory=dict)

    def of(self, method: str) -> list[StrengthPoint]:
        return [p for p in self.points if p.method == method]

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "model": self.model,
            "bank": s.bank.name,
            "toward": s.toward,
            "layer": s.layer,
            "scope": s.scope,
            "n_items": self.n_items,
            "cost_questions": min(COST_QUESTIONS, len(s.bank.items)),
            "cost_tokens": COST_TOKENS,
            "budget": COST_BUDGET,
            "unsteered": {
                "ppl": round(self.base_ppl, 3),
                "collapsed": self.base_collapsed,
                "rules": self.base_rules,
            },
            "points": [p.to_json() for p in self.points],
            "comparison": self.comparison,
            "seconds": round(self.seconds, 1),
        }


def greedy_answers(
    lm: LoadedModel, prompts: Sequence[list[int]], steerings: Sequence[Steering], n: int
) -> list[list[int]]:
    """Greedy answers of ``n`` new tokens at most, batched, each row steered alike."""
    out: list[list[int]] = []
    for lo in range(0, len(prompts), DECODE_BATCH):
        rows = [
            Row(list(p), tuple(steerings), max_new_tokens=n)
            for p in prompts[lo : lo + DECODE_BATCH]
        ]
        decode_rows(lm, rows)
        out += [list(r.tokens) for r in rows]
    return out


def log_ppl(
    lm: LoadedModel, prompts: Sequence[list[int]], answers: Sequence[list[int]]
) -> np.ndarray:
    """Mean negative log-likelihood per token of each answer under the unsteered model (NaN for
    an empty answer)."""
    keep = [i for i, a in enumerate(answers) if a]
    scored = score_continuations(lm, [Continuation(list(prompts[i]), answers[i]) for i in keep])
    out = np.full(len(answers), np.nan)
    for i, lp in zip(keep, scored, strict=True):
        out[i] = -float(np.mean(lp))
    return out


def cost_of(
    base: np.ndarray,
    steered: np.ndarray,
    collapsed: float,
    n_boot: int,
    seed: int,
    rules: dict[str, int] | None = None,
) -> Cost:
    """Ratio of geometric-mean perplexities, paired over questions with an answer in both."""
    ok = np.isfinite(base) & np.isfinite(steered)
    d = paired_shift(steered[ok], base[ok], n_boot, seed)
    ratio, low, high = float(np.exp(d.mean)), float(np.exp(d.low)), float(np.exp(d.high))
    return Cost(ratio, low, high, collapsed, d.n, dict(rules or {}))


def _collapsed(lm: LoadedModel, answers: Sequence[list[int]]) -> tuple[float, dict[str, int], str]:
    """Share of answers the collapse rules reject, how many per rule, and the first answer."""
    texts = [decode(lm, a) for a in answers]
    found = [detect_collapse(t) for t in texts]
    rules: dict[str, int] = {}
    for c in found:
        if c is not None:
            rules[c.rule] = rules.get(c.rule, 0) + 1
    share = sum(rules.values()) / len(texts) if texts else 0.0
    return share, rules, texts[0] if texts else ""


def best_within_budget(points: Sequence[StrengthPoint], budget: float) -> StrengthPoint | None:
    """The point with the largest shift among those whose cost is at most ``budget``."""
    ok = [p for p in points if p.cost.ratio <= budget]
    return max(ok, key=lambda p: p.shift.mean) if ok else None


def _conditions(lm: LoadedModel, s: StrengthSpec) -> list[tuple[str, float | None, Condition]]:
    out: list[tuple[str, float | None, Condition]] = [
        ("prompted", None, Condition("prompted", instruction=s.instruction))
    ]
    sara = prepare_sara(lm, s.attract, s.repel, s.layer, 1.0, scope=s.scope)
    act = prepare_actadd(lm, s.attract, s.repel, s.layer, 1.0)
    for c in s.sara_grid:
        steering = SaraSteering(sara.attract_acts, sara.repel_acts, s.layer, c, scope=s.scope)
        out.append(("sara", c, Condition(f"sara x{c:g}", (steering,))))
    for c in s.actadd_grid:
        out.append(
            ("actadd", c, Condition(f"actadd x{c:g}", (ActAddSteering(act.diff, s.layer, c),)))
        )
    control, _ = prepare_control(lm, s.attract, s.repel, s.layer, 1.0, s.scope)
    out.append(("control", 1.0, Condition("control x1", (control,))))
    return out


def run_strength(lm: LoadedModel, spec: StrengthSpec) -> StrengthResult:
    """The sweep: shifts of every setting in one scoring pass, then the cost answers."""
    t0 = time.perf_counter()
    items = quick_items(spec.bank, COST_QUESTIONS) if spec.quick else list(spec.bank.items)
    conds = _conditions(lm, spec)
    unsteered = Condition("unsteered")
    other = other_pole(spec.bank, spec.toward)
    probs = p_toward(lm, items, spec.toward, other, [unsteered, *(c for *_, c in conds)])
    questions = quick_items(spec.bank, COST_QUESTIONS)
    plain = [encode_prompt(lm, q.question)[0].tolist() for q in questions]
    base_answers = greedy_answers(lm, plain, (), COST_TOKENS)
    base = log_ppl(lm, plain, base_answers)
    base_collapsed, base_rules, _ = _collapsed(lm, base_answers)
    points = []
    for method, coeff, cond in conds:
        prompts = plain
        if cond.instruction:
            prompts = [
                encode_prompt(lm, q.question, cond.instruction)[0].tolist() for q in questions
            ]
        answers = greedy_answers(lm, prompts, cond.steerings, COST_TOKENS)
        share, rules, example = _collapsed(lm, answers)
        cost = cost_of(base, log_ppl(lm, plain, answers), share, spec.n_boot, spec.seed, rules)
        shift = paired_shift(probs[cond.name], probs["unsteered"], spec.n_boot, spec.seed)
        points.append(StrengthPoint(method, coeff, shift, cost, example))
    result = StrengthResult(
        spec, lm.name, len(items), float(np.exp(np.nanmean(base))), base_collapsed, points
    )
    result.base_rules = base_rules
    result.comparison = compare_at_budget(result, probs, COST_BUDGET)
    result.seconds = time.perf_counter() - t0
    return result


def compare_at_budget(
    result: StrengthResult, probs: dict[str, np.ndarray], budget: float
) -> dict[str, Any]:
    """Each method's best shift within ``budget`` and SARA minus ActAdd there, paired on items."""
    s = result.spec
    sara = best_within_budget(result.of("sara"), budget)
    act = best_within_budget(result.of("actadd"), budget)
    out: dict[str, Any] = {"budget": budget, "sara": None, "actadd": None, "difference": None}
    if sara is not None:
        out["sara"] = {"coeff": sara.coeff, "shift": sara.shift.to_json(), "cost": sara.cost.ratio}
    if act is not None:
        out["actadd"] = {"coeff": act.coeff, "shift": act.shift.to_json(), "cost": act.cost.ratio}
    if sara is not None and act is not None:
        a, b = probs[f"sara x{sara.coeff:g}"], probs[f"actadd x{act.coeff:g}"]
        d = paired_shift(a, b, s.n_boot, s.seed)
        out["difference"] = d.to_json()
    return out


def finding(result: StrengthResult) -> str:
    """One sentence: does SARA move anything more than ActAdd at equal cost?"""
    c = result.comparison
    where = f"at block {result.spec.layer}, perplexity cost at most {c['budget']}x"
    if c["sara"] is None or c["actadd"] is None:
        missing = "SARA" if c["sara"] is None else "ActAdd"
        return f"No {missing} setting stays within the cost budget ({where}): no comparison."
    d = c["difference"]
    lo, hi = d["ci"]
    verdict = (
        "SARA moves the model more than ActAdd"
        if lo > 0
        else "ActAdd moves the model more than SARA"
        if hi < 0
        else "SARA does not move the model more than ActAdd (the difference's CI spans 0)"
    )
    sa, ac = c["sara"], c["actadd"]
    return (
        f"{verdict} {where}: best SARA (lambda {sa['coeff']:g}) {sa['shift']['mean']:+.3f}, "
        f"best ActAdd (c {ac['coeff']:g}) {ac['shift']['mean']:+.3f}, SARA - ActAdd "
        f"{d['mean']:+.3f} [{lo:+.3f}, {hi:+.3f}] over {d['n']} items."
    )

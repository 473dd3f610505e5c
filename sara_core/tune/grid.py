"""The search space of ``tune``: grids of blocks x strengths, their checks, refinement and guard.

Pure functions on plain values (no model), so each rule is tested on its own:

* :func:`default_grid` builds the quick or the full coarse grid for a model's depth;
* :func:`check_grid` refuses out-of-range blocks and strengths with the messages compare gives
  (the same :class:`~sara_core.config.SteeringConfig` checks) and grids over a cap;
* :func:`refine_candidates` proposes points between the best admissible coarse point and its
  neighbours: blocks inside the model, strengths inside the coarse range (never stronger or
  weaker than the grid the caller allowed);
* :func:`check_answer` is the coherence guard; :func:`choose` picks the admissible point of
  largest effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sara_core.config import SteeringConfig
from sara_core.measures.collapse import MAX_REPEATED_TRIGRAMS, detect_collapse
from sara_core.measures.metrics import repetition_rate, words
from sara_core.validation import InputError, as_choice, as_float, as_int

METHODS = ("sara", "actadd")
MAX_GRID_POINTS = 400
"""Most points (coarse + refined) one search may evaluate, whatever the caller asks."""
DEFAULT_MAX_PPL_RATIO = 1.5
"""A steered answer may be at most this many times as perplexing (to the unsteered model) as
the unsteered answer."""
INCOHERENT_RULES = ("loop", "gibberish", "code")
"""Collapse rules (sara_core.measures.collapse) that make a point inadmissible."""

# Strengths from a first wide search on SmolLM2-135M (docs/tuning.md): lambda 16 passed the guard
# at 2 of 9 blocks, c 32 at 2 and c 64 at 1; lambda 0.5 moved the effect least.
QUICK_SARA = (1.0, 2.0, 4.0)
QUICK_ACTADD = (2.0, 4.0, 8.0)
FULL_SARA = (0.5, 1.0, 2.0, 4.0, 8.0)
FULL_ACTADD = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class TuneGrid:
    """Coarse blocks and strengths (SARA's lambda, ActAdd's c), and how many points to refine
    around each method's best admissible coarse point."""

    layers: tuple[int, ...]
    sara_coeffs: tuple[float, ...]
    actadd_coeffs: tuple[float, ...]
    refine: int = 4

    def coeffs(self, method: str) -> tuple[float, ...]:
        return self.sara_coeffs if method == "sara" else self.actadd_coeffs

    def coarse_points(self, methods: Sequence[str]) -> list[tuple[str, int, float]]:
        """Every (method, block, strength) of the coarse grid, method by method."""
        return [(m, layer, c) for m in methods for layer in self.layers for c in self.coeffs(m)]


def spread(n_layers: int, count: int, lo: float, hi: float) -> tuple[int, ...]:
    """``count`` blocks evenly spaced from ``lo`` to ``hi`` (fractions of the depth), distinct."""
    top = n_layers - 1
    a, b = round(lo * n_layers), min(top, round(hi * n_layers))
    if count <= 1 or a >= b:
        return (min(a, top),)
    return tuple(sorted({round(a + (b - a) * i / (count - 1)) for i in range(count)}))


def default_grid(n_layers: int, quick: bool = False) -> TuneGrid:
    """Quick: 4 blocks from 1/6 to 2/3 of the depth x 3 strengths per method, 2 refined points.
    Full: 9 blocks from 1/10 to 9/10 x 5 strengths per method, 4 refined points."""
    if quick:
        return TuneGrid(spread(n_layers, 4, 1 / 6, 2 / 3), QUICK_SARA, QUICK_ACTADD, refine=2)
    return TuneGrid(spread(n_layers, 9, 0.1, 0.9), FULL_SARA, FULL_ACTADD, refine=4)


def check_methods(methods: Sequence[str] | str) -> tuple[str, ...]:
    """The methods to search, in a fixed order; a comma-separated string is accepted."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    chosen = {as_choice("method", m, METHODS) for m in methods}
    if not chosen:
        raise InputError(f"choose at least one method to search ({', '.join(METHODS)})")
    return tuple(m for m in METHODS if m in chosen)


def _distinct(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(sorted(set(values)))


def check_grid(
    grid: TuneGrid, n_layers: int, methods: Sequence[str], max_points: int | None = None
) -> TuneGrid:
    """The grid with blocks as positive indices and sorted distinct values, or an InputError.

    Blocks and strengths go through the checks compare uses, so a block or a strength compare
    would refuse is refused here with the same message. ``max_points`` caps the coarse grid and
    its refinement together (at most :data:`MAX_GRID_POINTS`).
    """
    cap = as_int(
        "max_points", MAX_GRID_POINTS if max_points is None else max_points, 1, MAX_GRID_POINTS
    )
    if not grid.layers:
        raise InputError("choose at least one layer to search")
    layers = tuple(
        sorted(
            {
                SteeringConfig(layer=x).validate(n_layers).resolved_layer(n_layers)
                for x in grid.layers
            }
        )
    )
    sara = _distinct([SteeringConfig(sara_coeff=c).validate().sara_coeff for c in grid.sara_coeffs])
    actadd = _distinct(
        [SteeringConfig(actadd_coeff=c).validate().actadd_coeff for c in grid.actadd_coeffs]
    )
    for method, values in (("sara", sara), ("actadd", actadd)):
        if method in methods and not values:
            raise InputError(f"choose at least one strength to search for {method}")
    refine = as_int("refine", grid.refine, 0, 8)
    out = TuneGrid(layers, sara, actadd, refine)
    n = len(out.coarse_points(methods))
    if n > cap:
        raise InputError(
            f"the grid has {n} points ({len(layers)} blocks x the strengths of "
            f"{' and '.join(methods)}); the limit is {cap}: choose fewer blocks or strengths"
        )
    return out


def _between(a: float, b: float) -> float:
    """A strength between ``a`` and ``b``: geometric mean for same signs, else arithmetic."""
    mid = math.copysign(math.sqrt(a * b), a) if a * b > 0 else (a + b) / 2
    return float(f"{mid:.3g}")


def refine_candidates(
    best: tuple[int, float],
    layers: Sequence[int],
    coeffs: Sequence[float],
    n_layers: int,
    done: set[tuple[int, float]] | None = None,
) -> list[tuple[int, float]]:
    """Points next to ``best`` (block, strength), nearest first: the strength half-way to the
    next stronger grid value, the blocks half-way to the neighbouring grid blocks, and the
    strength half-way to the next weaker value. Blocks stay in [0, n_layers); strengths stay
    inside [min(coeffs), max(coeffs)]; points in ``done`` are left out."""
    layer, coeff = best
    done = done or set()
    ls, cs = sorted(layers), sorted(coeffs)
    lower_l = [x for x in ls if x < layer]
    upper_l = [x for x in ls if x > layer]
    gap = max(1, min([layer - x for x in lower_l[-1:]] + [x - layer for x in upper_l[:1]] or [2]))
    below = (layer + lower_l[-1]) // 2 if lower_l else layer - max(1, gap // 2)
    above = (layer + upper_l[0] + 1) // 2 if upper_l else layer + max(1, gap // 2)
    stronger = [c for c in cs if abs(c) > abs(coeff) and c * coeff > 0]
    weaker = [c for c in cs if abs(c) < abs(coeff) and c * coeff >= 0]
    out: list[tuple[int, float]] = []
    if stronger:
        out.append((layer, _between(coeff, min(stronger, key=abs))))
    out += [(below, coeff), (above, coeff)]
    if weaker:
        out.append((layer, _between(coeff, max(weaker, key=abs))))
    lo, hi = cs[0], cs[-1]
    seen: set[tuple[int, float]] = set()
    kept = []
    for point in out:
        ok = 0 <= point[0] < n_layers and lo <= point[1] <= hi
        if ok and point not in done and point not in seen and point != best:
            seen.add(point)
            kept.append(point)
    return kept


@dataclass(frozen=True)
class AnswerCheck:
    """The coherence of one short answer: its perplexity under the unsteered model, the ratio
    to the unsteered answer's, its repeated-3-gram share and the collapse rule that fired."""

    perplexity: float
    ppl_ratio: float
    repetition: float
    collapse: str | None
    admissible: bool


def check_answer(
    answer: str,
    perplexity: float,
    reference: float,
    dilemma: str,
    max_ppl_ratio: float = DEFAULT_MAX_PPL_RATIO,
) -> AnswerCheck:
    """The guard: admissible when the perplexity is finite and at most ``max_ppl_ratio`` times
    ``reference`` (the unsteered answer's), and the answer neither loops (more than
    MAX_REPEATED_TRIGRAMS of its 3-grams repeat, or collapse's loop rule) nor reads as gibberish
    or code. An empty answer is not admissible."""
    ratio = perplexity / reference if reference > 0 and math.isfinite(reference) else math.nan
    repetition = repetition_rate(words(answer), 3)
    found = detect_collapse(answer, dilemma)
    rule = found.rule if found is not None else None
    incoherent = rule in INCOHERENT_RULES or repetition > MAX_REPEATED_TRIGRAMS
    ok = bool(answer.strip()) and math.isfinite(ratio) and ratio <= max_ppl_ratio
    return AnswerCheck(perplexity, ratio, repetition, rule, ok and not incoherent)


def check_ratio(value: object) -> float:
    """``max_ppl_ratio``: a number from 1 (no cost allowed) to 100."""
    return as_float("max_ppl_ratio", value, 1.0, 100.0)

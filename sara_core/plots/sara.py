"""What SARA did to each hidden unit: the data helpers and the heatmap and similarity figures.

Data helpers (``grid_shape``, ``units_grid``, ``top_units``, ``score_summary``,
``reduced_similarity``, ``score_scale``) are plain functions so the tests can check them against
direct computations. Every figure is built with the object-oriented API (no global pyplot figure),
so figures can be made from several threads at once.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from sara_core.plots.style import (
    BOOST_COLOUR,
    CMAP,
    FONT,
    NEUTRAL_COLOUR,
    SUPPRESS_COLOUR,
    as_numpy,
    style,
)
from sara_core.steering.sara import SaraResult, row_cosine

NAMES = ("original", "attract", "repel")
LABELS = {"original": "prompt", "attract": "attract", "repel": "repel"}


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid holding ``n`` cells.

    Uses an exact factorisation rows x cols = n when one exists with rows >= sqrt(n) / 2
    (576 -> 24 x 24, 640 -> 20 x 32, 896 -> 28 x 32); otherwise a ceil(sqrt(n)) square-ish grid
    whose last cells are padding (e.g. a prime size).
    """
    if n < 1:
        raise ValueError(f"need at least one unit, got {n}")
    root = math.isqrt(n)
    for rows in range(root, 0, -1):
        if n % rows == 0:
            if rows >= root / 2:
                return rows, n // rows
            break
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def units_grid(values: Any, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Lay a per-unit vector out row by row on a 2-D grid (unit i at row i // cols, col i % cols).

    Cells past the last unit are NaN (drawn as blank).
    """
    v = as_numpy(values).reshape(-1)
    rows, cols = shape or grid_shape(v.size)
    if rows * cols < v.size:
        raise ValueError(f"a {rows}x{cols} grid cannot hold {v.size} units")
    out = np.full(rows * cols, np.nan)
    out[: v.size] = v
    return out.reshape(rows, cols)


def top_units(result: SaraResult, n: int = 10, coeff: float | None = None) -> list[dict[str, Any]]:
    """The ``n`` most boosted (score > 0, highest first) and ``n`` most suppressed units
    (score < 0, lowest first).

    Each row: effect ("boosted"/"suppressed"), unit index, score, cos to attract, cos to repel,
    and, when ``coeff`` is given, the factor 1 + coeff * score SARA multiplies that unit by.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    s = as_numpy(result.scores)
    ca, cr = as_numpy(result.cos_attract), as_numpy(result.cos_repel)
    order = np.argsort(-s, kind="stable")
    boosted = [int(i) for i in order if s[i] > 0][:n]
    suppressed = [int(i) for i in order[::-1] if s[i] < 0][:n]
    rows = []
    for effect, units in (("boosted", boosted), ("suppressed", suppressed)):
        for i in units:
            row = {
                "effect": effect,
                "unit": i,
                "score": float(s[i]),
                "cos_attract": float(ca[i]),
                "cos_repel": float(cr[i]),
            }
            if coeff is not None:
                row["factor"] = float(1.0 + coeff * s[i])
            rows.append(row)
    return rows


def score_summary(result: SaraResult, coeff: float | None = None) -> dict[str, Any]:
    """Counts and means a person reads first: how many units SARA boosts, suppresses or flips."""
    s = as_numpy(result.scores)
    out = {
        "units": int(s.size),
        "k": int(result.k),
        "boosted": int((s > 0).sum()),
        "suppressed": int((s < 0).sum()),
        "unchanged": int((s == 0).sum()),
        "mean_abs_score": float(np.abs(s).mean()),
        "mean_cos_attract": float(as_numpy(result.cos_attract).mean()),
        "mean_cos_repel": float(as_numpy(result.cos_repel).mean()),
    }
    if coeff is not None:
        factor = 1.0 + coeff * s
        out["flipped"] = int((factor < 0).sum())  # the unit's sign is reversed
    return out


def reduced_similarity(result: SaraResult) -> np.ndarray:
    """3x3 pairwise similarity of the reduced matrices R_o, R_a, R_r (order: prompt, attract,
    repel).

    Definition: S[x, y] = mean over hidden units i of cos(R_x[i, :], R_y[i, :]), the average of
    the very per-unit cosines SARA uses (a unit whose row is all zeros counts as 0). So
    S[prompt, attract] = mean(cos_attract), S[prompt, repel] = mean(cos_repel), and their
    difference is the mean SARA score. The diagonal is the fraction of units with a non-zero row
    (1 in practice). Like SARA itself, it depends on the singular-vector signs ("raw" or
    "canonical").
    """
    if not result.reduced or any(name not in result.reduced for name in NAMES):
        raise ValueError("this SaraResult holds no reduced matrices (R_o, R_a, R_r)")
    mats = [result.reduced[name].detach().to("cpu", dtype=torch.float32) for name in NAMES]
    out = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            out[i, j] = float(row_cosine(mats[i], mats[j]).mean())
    return out


def score_scale(scores: Any) -> float:
    """Symmetric colour limit for scores: max |s| rounded up to a tenth, in [0.1, 2]."""
    peak = float(np.nanmax(np.abs(as_numpy(scores)))) if np.size(scores) else 0.0
    return float(min(2.0, max(0.1, math.ceil(peak * 10 - 1e-9) / 10)))


def sara_heatmap(
    result: SaraResult,
    coeff: float | None = None,
    layer: int | None = None,
    title: str | None = None,
    shape: tuple[int, int] | None = None,
) -> Figure:
    """Per-hidden-unit cosine to attract, cosine to repel and SARA score, as three grids plus a
    strip of all scores sorted.

    Each grid cell is one hidden unit (unit i at row i // cols, column i % cols), in the same
    place in all three grids, so a unit can be followed from panel to panel. The cosines share
    one colour scale [-1, 1]; the score, cos_a - cos_r, has its own [-2, 2]. The bottom strip
    shows every unit's score sorted from most boosted to most suppressed, with the factor
    1 + coeff * score on the right axis when ``coeff`` is given.
    """
    ca, cr, s = as_numpy(result.cos_attract), as_numpy(result.cos_repel), as_numpy(result.scores)
    d = s.size
    shape = shape or grid_shape(d)
    fig = Figure(figsize=(16, 9.8), dpi=100, layout="constrained")
    gs = fig.add_gridspec(2, 3, height_ratios=[2.3, 1.0])
    _unit_grids(fig, gs, ca, cr, s, shape)
    ax = fig.add_subplot(gs[1, :])
    _score_strip(ax, s)
    if coeff is not None:
        _factor_axis(ax, coeff)
    where = f" at block {layer}" if layer is not None else ""
    fig.suptitle(
        title or f"What SARA did{where}: {d} hidden units, k = {result.k}",
        fontsize=FONT + 4,
        fontweight="bold",
    )
    style(fig)
    return fig


def _unit_grids(
    fig: Figure,
    gs: Any,
    ca: np.ndarray,
    cr: np.ndarray,
    s: np.ndarray,
    shape: tuple[int, int],
) -> None:
    """The top row: the two cosine grids on one colour bar and the score grid on its own."""
    cmap = colormaps[CMAP].with_extremes(bad="#e6e6e6")  # padding cells: light grey
    # Scores rarely reach +-2; a data-driven symmetric scale keeps their structure visible.
    s_max = score_scale(s)
    panels = [
        ("cos(prompt, attract)", ca, 1.0),
        ("cos(prompt, repel)", cr, 1.0),
        ("score  s = cos_a − cos_r", s, s_max),
    ]
    images = []
    axes = []
    for col, (name, values, vmax) in enumerate(panels):
        ax = fig.add_subplot(gs[0, col])
        img = ax.imshow(
            units_grid(values, shape),
            cmap=cmap,
            vmin=-vmax,
            vmax=vmax,
            interpolation="nearest",
            aspect="equal",
        )
        ax.set_title(name, fontweight="bold")
        ax.set_xlabel(f"column (unit % {shape[1]})")
        if col == 0:
            ax.set_ylabel(f"row (unit // {shape[1]})")
        images.append(img)
        axes.append(ax)
    cb = fig.colorbar(images[0], ax=axes[:2], location="bottom", shrink=0.7, aspect=35, pad=0.02)
    cb.set_label("cosine of the unit's rows in R (−1 … 1)", fontsize=FONT)
    cb.ax.tick_params(labelsize=FONT - 2)
    cb2 = fig.colorbar(images[2], ax=axes[2], location="bottom", shrink=0.9, aspect=18, pad=0.02)
    cb2.set_label(f"score (scale ±{s_max:g}): red boosted, blue damped", fontsize=FONT)
    cb2.ax.tick_params(labelsize=FONT - 2)


def _score_strip(ax: Any, s: np.ndarray) -> None:
    """The bottom strip: every unit's score sorted, with the counts boosted and suppressed."""
    d = s.size
    order = np.sort(s)[::-1]
    x = np.arange(d)
    ax.fill_between(x, order, 0, where=order > 0, color=BOOST_COLOUR, step="mid", alpha=0.85)
    ax.fill_between(x, order, 0, where=order < 0, color=SUPPRESS_COLOUR, step="mid", alpha=0.85)
    ax.axhline(0, color=NEUTRAL_COLOUR, lw=1)
    ax.set_xlim(-0.5, d - 0.5)
    lim = max(0.25, float(np.abs(s).max()) * 1.1)
    ax.set_ylim(-lim, lim)  # the strip always shows 0 in the middle
    ax.set_xlabel(f"all {d} hidden units, sorted by score")
    ax.set_ylabel("score s")
    ax.grid(axis="y", alpha=0.3)
    n_up, n_down = int((s > 0).sum()), int((s < 0).sum())
    ax.text(
        0.01,
        0.93,
        f"{n_up} boosted",
        transform=ax.transAxes,
        color=BOOST_COLOUR,
        fontsize=FONT,
        fontweight="bold",
        va="top",
    )
    ax.text(
        0.99,
        0.07,
        f"{n_down} suppressed",
        transform=ax.transAxes,
        color=SUPPRESS_COLOUR,
        fontsize=FONT,
        fontweight="bold",
        ha="right",
        va="bottom",
    )


def _factor_axis(ax: Any, coeff: float) -> None:
    """A right axis on the strip reading each score as SARA's factor 1 + coeff * score."""
    c = float(coeff)

    def to_factor(v: Any) -> Any:
        return 1 + c * v

    def to_score(f: Any) -> Any:
        return (f - 1) / c if c else f

    right = ax.secondary_yaxis("right", functions=(to_factor, to_score))
    right.set_ylabel(f"factor 1 + {coeff:g}·s", fontsize=FONT)
    right.tick_params(labelsize=FONT - 2)


def similarity_figure(result: SaraResult) -> Figure:
    """A small annotated 3x3 heatmap of ``reduced_similarity`` (prompt, attract, repel)."""
    sim = reduced_similarity(result)
    fig = Figure(figsize=(6.4, 5.4), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    img = ax.imshow(sim, cmap=CMAP, vmin=-1, vmax=1)
    labels = [LABELS[n] for n in NAMES]
    ax.set_xticks(range(3), labels)
    ax.set_yticks(range(3), labels)
    for i in range(3):
        for j in range(3):
            v = sim[i, j]
            ax.text(
                j,
                i,
                f"{v:+.3f}",
                ha="center",
                va="center",
                fontsize=FONT + 2,
                fontweight="bold",
                color="white" if abs(v) > 0.6 else "black",
            )
    ax.set_title("Similarity of the reduced matrices R", fontweight="bold")
    cb = fig.colorbar(img, ax=ax, shrink=0.85)
    cb.set_label("mean per-unit cosine", fontsize=FONT)
    cb.ax.tick_params(labelsize=FONT - 2)
    style(fig)
    return fig

"""Figures of what SARA did, for the app, the CLI and teaching (matplotlib, no pyplot state).

Every function returns a ``matplotlib.figure.Figure`` built with the object-oriented API (no
global pyplot figure), so figures can be made from several threads at once. Fonts are large, so
the figures read on a projector; scores and cosines use a colour-blind-friendly diverging
colormap (ColorBrewer RdBu: red = towards attract / boosted, blue = towards repel / suppressed).

Data helpers (``grid_shape``, ``units_grid``, ``top_units``, ``reduced_similarity``) are plain
functions so the tests can check them against direct computations.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # never open a window; safe in servers and CI

import numpy as np  # noqa: E402
from matplotlib import colormaps  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

from sara_core.sara import SaraResult, row_cosine  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.sweep import SweepResult

CMAP = "RdBu_r"  # diverging, colour-blind friendly (ColorBrewer), red = positive
BOOST_COLOUR = "#b2182b"  # the red end of RdBu
SUPPRESS_COLOUR = "#2166ac"  # the blue end of RdBu
NEUTRAL_COLOUR = "#4d4d4d"
ATTRACT_COLOUR = "#d95f02"  # orange / purple / green: Dark2, distinct for colour-blind readers
REPEL_COLOUR = "#7570b3"
ACTADD_COLOUR = "#1b9e77"
FONT = 15  # base font size (points) for projector-readable figures
NAMES = ("original", "attract", "repel")
LABELS = {"original": "prompt", "attract": "attract", "repel": "repel"}


def _style(fig: Figure, size: float = FONT) -> None:
    """Apply projector-friendly font sizes to every axes of ``fig``."""
    for ax in fig.axes:
        ax.title.set_fontsize(size + 1)
        ax.xaxis.label.set_fontsize(size)
        ax.yaxis.label.set_fontsize(size)
        ax.tick_params(labelsize=size - 2)


def _np(x) -> np.ndarray:
    """A float64 numpy copy of a tensor or array (CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").float().numpy()
    return np.asarray(x, dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# Data helpers


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


def units_grid(values, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Lay a per-unit vector out row by row on a 2-D grid (unit i at row i // cols, col i % cols).

    Cells past the last unit are NaN (drawn as blank).
    """
    v = _np(values).reshape(-1)
    rows, cols = shape or grid_shape(v.size)
    if rows * cols < v.size:
        raise ValueError(f"a {rows}x{cols} grid cannot hold {v.size} units")
    out = np.full(rows * cols, np.nan)
    out[: v.size] = v
    return out.reshape(rows, cols)


def top_units(result: SaraResult, n: int = 10, coeff: float | None = None) -> list[dict]:
    """The ``n`` most boosted (score > 0, highest first) and ``n`` most suppressed units
    (score < 0, lowest first).

    Each row: effect ("boosted"/"suppressed"), unit index, score, cos to attract, cos to repel,
    and, when ``coeff`` is given, the factor 1 + coeff * score SARA multiplies that unit by.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    s = _np(result.scores)
    ca, cr = _np(result.cos_attract), _np(result.cos_repel)
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


def score_summary(result: SaraResult, coeff: float | None = None) -> dict:
    """Counts and means a person reads first: how many units SARA boosts, suppresses or flips."""
    s = _np(result.scores)
    out = {
        "units": int(s.size),
        "k": int(result.k),
        "boosted": int((s > 0).sum()),
        "suppressed": int((s < 0).sum()),
        "unchanged": int((s == 0).sum()),
        "mean_abs_score": float(np.abs(s).mean()),
        "mean_cos_attract": float(_np(result.cos_attract).mean()),
        "mean_cos_repel": float(_np(result.cos_repel).mean()),
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
    mats = [result.reduced[name].detach().to("cpu", dtype=_float32()) for name in NAMES]
    out = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            out[i, j] = float(row_cosine(mats[i], mats[j]).mean())
    return out


def _float32():
    import torch

    return torch.float32


def score_scale(scores) -> float:
    """Symmetric colour limit for scores: max |s| rounded up to a tenth, in [0.1, 2]."""
    peak = float(np.nanmax(np.abs(_np(scores)))) if np.size(scores) else 0.0
    return float(min(2.0, max(0.1, math.ceil(peak * 10 - 1e-9) / 10)))


# ------------------------------------------------------------------------------------------------
# Figures


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
    ca, cr, s = _np(result.cos_attract), _np(result.cos_repel), _np(result.scores)
    d = s.size
    shape = shape or grid_shape(d)
    fig = Figure(figsize=(16, 9.8), dpi=100, layout="constrained")
    gs = fig.add_gridspec(2, 3, height_ratios=[2.3, 1.0])
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

    ax = fig.add_subplot(gs[1, :])
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
    if coeff is not None:
        right = ax.secondary_yaxis(
            "right", functions=(lambda v: 1 + coeff * v, lambda f: (f - 1) / coeff if coeff else f)
        )
        right.set_ylabel(f"factor 1 + {coeff:g}·s", fontsize=FONT)
        right.tick_params(labelsize=FONT - 2)
    where = f" at block {layer}" if layer is not None else ""
    fig.suptitle(
        title or f"What SARA did{where}: {d} hidden units, k = {result.k}",
        fontsize=FONT + 4,
        fontweight="bold",
    )
    _style(fig)
    return fig


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
    _style(fig)
    return fig


def sweep_plot(sweep: SweepResult, highlight: int | None = None) -> Figure:
    """Steering signal across layers: SARA score size and direction, the per-unit cosines, the
    ActAdd difference relative to the prompt's activation norm, and (when the sweep generated
    answers) at which layers the steered answer differs from the original."""
    stats = sweep.layers
    if not stats:
        raise ValueError("the sweep has no layers")
    x = np.array([s.layer for s in stats])
    has_answers = any(s.sara_differs is not None for s in stats)
    n_rows = 4 if has_answers else 3
    ratios = [1.0, 1.0, 1.0] + ([0.45] if has_answers else [])
    fig = Figure(figsize=(15, 3.2 * n_rows + 1), dpi=100, layout="constrained")
    axes = fig.subplots(n_rows, 1, sharex=True, gridspec_kw={"height_ratios": ratios})

    ax = axes[0]
    ax.plot(x, [s.mean_abs_score for s in stats], "o-", color="black", lw=2.5, label="mean |s|")
    ax.set_ylabel("mean |score|")
    ax.set_ylim(0, max(s.mean_abs_score for s in stats) * 1.45 + 1e-9)  # room for the legend
    ax.grid(alpha=0.3)
    twin = ax.twinx()
    width = 0.38 * (float(np.diff(x).min()) if len(x) > 1 else 1.0)
    twin.bar(
        x - width / 2,
        [s.frac_boosted for s in stats],
        width,
        color=BOOST_COLOUR,
        alpha=0.45,
        label="share boosted",
    )
    twin.bar(
        x + width / 2,
        [s.frac_suppressed for s in stats],
        width,
        color=SUPPRESS_COLOUR,
        alpha=0.45,
        label="share suppressed",
    )
    twin.set_ylim(0, 1.3)
    twin.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    twin.set_ylabel("share of units", fontsize=FONT)
    twin.tick_params(labelsize=FONT - 2)
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, fontsize=FONT - 3, loc="upper left", ncols=3, framealpha=0.9)
    ax.set_title("How strongly SARA rescales the prompt at each block", fontweight="bold")

    ax = axes[1]
    ax.plot(
        x,
        [s.mean_cos_attract for s in stats],
        "o-",
        color=ATTRACT_COLOUR,
        lw=2.5,
        label="mean cos(prompt, attract)",
    )
    ax.plot(
        x,
        [s.mean_cos_repel for s in stats],
        "s--",
        color=REPEL_COLOUR,
        lw=2.5,
        label="mean cos(prompt, repel)",
    )
    ax.axhline(0, color=NEUTRAL_COLOUR, lw=1)
    ax.set_ylabel("mean cosine")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT - 3, loc="best", framealpha=0.9)
    ax.set_title("Which stance the prompt resembles, unit by unit", fontweight="bold")

    ax = axes[2]
    ax.plot(x, [s.actadd_rel_norm for s in stats], "D-", color=ACTADD_COLOUR, lw=2.5)
    ax.set_ylabel("‖h₊ − h₋‖ / ‖h‖")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(
        "ActAdd difference relative to the prompt's activation norm (× coefficient when added)",
        fontweight="bold",
    )

    if has_answers:
        ax = axes[3]
        for row, (_name, flags) in enumerate(
            (
                ("SARA", [s.sara_differs for s in stats]),
                ("ActAdd", [s.actadd_differs for s in stats]),
            )
        ):
            yes = np.array([bool(f) for f in flags])
            ax.scatter(x[yes], np.full(yes.sum(), row), s=260, marker="s", color="#252525")
            ax.scatter(
                x[~yes], np.full((~yes).sum(), row), s=260, marker="s", fc="white", ec="#252525"
            )
        ax.set_ylim(1.6, -0.6)
        ax.set_yticks([0, 1], ["SARA", "ActAdd"])
        ax.grid(axis="x", alpha=0.3)
        ax.set_title("Answer differs from the original (filled = yes)", fontweight="bold")
    axes[-1].set_xlabel("block (layer) index")
    axes[-1].set_xticks(x if len(x) <= 40 else x[:: math.ceil(len(x) / 40)])
    if highlight is not None:
        for a in axes[:3]:
            a.axvline(highlight, color=NEUTRAL_COLOUR, ls=":", lw=2)
    fig.suptitle(
        f"Layer sweep on {sweep.model}: k = {sweep.k_label}", fontsize=FONT + 4, fontweight="bold"
    )
    _style(fig)
    return fig


def _box(ax, xy, w, h, text, colour, fontsize=FONT, alpha=0.18):
    ax.add_patch(
        FancyBboxPatch(
            xy,
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.05",
            fc=colour,
            ec=colour,
            alpha=alpha,
            lw=2,
        )
    )
    ax.add_patch(
        FancyBboxPatch(
            xy, w, h, boxstyle="round,pad=0.02,rounding_size=0.05", fc="none", ec=colour, lw=2
        )
    )
    ax.text(
        xy[0] + w / 2,
        xy[1] + h / 2,
        text,
        ha="center",
        va="center",
        fontsize=fontsize,
        color="black",
    )


def _arrow(ax, start, end, text=""):
    ax.add_patch(
        FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=22, lw=2.2, color="#333333")
    )
    if text:
        ax.text(
            (start[0] + end[0]) / 2,
            (start[1] + end[1]) / 2 + 0.12,
            text,
            ha="center",
            va="bottom",
            fontsize=FONT - 2,
            color="#333333",
        )


def method_figure() -> Figure:
    """A schematic of SARA for teaching: three activation matrices -> SVD -> R -> per-unit
    cosines -> scores -> rescaled activations."""
    rng = np.random.default_rng(7)
    fig = Figure(figsize=(16, 7.2), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 7.2)
    ax.axis("off")
    rows = [
        ("prompt", "o", NEUTRAL_COLOUR, 5.2),
        ("attract", "a", ATTRACT_COLOUR, 3.35),
        ("repel", "r", REPEL_COLOUR, 1.5),
    ]
    heads = [
        (2.2, "1. activations entering block L"),
        (5.75, "2. thin SVD, keep k"),
        (9.25, "3. compare unit by unit"),
        (13.05, "4. rescale every unit"),
    ]
    for x, text in heads:
        ax.text(x, 6.85, text, ha="center", fontsize=FONT, weight="bold")
    ax.text(5.6, 0.55, "R = U_k S_k", ha="center", fontsize=FONT + 1, style="italic")
    cmap = colormaps[CMAP]
    for name, sub, colour, y in rows:
        # an illustrative activation matrix: hidden units down, tokens across
        ax.text(0.15, y + 0.75, name, ha="left", va="center", fontsize=FONT, color=colour)
        ax.text(0.15, y + 0.3, f"A_{sub}", ha="left", va="center", fontsize=FONT, color=colour)
        for x0, width, cols, label in (
            (1.4, 1.9, 7, f"d units × n_{sub} tokens"),
            (5.2, 0.8, 3, "d × k"),
        ):
            ax.imshow(
                rng.normal(size=(12, cols)),
                cmap=cmap,
                vmin=-2.5,
                vmax=2.5,
                extent=(x0, x0 + width, y - 0.15, y + 1.35),
                aspect="auto",
            )
            ax.add_patch(
                FancyBboxPatch(
                    (x0, y - 0.15), width, 1.5, boxstyle="square,pad=0", fc="none", ec=colour, lw=3
                )
            )
            ax.text(x0 + width / 2, y - 0.3, label, ha="center", va="top", fontsize=FONT - 3)
        ax.text(6.1, y + 0.6, f"R_{sub}", va="center", fontsize=FONT, color=colour)
        _arrow(ax, (3.45, y + 0.6), (5.05, y + 0.6))
    _box(ax, (7.7, 4.15), 3.1, 1.1, "c_a[i] = cos(R_o[i], R_a[i])", ATTRACT_COLOUR, FONT - 1)
    _box(ax, (7.7, 2.05), 3.1, 1.1, "c_r[i] = cos(R_o[i], R_r[i])", REPEL_COLOUR, FONT - 1)
    _arrow(ax, (6.7, 5.9), (7.65, 4.95))
    _arrow(ax, (6.7, 3.95), (7.65, 4.55))
    _arrow(ax, (6.7, 5.7), (7.65, 2.95))
    _arrow(ax, (6.7, 2.1), (7.65, 2.5))
    _box(ax, (7.7, 0.3), 3.1, 1.1, "s[i] = c_a[i] − c_r[i]\nin [−2, 2]", BOOST_COLOUR, FONT - 1)
    _arrow(ax, (9.25, 4.1), (9.25, 3.2))
    _arrow(ax, (9.25, 2.0), (9.25, 1.45))
    _box(
        ax,
        (11.3, 2.3),
        3.5,
        2.4,
        "A_o[:, i] × (1 + λ·s[i])\nat every token\n\nunits like attract: boosted\n"
        "units like repel: damped",
        NEUTRAL_COLOUR,
        FONT - 1,
        alpha=0.08,
    )
    _arrow(ax, (10.9, 0.85), (12.1, 2.25))
    _arrow(ax, (14.9, 3.5), (15.55, 3.5))
    ax.text(15.25, 3.7, "blocks\nL … end", ha="center", va="bottom", fontsize=FONT - 3)
    return fig

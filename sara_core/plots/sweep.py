"""The layer sweep's figure: the steering signal at every block."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from sara_core.plots.style import (
    ACTADD_COLOUR,
    ATTRACT_COLOUR,
    BOOST_COLOUR,
    FONT,
    NEUTRAL_COLOUR,
    REPEL_COLOUR,
    SUPPRESS_COLOUR,
    style,
)

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.tune.layer_sweep import LayerStats, SweepResult


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

    _score_panel(axes[0], x, stats)
    _cosine_panel(axes[1], x, stats)
    _actadd_panel(axes[2], x, stats)
    if has_answers:
        _answers_panel(axes[3], x, stats)
    axes[-1].set_xlabel("block (layer) index")
    axes[-1].set_xticks(x if len(x) <= 40 else x[:: math.ceil(len(x) / 40)])
    if highlight is not None:
        for a in axes[:3]:
            a.axvline(highlight, color=NEUTRAL_COLOUR, ls=":", lw=2)
    fig.suptitle(
        f"Layer sweep on {sweep.model}: k = {sweep.k_label}", fontsize=FONT + 4, fontweight="bold"
    )
    style(fig)
    return fig


def _score_panel(ax: Any, x: np.ndarray, stats: list[LayerStats]) -> None:
    """Mean |score| per block, with the shares of units boosted and suppressed as bars."""
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


def _cosine_panel(ax: Any, x: np.ndarray, stats: list[LayerStats]) -> None:
    """The prompt's mean cosine to attract and to repel per block."""
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


def _actadd_panel(ax: Any, x: np.ndarray, stats: list[LayerStats]) -> None:
    """ActAdd's difference h+ - h- relative to the prompt's activation norm per block."""
    ax.plot(x, [s.actadd_rel_norm for s in stats], "D-", color=ACTADD_COLOUR, lw=2.5)
    ax.set_ylabel("‖h₊ − h₋‖ / ‖h‖")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.set_title(
        "ActAdd difference relative to the prompt's activation norm (× coefficient when added)",
        fontweight="bold",
    )


def _answers_panel(ax: Any, x: np.ndarray, stats: list[LayerStats]) -> None:
    """Filled squares where SARA's or ActAdd's answer differs from the original."""
    for row, (_name, flags) in enumerate(
        (
            ("SARA", [s.sara_differs for s in stats]),
            ("ActAdd", [s.actadd_differs for s in stats]),
        )
    ):
        yes = np.array([bool(f) for f in flags])
        ax.scatter(x[yes], np.full(yes.sum(), row), s=260, marker="s", color="#252525")
        ax.scatter(x[~yes], np.full((~yes).sum(), row), s=260, marker="s", fc="white", ec="#252525")
    ax.set_ylim(1.6, -0.6)
    ax.set_yticks([0, 1], ["SARA", "ActAdd"])
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Answer differs from the original (filled = yes)", fontweight="bold")

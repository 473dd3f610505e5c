"""A schematic of SARA's four steps, for teaching (the app's About tab)."""

from __future__ import annotations

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from sara_core.plots.style import (
    ATTRACT_COLOUR,
    BOOST_COLOUR,
    CMAP,
    FONT,
    NEUTRAL_COLOUR,
    REPEL_COLOUR,
)


def _box(
    ax: Axes,
    xy: tuple[float, float],
    w: float,
    h: float,
    text: str,
    colour: str,
    fontsize: float = FONT,
    alpha: float = 0.18,
) -> None:
    """A rounded, tinted box with centred text."""
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


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "") -> None:
    """An arrow from ``start`` to ``end``, with an optional label above its middle."""
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

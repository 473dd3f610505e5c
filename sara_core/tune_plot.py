"""The figure of a setting search: effect against cost for SARA and ActAdd.

One panel per measure (the effect on the user's own texts and, when scored, the held-out
effect). x is the cost, the answer's perplexity under the unsteered model relative to the
unsteered answer's (log scale); y the effect. Filled markers pass the guard, hollow ones fail
it; the chosen points are circled; the dashed line is the guard and the dotted one the prompted
baseline. Works on ``TuneResult.to_json()`` output, so a saved search can be plotted again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never open a window; safe in servers and CI

from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402

SARA_COLOUR = "#d95f02"  # Dark2, as in sara_core.plots: distinct for colour-blind readers
ACTADD_COLOUR = "#1b9e77"
BASE_COLOUR = "#4d4d4d"
STYLE = {"sara": (SARA_COLOUR, "o", "SARA"), "actadd": (ACTADD_COLOUR, "s", "ActAdd")}
MIN_RATIO, MAX_RATIO = 0.5, 100.0  # costs outside are drawn at the axis' edge
OFF_SCALE = 2.0  # a baseline further than this many point ranges away is written, not drawn


def _x(ratio: float) -> float:
    return min(MAX_RATIO, max(MIN_RATIO, ratio))


def _ok(v: Any) -> bool:
    return isinstance(v, int | float) and math.isfinite(v)


def _panel(ax: Any, data: Mapping[str, Any], key: str, title: str) -> None:
    rows = [r for r in data.get("grid", []) if _ok(r.get(key)) and _ok(r.get("ppl_ratio"))]
    chosen = [c for c in (data.get("chosen") or {}).values() if c]
    for method, (colour, marker, label) in STYLE.items():
        mine = [r for r in rows if r["method"] == method]
        for admissible in (True, False):
            pts = [r for r in mine if bool(r["admissible"]) is admissible]
            if not pts:
                continue
            ax.scatter(
                [_x(r["ppl_ratio"]) for r in pts],
                [r[key] for r in pts],
                marker=marker,
                s=34,
                color=colour if admissible else "none",
                edgecolors=colour,
                linewidths=1.2,
                label=label + ("" if admissible else " (fails the guard)"),
            )
        for c in chosen:
            if c["method"] == method and _ok(c.get(key)) and _ok(c.get("ppl_ratio")):
                ax.scatter(
                    _x(c["ppl_ratio"]),
                    c[key],
                    s=260,
                    facecolors="none",
                    edgecolors=colour,
                    linewidths=2.2,
                )
                ax.annotate(
                    f"block {c['layer']}, x{c['coeff']:g}",
                    (_x(c["ppl_ratio"]), c[key]),
                    textcoords="offset points",
                    xytext=(8, 8),
                    color=colour,
                    fontsize=8,
                )
    guard = (data.get("settings") or {}).get("max_ppl_ratio")
    if _ok(guard):
        ax.axvline(guard, color=BASE_COLOUR, ls="--", lw=1, label=f"guard (x{guard:g})")
    ax.axhline(0, color="#bbbbbb", lw=0.8)
    _baseline(ax, data.get("prompted") or {}, key, [r[key] for r in rows])
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("cost: perplexity ratio to the unsteered answer (log)")
    ax.set_ylabel("nats per token")
    ax.set_title(title)


def _baseline(ax: Any, prompted: Mapping[str, Any], key: str, values: list[float]) -> None:
    """The prompted baseline: a dotted line and a diamond, or a note when it is off the scale
    of the points (its effect on the attract text can be ten times theirs: it copies it)."""
    if not _ok(prompted.get(key)):
        return
    y = float(prompted[key])
    lo, hi = min([*values, 0.0]), max([*values, 0.0])
    span = max(hi - lo, 1e-3)
    if lo - OFF_SCALE * span <= y <= hi + OFF_SCALE * span:
        ax.axhline(y, color=BASE_COLOUR, ls=":", lw=1.2, label="prompted baseline")
        if _ok(prompted.get("ppl_ratio")):
            ax.scatter(_x(prompted["ppl_ratio"]), y, marker="D", s=40, color=BASE_COLOUR)
        return
    where = (0.02, 0.97, "top") if y > hi else (0.02, 0.03, "bottom")
    ax.text(
        where[0],
        where[1],
        f"prompted baseline: {y:+.2f}, off the scale",
        transform=ax.transAxes,
        va=where[2],
        fontsize=8,
        color=BASE_COLOUR,
    )


def tune_figure(data: Mapping[str, Any], title: str | None = None) -> Figure:
    """Effect (and held-out effect, when any point has one) against cost, with the guard,
    the chosen points and the prompted baseline."""
    rows = data.get("grid", [])
    held = any(_ok(r.get("held_out_effect")) for r in rows)
    panels = [("effect", "effect on the attract vs repel text")]
    if held:
        panels.append(("held_out_effect", "held-out effect"))
    fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharex=True)[0]
    for ax, (key, label) in zip(axes, panels, strict=True):
        _panel(ax, data, key, label)
    axes[0].legend(fontsize=7, loc="best")
    if title or data.get("model"):
        fig.suptitle(title or f"setting search on {data.get('model')}", fontsize=10)
    return fig


def save_tune_figure(data: Mapping[str, Any], path: str | Path, dpi: int = 90) -> Path:
    """Write :func:`tune_figure` as a PNG; returns the path."""
    out = Path(path).expanduser()
    tune_figure(data).savefig(out, dpi=dpi)
    return out

"""The figures of an evaluation run (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

METHOD_LABEL = {
    "original": "Original",
    "sara": "SARA",
    "actadd": "ActAdd",
    "sara_every_step": "SARA every-step",
    "control": "Control (neutral SARA)",
}
# The post's colours: utilitarian steering blue, Kantian purple; SARA saturated, ActAdd pale.
COLOURS = {
    ("sara", "utilitarian"): "#1f4e9c",
    ("actadd", "utilitarian"): "#9bb8e8",
    ("sara", "kantian"): "#6a1b9a",
    ("actadd", "kantian"): "#ce93d8",
}
FALLBACK = ["#2e7d32", "#a5d6a7", "#ef6c00", "#ffcc80", "#00838f", "#80deea"]
FIGURES = {
    "groups": "groups.png",
    "layers": "layers.png",
    "coherence": "coherence.png",
    "mfq": "mfq.png",
}


def _colour(method: str, stance: str, i: int) -> str:
    return COLOURS.get((method, stance), FALLBACK[i % len(FALLBACK)])


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(ci: dict[str, Any]) -> tuple[float, float, float]:
    v = ci["value"] if ci["value"] is not None else math.nan
    lo = ci["low"] if ci["low"] is not None else v
    hi = ci["high"] if ci["high"] is not None else v
    return v, max(0.0, v - lo), max(0.0, hi - v)


def figure_groups(summary: dict[str, Any], path: Path) -> None:
    """The post's figure: fraction of answers per group, original vs each method x stance."""
    plt = _plt()
    m = summary["metrics"]
    valid = m.get("validity") or {}
    groups = list(summary["groups"])
    series = [("Original", m["original"]["groups"], "#9e9e9e")]
    for i, p in enumerate(m["pooled"]):
        label = f"{METHOD_LABEL[p['method']]}, {p['stance']} steering"
        series.append((label, p["groups"], _colour(p["method"], p["stance"], i)))
    fig, ax = plt.subplots(figsize=(9, 4.6))
    width = 0.8 / len(series)
    for j, (label, data, colour) in enumerate(series):
        xs, vs, lo, hi = [], [], [], []
        for gi, g in enumerate(groups):
            v, el, eh = _err(data[g])
            xs.append(gi - 0.4 + width * (j + 0.5))
            vs.append(v)
            lo.append(el)
            hi.append(eh)
        ax.bar(xs, vs, width, label=label, color=colour, edgecolor="white", linewidth=0.5)
        ax.errorbar(xs, vs, yerr=[lo, hi], fmt="none", ecolor="#333333", elinewidth=0.8, capsize=2)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylabel("fraction of answers")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Ethical group of the answers, pooled over layers ({summary['config']['model']})",
        fontsize=10,
    )
    ax.legend(fontsize=8, frameon=False, ncol=1, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.text(
        0.01,
        0.01,
        f"95% bootstrap CIs. Judge: {summary['judge']['judge']}; validity on real answers: "
        + (
            "beats chance."
            if valid.get("evidence")
            else f"{valid.get('status', 'unknown')}, so these fractions are NOT EVIDENCE."
        ),
        fontsize=7,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def figure_layers(summary: dict[str, Any], path: Path) -> None:
    """Per-layer steering success and spillover, with CI bands."""
    plt = _plt()
    steered = summary["metrics"]["steered"]
    keys = sorted({(r["method"], r["stance"]) for r in steered}, key=lambda k: (k[1], k[0]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for i, (method, stance) in enumerate(keys):
        sel = sorted(
            (r for r in steered if r["method"] == method and r["stance"] == stance),
            key=lambda r: r["layer"],
        )
        xs = [r["layer"] for r in sel]
        for ax, metric in zip(axes, ("success", "spillover"), strict=True):
            v = [r[metric]["value"] for r in sel]
            lo = [r[metric]["low"] for r in sel]
            hi = [r[metric]["high"] for r in sel]
            c = _colour(method, stance, i)
            style = "-" if method == "sara" else "--"
            ax.plot(
                xs, v, style, marker="o", ms=3, color=c, label=f"{METHOD_LABEL[method]}, {stance}"
            )
            ax.fill_between(xs, lo, hi, color=c, alpha=0.12)
    axes[0].set_title("Steering success (target group, steered - original)", fontsize=10)
    axes[1].set_title("Spillover (mass moved into non-target groups)", fontsize=10)
    for ax in axes:
        ax.axhline(0, color="#999999", lw=0.8)
        ax.set_xlabel("layer (block whose input is steered)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def figure_coherence(summary: dict[str, Any], path: Path) -> None:
    """Per-layer perplexity (under the unsteered model) and repetition of the answers."""
    plt = _plt()
    m = summary["metrics"]
    steered = m["steered"]
    keys = sorted({(r["method"], r["stance"]) for r in steered}, key=lambda k: (k[1], k[0]))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for ax, metric, title in zip(
        axes,
        ("perplexity", "repetition_3"),
        ("Perplexity under the unsteered model", "Repetition rate (1 - distinct-3)"),
        strict=True,
    ):
        base = m["original"]["coherence"][metric]["value"]
        if base is not None:
            ax.axhline(base, color="#616161", lw=1, ls=":", label="original")
        for i, (method, stance) in enumerate(keys):
            sel = sorted(
                (r for r in steered if r["method"] == method and r["stance"] == stance),
                key=lambda r: r["layer"],
            )
            ax.plot(
                [r["layer"] for r in sel],
                [r["coherence"][metric]["value"] for r in sel],
                "-" if method == "sara" else "--",
                marker="o",
                ms=3,
                color=_colour(method, stance, i),
                label=f"{METHOD_LABEL[method]}, {stance}",
            )
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("layer")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def figure_mfq(summary: dict[str, Any], path: Path) -> None:
    """Foundation means under each steering at the profile layer."""
    plt = _plt()
    mfq = summary["mfq"]
    foundations = mfq["foundations"]
    profile = mfq["profile"]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(profile)
    for j, run in enumerate(profile):
        colour = (
            "#9e9e9e" if run["method"] == "original" else _colour(run["method"], run["stance"], j)
        )
        label = (
            "Original"
            if run["method"] == "original"
            else f"{METHOD_LABEL[run['method']]}, {run['stance']}"
        )
        if not run["catch_passed"]:
            label += " (catch failed)"
        xs = [fi - 0.4 + width * (j + 0.5) for fi in range(len(foundations))]
        ax.bar(
            xs,
            [run["foundations"].get(f, math.nan) for f in foundations],
            width,
            color=colour,
            label=label,
        )
    ax.set_xticks(range(len(foundations)))
    ax.set_xticklabels(foundations)
    lo, hi = mfq["scale"]
    ax.set_ylim(lo, hi)
    ax.set_ylabel(f"mean expected answer ({lo}-{hi})")
    ax.set_title(f"Moral foundations under steering (layer {mfq['profile_layer']})", fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_figures(summary: dict[str, Any], out: Path) -> dict[str, str]:
    """Write every figure that the summary has data for; returns name -> file name."""
    out = Path(out)
    written = {}
    figure_groups(summary, out / FIGURES["groups"])
    written["groups"] = FIGURES["groups"]
    if summary["metrics"]["steered"]:
        figure_layers(summary, out / FIGURES["layers"])
        written["layers"] = FIGURES["layers"]
        figure_coherence(summary, out / FIGURES["coherence"])
        written["coherence"] = FIGURES["coherence"]
    if summary.get("mfq"):
        figure_mfq(summary, out / FIGURES["mfq"])
        written["mfq"] = FIGURES["mfq"]
    return written

"""The matched-strength sweep's files: strength.json, strength.png (effect against cost, one
curve per method, the prompted baseline as a point) and strength.md (the table)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sara_core.measures.strength import (
    ACTADD_GRID,
    COST_BUDGET,
    SARA_GRID,
    StrengthSpec,
    finding,
    run_strength,
)

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.evaluation.choice_run import ChoiceSpec
    from sara_core.models.loading import LoadedModel

STYLE = {
    "sara": ("SARA (lambda)", "#1f4e9c", "o-"),
    "actadd": ("ActAdd (c)", "#e07b00", "s--"),
    "control": ("neutral control (SARA, lambda 1)", "#7a7a7a", "D"),
    "prompted": ("prompted", "#2e7d32", "*"),
}


def figure(data: dict[str, Any], path: Path) -> None:
    """Shift toward the pole against the perplexity ratio, with both CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.4))
    for method, (label, colour, style) in STYLE.items():
        pts = sorted(
            (p for p in data["points"] if p["method"] == method), key=lambda p: p["coeff"] or 0.0
        )
        if not pts:
            continue
        xs = [p["cost"]["ratio"] for p in pts]
        ys = [p["shift"]["mean"] for p in pts]
        xerr = [
            [x - p["cost"]["ci"][0] for x, p in zip(xs, pts, strict=True)],
            [p["cost"]["ci"][1] - x for x, p in zip(xs, pts, strict=True)],
        ]
        yerr = [
            [y - p["shift"]["ci"][0] for y, p in zip(ys, pts, strict=True)],
            [p["shift"]["ci"][1] - y for y, p in zip(ys, pts, strict=True)],
        ]
        ax.errorbar(
            xs,
            ys,
            xerr=xerr,
            yerr=yerr,
            fmt=style,
            color=colour,
            label=label,
            ms=9 if method == "prompted" else 5,
            capsize=2,
            elinewidth=0.8,
        )
        for x, y, p in zip(xs, ys, pts, strict=True):
            if p["coeff"] is not None and method in ("sara", "actadd"):
                ax.annotate(
                    f"{p['coeff']:g}",
                    (x, y),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=colour,
                )
    ax.axhline(0, color="#999999", lw=0.8)
    ax.axvline(data["budget"], color="#bbbbbb", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("coherence cost: perplexity of greedy answers / unsteered (log scale)")
    ax.set_ylabel(f"shift of P({data['toward']})")
    ax.set_title(
        f"{data['model']}, bank {data['bank']}, block {data['layer']}: effect vs cost", fontsize=10
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _rules(block: dict[str, Any]) -> str:
    """A collapsed share with the rules that fired, e.g. ``0.38 (too_short 5, loop 1)``."""
    rules = block.get("rules") or {}
    named = ", ".join(f"{k} {v}" for k, v in sorted(rules.items(), key=lambda kv: -kv[1]))
    return f"{block['collapsed']:.2f}" + (f" ({named})" if named else "")


def table(data: dict[str, Any]) -> list[str]:
    """The sweep as a markdown table (every point, the unsteered row first)."""
    u = data["unsteered"]
    lines = [
        "| setting | shift of P(" + data["toward"] + ") | cost (ppl ratio) | collapsed |",
        "|---|---|---|---|",
        f"| unsteered (ppl {u['ppl']:.2f}) | 0 | 1 | {_rules(u)} |",
    ]
    for p in data["points"]:
        name = p["method"] if p["coeff"] is None else f"{p['method']} x{p['coeff']:g}"
        s, c = p["shift"], p["cost"]
        lines.append(
            f"| {name} | {s['mean']:+.3f} [{s['ci'][0]:+.3f}, {s['ci'][1]:+.3f}] | "
            f"{c['ratio']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}] | {_rules(c)} |"
        )
    return lines


def run_and_write(
    lm: LoadedModel,
    choice: ChoiceSpec,
    out: Path,
    sara_grid: tuple[float, ...] = SARA_GRID,
    actadd_grid: tuple[float, ...] = ACTADD_GRID,
) -> list[Path]:
    """Run the sweep for a ``choice`` run's bank, pole and layer and write the three files."""
    spec = StrengthSpec(
        choice.bank,
        choice.toward,
        choice.attract,
        choice.repel,
        choice.instruction,
        choice.layer,
        sara_grid,
        actadd_grid,
        scope=choice.scope,
        quick=choice.quick,
        n_boot=choice.n_boot,
        seed=choice.seed,
    )
    result = run_strength(lm, spec)
    data = result.to_json()
    data["finding"] = finding(result)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"strength-{choice.bank.name}-{choice.toward}-L{choice.layer}"
    paths = [out / f"{stem}.json", out / f"{stem}.png", out / f"{stem}.md"]
    paths[0].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    figure(data, paths[1])
    md = [
        f"# Matched strength: bank {data['bank']}, toward {data['toward']}, block {data['layer']}",
        "",
        *table(data),
        "",
        data["finding"],
        "",
        f"Cost budget {COST_BUDGET}x fixed before the run.",
    ]
    paths[2].write_text("\n".join(md) + "\n", encoding="utf-8")
    return paths

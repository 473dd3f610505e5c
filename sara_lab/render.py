"""Results as the page shows them: markdown lines, tables and figures (no widgets, no state)."""

from __future__ import annotations

from typing import Any

import pandas as pd  # a dependency of gradio
from matplotlib.figure import Figure

from sara_core import plots
from sara_core.generation import CompareResult
from sara_core.models import LoadedModel
from sara_core.sara import SaraResult
from sara_core.sweep import SweepResult

UNIT_HEADERS = ["effect", "unit", "score", "cos → attract", "cos → repel", "factor 1+λs"]
SWEEP_HEADERS = [
    "block",
    "k",
    "mean |s|",
    "boosted",
    "suppressed",
    "cos → attract",
    "cos → repel",
    "ActAdd ‖Δ‖/‖h‖",
]
SWEEP_ANSWER_HEADERS = ["SARA answer", "ActAdd answer"]


def model_markdown(lm: LoadedModel | None, error: str | None = None, name: str = "") -> str:
    """The line under the title: the loaded model's facts, or that it is loading or failed."""
    if lm is None:
        if error:
            return f"**Model {name} could not be loaded:** {error}"
        return f"**Loading model {name}…** (the first start converts the embedded model once)"
    d = lm.describe()
    return (
        f"**Model** `{d['name']}` · {d['layers']} blocks · hidden size {d['hidden_size']} · "
        f"{d['device']} · {d['dtype']} · {'chat' if d['chat_template'] else 'base'} model · "
        f"loaded in {d['load_seconds']:.1f} s"
    )


def timing_markdown(result: CompareResult, wall_s: float, first_s: float | None) -> str:
    """The status line of a finished run: time, speed and the settings that produced it."""
    t, s = result.timing, result.settings
    tokens = sum((t.get("new_tokens") or {}).values())
    rate = t.get("tokens_per_s") or 0.0
    first = f"first words after {first_s:.1f} s · " if first_s is not None else ""
    extras = [f"{s['sign']} signs"] if s.get("sign", "raw") != "raw" else []
    if s.get("actadd_mode", "prefix") != "prefix":
        extras.append(f"ActAdd {s['actadd_mode']}")
    return (
        f"**Done in {wall_s:.1f} s** · {first}{tokens} new tokens at {rate:.1f} tokens/s · "
        f"block {s.get('layer')} · k = {s.get('k_used')} · "
        f"prompt {s.get('prompt_tokens')} tokens · "
        f"SARA ×{s.get('sara_coeff'):g} ({s.get('scope')}) · ActAdd ×{s.get('actadd_coeff'):g}"
        + "".join(f" · {e}" for e in extras)
    )


def growing(texts: tuple[str, str, str]) -> str:
    """Which answer is being written now (they fill in the order original, SARA, ActAdd)."""
    for name, text in zip(("ActAdd", "SARA"), (texts[2], texts[1]), strict=True):
        if text:
            return name
    return "Original"


def units_table(result: SaraResult, coeff: float, n: int = 8) -> list[list[Any]]:
    """The ``n`` most boosted and most suppressed units, rounded for reading."""
    return [
        [
            "▲ boosted" if r["effect"] == "boosted" else "▼ suppressed",
            r["unit"],
            round(r["score"], 3),
            round(r["cos_attract"], 3),
            round(r["cos_repel"], 3),
            round(r["factor"], 3),
        ]
        for r in plots.top_units(result, n=n, coeff=coeff)
    ]


def summary_markdown(result: SaraResult, coeff: float, layer: int | None) -> str:
    """One paragraph on what SARA did: how many units it boosted, suppressed and flipped."""
    s = plots.score_summary(result, coeff=coeff)
    sim = plots.reduced_similarity(result)
    flipped = s.get("flipped", 0)
    flip = f", **{flipped}** flip sign (factor < 0)" if flipped else ""
    return (
        f"At block **{layer}** with k = **{s['k']}**: **{s['boosted']}** of {s['units']} units "
        f"are boosted and **{s['suppressed']}** suppressed{flip}; mean |score| "
        f"{s['mean_abs_score']:.3f}. Mean per-unit cosine of the prompt to attract "
        f"**{sim[0, 1]:+.3f}**, to repel **{sim[0, 2]:+.3f}** (R_attract vs R_repel "
        f"{sim[1, 2]:+.3f})."
    )


def analysis(result: CompareResult) -> tuple[Figure, list[list[Any]], Figure, str] | None:
    """What SARA did in a run: (heatmap, top units, 3x3 similarity, summary); None without it."""
    if result.sara_analysis is None:
        return None
    coeff = float(result.settings.get("sara_coeff", 1.0))
    layer = result.settings.get("layer")
    return (
        plots.sara_heatmap(result.sara_analysis, coeff=coeff, layer=layer),
        units_table(result.sara_analysis, coeff),
        plots.similarity_figure(result.sara_analysis),
        summary_markdown(result.sara_analysis, coeff, layer),
    )


def sweep_headers(answers: bool) -> list[str]:
    return SWEEP_HEADERS + (SWEEP_ANSWER_HEADERS if answers else [])


def sweep_table(result: SweepResult, answers: bool) -> pd.DataFrame:
    """One row per block: the signal's numbers, and the answers when the sweep made them."""
    rows = []
    for s in result.layers:
        row: list[Any] = [
            s.layer,
            s.k,
            round(s.mean_abs_score, 4),
            round(s.frac_boosted, 3),
            round(s.frac_suppressed, 3),
            round(s.mean_cos_attract, 3),
            round(s.mean_cos_repel, 3),
            round(s.actadd_rel_norm, 3),
        ]
        if answers:
            row += [s.sara_answer, s.actadd_answer]
        rows.append(row)
    return pd.DataFrame(rows, columns=sweep_headers(answers))


def sweep_summary(result: SweepResult, answers: bool) -> str:
    """Where SARA rescales the prompt most and, with answers, where it changed the answer."""
    summary = (
        f"Swept {len(result.layers)} blocks in {result.seconds:.1f} s. SARA rescales the "
        f"prompt most (largest mean |score|) at **block {result.best_layer()}**"
    )
    if answers:
        changed = [s.layer for s in result.layers if s.sara_differs]
        summary += (
            f"; SARA changed the answer at blocks {changed or 'none'}. Original answer: "
            f"*{result.original_answer}*"
        )
    return summary + "."

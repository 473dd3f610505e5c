"""Results as the page shows them: markdown lines, tables and figures (no widgets, no state)."""

from __future__ import annotations

from typing import Any

import pandas as pd  # a dependency of gradio
from matplotlib.figure import Figure

from sara_core.engine.results import CompareResult
from sara_core.measures.model_validity import ModelValidity
from sara_core.models.loading import LoadedModel
from sara_core.plots.sara import (
    reduced_similarity,
    sara_heatmap,
    score_summary,
    similarity_figure,
    top_units,
)
from sara_core.steering.sara import SaraResult
from sara_core.tune.layer_sweep import SweepResult

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


def generating(texts: tuple[str, ...]) -> str:
    """The status while the answers grow: they are rows of one batch, so they grow together."""
    words = sum(len(t.split()) for t in texts)
    return f"Writing the {len(texts)} answers side by side: {words} words so far…"


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
        for r in top_units(result, n=n, coeff=coeff)
    ]


def summary_markdown(result: SaraResult, coeff: float, layer: int | None) -> str:
    """One paragraph on what SARA did: how many units it boosted, suppressed and flipped."""
    s = score_summary(result, coeff=coeff)
    sim = reduced_similarity(result)
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
        sara_heatmap(result.sara_analysis, coeff=coeff, layer=layer),
        units_table(result.sara_analysis, coeff),
        similarity_figure(result.sara_analysis),
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


# -- the setting search (Find a setting tab) ---------------------------------------------------
TUNE_HEADERS = ["setting", "block", "strength", "effect", "cost (ppl ×)", "answer (first words)"]
TUNE_NAMES = {"sara": "SARA", "actadd": "ActAdd", "prompted": "Prompted", "unsteered": "Unsteered"}
STRENGTH = {"sara": "λ", "actadd": "c"}


def setting_label(method: str, setting: dict[str, Any]) -> str:
    """e.g. "SARA: block 12, λ 2" for a chosen {"layer", "coeff"}."""
    sym = STRENGTH.get(method, "×")
    return f"{TUNE_NAMES.get(method, method)}: block {setting['layer']}, {sym} {setting['coeff']:g}"


def _rounded(value: Any, digits: int) -> Any:
    return round(value, digits) if isinstance(value, int | float) else None


def tune_table(data: dict[str, Any]) -> pd.DataFrame:
    """One row per chosen setting (or "none passed the guard"), then the two baselines."""
    rows: list[list[Any]] = []
    for method, point in (data.get("chosen") or {}).items():
        name = f"{TUNE_NAMES.get(method, method)} (chosen)"
        if point is None:
            rows.append([name, None, None, None, None, "no setting passed the guard"])
            continue
        rows.append(_tune_row(name, point))
    for key in ("prompted", "unsteered"):
        if data.get(key):
            rows.append(_tune_row(f"{TUNE_NAMES[key]} (baseline)", data[key]))
    return pd.DataFrame(rows, columns=TUNE_HEADERS)


def _tune_row(name: str, p: dict[str, Any]) -> list[Any]:
    words = " ".join(str(p.get("answer") or "").split()[:16])
    return [
        name,
        p.get("layer"),
        p.get("coeff"),
        _rounded(p.get("effect"), 3),
        _rounded(p.get("ppl_ratio"), 2),
        words,
    ]


def tune_summary(data: dict[str, Any]) -> str:
    """What the search found: per method the chosen setting (or none), and the prompted one."""
    timing, settings = data.get("timing") or {}, data.get("settings") or {}
    grid = "quick" if settings.get("quick") else "full"
    parts = [
        f"Searched **{timing.get('points', len(data.get('grid', [])))}** points "
        f"({grid} grid) in {timing.get('total_s', 0):.0f} s; the guard allows answers up to "
        f"{settings.get('max_ppl_ratio', 1.5):g}× as perplexing as the unsteered one."
    ]
    for method, p in (data.get("chosen") or {}).items():
        name = TUNE_NAMES.get(method, method)
        if p is None:
            parts.append(f"{name}: no setting passed the guard.")
        else:
            parts.append(
                f"**{setting_label(method, p)}**: effect {p['effect']:+.3f} nats/token at "
                f"{p['ppl_ratio']:.2f}× the perplexity."
            )
    prompted = data.get("prompted")
    if prompted and isinstance(prompted.get("effect"), int | float):
        parts.append(f"The prompted baseline (no steering): effect {prompted['effect']:+.3f}.")
    return " ".join(parts)


# -- can this model show it? (Model tab, and a line on the Steer tab) --------------------------
VALIDITY_UNKNOWN = (
    "Whether this model takes a stance when asked in words is not measured yet: the **Model** "
    "tab can check it."
)
SOURCES = {"shipped": "measured for this repository", "cache": "measured on this server"}


def model_size(lm: LoadedModel) -> str:
    """The parameter count, rounded for reading: "135M", "1.5B"."""
    n = sum(p.numel() for p in lm.model.parameters())
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{max(1, round(n / 1e6))}M"


def validity_line(validity: ModelValidity | None, size: str = "") -> str:
    """The line above the Steer tab's answers: can this model show a stance at all?"""
    if validity is None:
        return VALIDITY_UNKNOWN
    message = validity.message()
    if size and message.startswith("This model"):
        message = f"This {size} model" + message[len("This model") :]
    return f"**Can this model show it?** {message}"


def validity_markdown(validity: ModelValidity | None, name: str = "") -> str:
    """The Model tab's table: per bank and stance, the prompted shift toward the stance's pole."""
    if validity is None:
        return (
            f"Not measured yet for `{name}`. **Check this model** asks it the forced-choice "
            "questions of the moral and sentiment banks with and without the stance written "
            "into the prompt (a minute or two on a CPU)."
        )
    rows = [
        "| bank | stance | toward | prompted shift of P(toward) [95% CI] | moves? |",
        "|---|---|---|---|---|",
    ]
    for s in validity.stances:
        rows.append(
            f"| {s.bank} | {s.stance} | {s.toward} | {s.shift.text()} (n={s.shift.n}) | "
            f"{'yes' if s.valid else 'no'} |"
        )
    grid = "quick (16 items per bank)" if validity.quick else "every item"
    where = SOURCES.get(validity.source, "measured now")
    return (
        f"{validity.message()}\n\n" + "\n".join(rows) + f"\n\n<small>`{validity.model}`, {grid}, "
        f'{where}. A stance "moves" when the whole interval lies above 0: asked in words, the '
        "model prefers that pole's answers. Where it does not, a steering method's null result "
        "says nothing about the method.</small>"
    )

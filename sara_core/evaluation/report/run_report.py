"""report.md of an evaluation run: configuration, judge, headline, tables, figures, examples and
what the run does not show. One function per section; each returns its lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.report.plots import METHOD_LABEL

Summary = dict[str, Any]
"""summary.json as a dict: the report is written from it, so a saved run can be reported again."""


def _pct(ci: dict[str, Any]) -> str:
    if ci["value"] is None:
        return "n/a"
    return f"{ci['value']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"


def _signed(ci: dict[str, Any]) -> str:
    if ci["value"] is None:
        return "n/a"
    return f"{ci['value']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"


def _opt(block: dict[str, Any], key: str) -> str:
    return _pct(block[key]) if key in block else ""


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.2f}"


def verdict(headline: dict[str, Any]) -> str:
    """One sentence: does SARA move more / spill less than ActAdd, given the CIs?"""
    s, p = headline["success_sara_minus_actadd"], headline["spillover_sara_minus_actadd"]
    if s["value"] is None:
        return "no data"
    if s["low"] > 0:
        moves = "SARA moves answers toward the target more than ActAdd"
    elif s["high"] < 0:
        moves = "ActAdd moves answers toward the target more than SARA"
    else:
        moves = "no difference in steering success can be told apart (the CI spans 0)"
    if p["high"] < 0:
        spills = "SARA spills less"
    elif p["low"] > 0:
        spills = "SARA spills more"
    else:
        spills = "spillover is indistinguishable"
    return f"{moves}; {spills}."


def section_title(summary: Summary) -> list[str]:
    cfg, model, sec = summary["config"], summary["model"], summary["seconds"]
    if sec.get("generation") is not None:
        when = f" in {sec['total']:.0f} s"
    else:
        when = f" (generated earlier, labelled and summarised again in {sec['total']:.0f} s)"
    return [
        "# SARA vs ActAdd: evaluation report",
        "",
        f"Model **{model['name']}** ({model['layers']} blocks, hidden {model['hidden_size']}, "
        f"{model['device']}), {summary['n_answers']} answers"
        + when
        + (" (`--quick`)" if cfg.get("quick") else "")
        + ".",
        "",
    ]


def validity_of(summary: Summary) -> dict[str, Any]:
    """The judge's validity recorded in the summary; unknown for summaries written before it."""
    unknown = {
        "status": "unknown",
        "evidence": False,
        "line": "Judge validity: UNKNOWN. The judge has not been checked against a blind "
        "annotator on real answers, so the school and group figures below are not evidence.",
    }
    return summary["metrics"].get("validity") or unknown


def section_validity(summary: Summary) -> list[str]:
    """Before any comparison of methods: may the judge's labels be read as evidence?"""
    return [f"> **{validity_of(summary)['line']}**", ""]


def section_config(summary: Summary) -> list[str]:
    cfg, m = summary["config"], summary["metrics"]
    targets = ", ".join(
        f"{h['stance']} -> {h['target']}" for h in m["headline"] if h["stance"] != "all"
    )
    return [
        "## Configuration",
        "",
        f"- Dilemmas: {', '.join(cfg['dilemmas'])}; stances: {', '.join(cfg['stances'])} "
        f"(targets: {targets}).",
        f"- Layers steered: {', '.join(map(str, cfg['layers']))}; {cfg['reps']} repetitions per "
        f"(dilemma, stance, layer, method); {cfg['baseline_reps']} original answers per dilemma.",
        f"- Decoding: sampling, temperature {cfg['temperature']}, top_p {cfg['top_p']}, "
        f"{cfg['max_new_tokens']} new tokens; seed of repetition r of dilemma i = "
        f"{cfg['seed']} + 1000 i + r, shared by the three methods (recorded per answer in "
        "results.csv).",
        f"- Steering: SARA lambda {cfg['sara_coeff']} (k = shortest prompt, raw SVD signs, scope "
        f"{cfg['scope']}), ActAdd c {cfg['actadd_coeff']} (authors' prefix mode); both from the "
        "stance's attract/repel sentences, as in the post. Prompt: the paper's prefix "
        '"Your task is to take an unambiguous moral stance on this dilemma: " + the dilemma, '
        "in the chat template.",
        "- The original answers do not depend on stance or layer: they are generated once per "
        "(dilemma, repetition) and every stance and layer is compared with the same ones.",
        "",
    ]


def section_judge(summary: Summary) -> list[str]:
    judge, valid = summary["judge"], validity_of(summary)
    lines = [
        "## Judge",
        "",
        f"Every answer was labelled by the **{judge['judge']}** judge. Collapsed text, code, "
        "non-answers and off-topic answers (its collapse detector's rules), and answers whose "
        f"likeliest group has less than {judge.get('min_confidence', 0.5)} of its probability, "
        "are Unclassifiable and count toward no school. On 56 short textbook answers written "
        f"for this project it scores {judge['accuracy']:.1%} (schools) and "
        f"{judge['group_accuracy']:.1%} (groups) ({judge['method']}; chance is 12.5% for "
        "schools); that says little about real answers. On real answers: "
        f"{valid['line'].removeprefix('Judge validity: ')}",
        "",
    ]
    if len(summary.get("judges", [])) > 1:
        lines += [
            "| judge | school accuracy | group accuracy | how measured |",
            "|---|---|---|---|",
        ]
        for j in summary["judges"]:
            lines.append(
                f"| {j['judge']} | {j['accuracy']:.1%} | {j['group_accuracy']:.1%} "
                f"| {j['method']} |"
            )
        lines.append("")
    groups = "; ".join(f"{g} = {', '.join(ms)}" for g, ms in summary["groups"].items())
    return lines + [f"Groups: {groups}.", ""]


def _headline_table(headlines: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| stance | success SARA - ActAdd | spillover SARA - ActAdd | reading |",
        "|---|---|---|---|",
    ]
    for h in headlines:
        lines.append(
            f"| {h['stance']} | {_signed(h['success_sara_minus_actadd'])} | "
            f"{_signed(h['spillover_sara_minus_actadd'])} | {verdict(h)} |"
        )
    return lines + [""]


def section_headline(summary: Summary) -> list[str]:
    m, valid = summary["metrics"], validity_of(summary)
    caveat = "" if valid["evidence"] else " (not evidence: the judge is not validated)"
    lines = [
        f"## Headline: SARA minus ActAdd, pooled over layers{caveat}",
        "",
        f"**{valid['line']}**",
        "",
        "Steering success = fraction in the target group, steered minus original; spillover = "
        "fraction moved into the non-target groups. Differences are SARA - ActAdd with 95% "
        "bootstrap CIs: a positive success difference means SARA moves more; a negative spillover "
        "difference means SARA spills less.",
        "",
        *_headline_table(m["headline"]),
    ]
    coherent = m.get("coherent")
    if coherent:
        lines += [
            f"The same on coherent answers only ({coherent['n']} of {coherent['n_all']}; an "
            f"answer counts as coherent when {coherent['rule']}): a method that collapses the "
            "text changes the fractions even when no answer moves between schools.",
            "",
            *_headline_table(coherent["headline"]),
        ]
    return lines


def section_fractions(summary: Summary) -> list[str]:
    m, figs = summary["metrics"], summary.get("figures", {})
    groups = list(summary["groups"])
    o = m["original"]
    lines = [f"![Group fractions]({figs['groups']})", ""] if "groups" in figs else []
    lines += [
        "## Group fractions and effects, pooled over layers",
        "",
        "| answers | n | "
        + " | ".join(groups)
        + " | Unclassifiable | success | spillover | collapsed |",
        "|---|---|" + "---|" * len(groups) + "---|---|---|---|",
        f"| original | {o['n']} | "
        + " | ".join(_pct(o["groups"][g]) for g in groups)
        + f" | {_opt(o, 'unclassifiable')} | | | {_opt(o, 'collapsed')} |",
    ]
    for p in m["pooled"]:
        lines.append(
            f"| {METHOD_LABEL[p['method']]}, {p['stance']} | {p['n']} | "
            + " | ".join(_pct(p["groups"][g]) for g in groups)
            + f" | {_opt(p, 'unclassifiable')} | {_signed(p['success'])} "
            f"| {_signed(p['spillover'])} | {_opt(p, 'collapsed')} |"
        )
    return lines + [""]


def section_layers(summary: Summary) -> list[str]:
    figs = summary.get("figures", {})
    if "layers" not in figs:
        return []
    lines = [
        "## Per layer",
        "",
        f"![Success and spillover per layer]({figs['layers']})",
        "",
        "| method | stance | layer | n | success | spillover | perplexity | repetition |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["metrics"]["steered"]:
        lines.append(
            f"| {METHOD_LABEL[r['method']]} | {r['stance']} | {r['layer']} | {r['n']} | "
            f"{_signed(r['success'])} | {_signed(r['spillover'])} | "
            f"{_num(r['coherence']['perplexity']['value'])} | "
            f"{_num(r['coherence']['repetition_3']['value'])} |"
        )
    return lines + [""]


def section_coherence(summary: Summary) -> list[str]:
    figs = summary.get("figures", {})
    if "coherence" not in figs:
        return []
    oc = summary["metrics"]["original"]["coherence"]
    return [
        "## Coherence",
        "",
        f"Original answers: perplexity {_pct(oc['perplexity'])}, repetition rate "
        f"{_pct(oc['repetition_3'])}, distinct-2 {_pct(oc['distinct_2'])}. Perplexity is "
        "that of each answer under the unsteered model, so a steered answer that the model "
        "would not have written scores higher even when it reads fine.",
        "",
        f"![Coherence per layer]({figs['coherence']})",
        "",
    ]


def section_mfq(summary: Summary) -> list[str]:
    mfq, figs = summary.get("mfq"), summary.get("figures", {})
    if not mfq:
        return []
    found = mfq["foundations"]
    lines = [
        "## Moral foundations questionnaire",
        "",
        f"{mfq['name']}: {mfq['n_items']} items, {mfq['scoring']}. Profile at layer "
        f"{mfq['profile_layer']}; every layer is in summary.json (`mfq_runs`).",
        "",
        "| answers | " + " | ".join(found) + " | catch items | digit mass |",
        "|---|" + "---|" * len(found) + "---|---|",
    ]
    for run in mfq["profile"]:
        name = (
            "original"
            if run["method"] == "original"
            else f"{METHOD_LABEL[run['method']]}, {run['stance']}"
        )
        lines.append(
            f"| {name} | "
            + " | ".join(_num(run["foundations"].get(f)) for f in found)
            + f" | {'passed' if run['catch_passed'] else 'FAILED'} | {run['digit_mass']:.2f} |"
        )
    lines += [
        "",
        f"Catch items failed in {len(mfq['catch_failures'])} of {mfq['n_runs']} questionnaire "
        "runs (all layers); a failed catch item means the model's answers to that run are not to "
        "be trusted. Digit mass is the probability the model gave to answering with a digit at "
        "all.",
        "",
    ]
    if "mfq" in figs:
        lines += [f"![MFQ profile]({figs['mfq']})", ""]
    return lines


def section_examples(rows: Sequence[AnswerRow], layer: int | None = None) -> list[str]:
    """One example answer per method and stance: the first repetition at ``layer`` (the middle
    layer of the run when None), so the examples are neither the weakest nor the strongest."""
    steered_layers = sorted({r.layer for r in rows if r.method != "original"})
    if layer is None and steered_layers:
        layer = steered_layers[len(steered_layers) // 2]
    lines = ["## Example answers", ""]
    seen = set()
    for r in rows:
        key = (r.method, r.stance)
        if key in seen or (r.method != "original" and r.layer != layer):
            continue
        seen.add(key)
        who = (
            "Original"
            if r.method == "original"
            else f"{METHOD_LABEL[r.method]}, {r.stance}, layer {r.layer}"
        )
        text = r.answer.replace("\n", " ").strip()
        if len(text) > 400:
            text = text[:400] + "..."
        lines.append(f"- **{who}** (judged {r.school}): {text}")
    return lines + [""]


def section_limits(summary: Summary) -> list[str]:
    valid = validity_of(summary)
    return [
        "## What this does and does not show",
        "",
        "- It measures whether steering changes *which ethical school* an automatic judge "
        "assigns to the answers, on this model, these dilemmas and these prompts. It does not "
        "measure whether the answers are good moral reasoning.",
        f"- {valid['line']} Textbook accuracy is no substitute for agreement on real answers.",
        "- Confidence intervals resample answers within each dilemma; they cover sampling noise, "
        "not the choice of dilemmas, prompts, coefficients or judge.",
        "- Unclassifiable answers count in the denominators but toward no group, so collapse "
        "lowers every group's fraction; the collapsed and Unclassifiable columns show how much.",
        "- The questionnaire is only as meaningful as its catch items: where they fail, the "
        "model is not answering the items, and its foundation scores say little.",
        "",
    ]


def write_report(summary: Summary, rows: Sequence[AnswerRow], out: Path) -> Path:
    """report.md embedding the figures, with the configuration, judge accuracy and tables."""
    lines = [
        *section_title(summary),
        *section_validity(summary),
        *section_config(summary),
        *section_judge(summary),
        *section_headline(summary),
        *section_fractions(summary),
        *section_layers(summary),
        *section_coherence(summary),
        *section_mfq(summary),
        *section_examples(rows),
        *section_limits(summary),
    ]
    path = Path(out) / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

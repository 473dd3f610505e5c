"""Section 5 of the evidence report: the pre-print's experiment rerun, beside its numbers.

All answers first; then the collapse rates and perplexities, which need no classifier; then the
one filter fixed before the run (coherent answers only). The judge's group fractions are printed
as "not evidence" unless its blind check (agreement.json) says they beat chance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.report.plots import METHOD_LABEL
from sara_core.evaluation.summary import fraction_block, is_coherent

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.evaluation.report.evidence import EvidenceInputs

Json = dict[str, Any]
PAPER = {
    "Gemma-2B unsteered (pre-print)": {
        "Utilitarianism": 0.227,
        "Individualism": 0.053,
        "A priori values": 0.72,
    },
    "Gemma-2B SARA utilitarian (pre-print, read off its figure)": {
        "Utilitarianism": 0.47,
        "Individualism": 0.21,
        "A priori values": 0.32,
    },
}
ORDER = ("Utilitarianism", "Individualism", "A priori values")


def _ci(block: Json, digits: int = 2) -> str:
    if block.get("value") is None:
        return "n/a"
    f = f"{{:.{digits}f}}"
    return f"{f.format(block['value'])} [{f.format(block['low'])}, {f.format(block['high'])}]"


def _label(p: Json) -> str:
    if p["method"] == "control":
        return "Control (neutral SARA, no stance)"
    return f"{METHOD_LABEL[p['method']]}, {p['stance']}"


def _pooled(summary: Json) -> list[Json]:
    """Pooled blocks, the control once (its answers are the same for every stance)."""
    out, seen_control = [], False
    for p in summary["metrics"]["pooled"]:
        if p["method"] == "control":
            if seen_control:
                continue
            seen_control = True
        out.append(p)
    return out


TITLE = "## 5. The pre-print's experiment on this model"


def section_config(summary: Json, n: int, title: str = TITLE) -> list[str]:
    c = summary["config"]
    methods = ", ".join(
        ["SARA (prompt scope)", "ActAdd", *[METHOD_LABEL[m] for m in c.get("extra_methods", [])]]
    )
    gen = summary["seconds"].get("generation")
    total = summary["seconds"]["total"]
    relabelled = (
        []
        if gen
        else [
            "**Not a new run.** These answers were generated before this report's runs were fixed "
            "and have been read before; they were labelled again by the shipped judge and the "
            "collapse rules (v1) and summarised as fixed in advance. Read them as a description, "
            "not as a test.",
            "",
        ]
    )
    return [
        title,
        "",
        *relabelled,
        f"{n} answers: dilemmas {', '.join(c['dilemmas'])}; stances {', '.join(c['stances'])}; "
        f"blocks {', '.join(map(str, c['layers']))}; {c['reps']} repetitions per (dilemma, "
        f"stance, layer, method), {c['baseline_reps']} original answers per dilemma; methods "
        f"{methods}; the pre-print's decoding (temperature {c['temperature']}, top_p "
        f"{c['top_p']}, {c['max_new_tokens']} new tokens), SARA lambda {c['sara_coeff']}, "
        f"ActAdd c {c['actadd_coeff']}. "
        + (
            f"Generated {c.get('batch_size', 16)} answers per batch in {gen / 60:.0f} min "
            f"(total with labelling{' and the questionnaire' if summary.get('mfq') else ''} "
            f"{total / 60:.0f} min)."
            if gen
            else f"Labelled and summarised again in {total / 60:.0f} min."
        ),
        "",
    ]


def section_paper(summary: Json) -> list[str]:
    """Group fractions on all answers, beside the pre-print's Gemma-2B numbers."""
    valid = summary["metrics"]["validity"]
    caveat = "" if valid.get("evidence") else " — NOT EVIDENCE"
    lines = [
        f"### Beside the pre-print: group fractions, all answers{caveat}",
        "",
        f"**{valid['line']}**",
        "",
        "| answers | n | " + " | ".join(ORDER) + " | Unclassifiable |",
        "|---|---|" + "---|" * len(ORDER) + "---|",
    ]
    for name, groups in PAPER.items():
        lines.append(f"| {name} | | " + " | ".join(f"{groups[g]:.3f}" for g in ORDER) + " | |")
    o = summary["metrics"]["original"]
    lines.append(
        f"| this model, original | {o['n']} | "
        + " | ".join(_ci(o["groups"][g]) for g in ORDER)
        + f" | {_ci(o['unclassifiable'])} |"
    )
    for p in _pooled(summary):
        lines.append(
            f"| this model, {_label(p)} | {p['n']} | "
            + " | ".join(_ci(p["groups"][g]) for g in ORDER)
            + f" | {_ci(p['unclassifiable'])} |"
        )
    return [*lines, ""]


def section_collapse(summary: Json) -> list[str]:
    """What needs no classifier: collapse rates (the collapse rules) and perplexity."""
    o = summary["metrics"]["original"]
    lines = [
        "### Collapse and perplexity (no classifier), all answers, pooled over blocks",
        "",
        "Collapsed = rejected by the collapse rules (loop, code, gibberish, non-answer, "
        "off-topic, echo, too short); perplexity of each answer under the unsteered model.",
        "",
        "| answers | n | collapsed | perplexity |",
        "|---|---|---|---|",
        f"| original | {o['n']} | {_ci(o['collapsed'])} | {_ci(o['coherence']['perplexity'])} |",
    ]
    for p in _pooled(summary):
        lines.append(
            f"| {_label(p)} | {p['n']} | {_ci(p['collapsed'])} | "
            f"{_ci(p['coherence']['perplexity'])} |"
        )
    return [*lines, ""]


def section_coherent(summary: Json, rows: Sequence[AnswerRow]) -> list[str]:
    """The one filter fixed beforehand: answers the collapse rules accept."""
    if not rows:
        return []
    keep = [r for r in rows if is_coherent(r)]
    valid = summary["metrics"]["validity"]
    caveat = "" if valid.get("evidence") else " — NOT EVIDENCE"
    nb, seed = summary["config"]["n_boot"], summary["config"]["seed"]
    lines = [
        f"### Coherent answers only (the filter fixed before the run){caveat}",
        "",
        f"{len(keep)} of {len(rows)} answers pass the collapse rules.",
        "",
        "| answers | n | " + " | ".join(ORDER) + " |",
        "|---|---|" + "---|" * len(ORDER),
    ]
    groups: dict[tuple[str, str], list[AnswerRow]] = {}
    for r in keep:
        groups.setdefault((r.method, r.stance), []).append(r)
    for (method, stance), sel in groups.items():
        block = fraction_block(sel, nb, seed)
        name = "original" if method == "original" else f"{METHOD_LABEL[method]}, {stance}"
        lines.append(
            f"| {name} | {len(sel)} | " + " | ".join(_ci(block["groups"][g]) for g in ORDER) + " |"
        )
    return [*lines, ""]


def section_reading(summary: Json) -> list[str]:
    """What the rerun can and cannot say, from its own numbers."""
    valid = summary["metrics"]["validity"]
    pooled = {(p["method"], p["stance"]): p for p in summary["metrics"]["pooled"]}
    o = summary["metrics"]["original"]
    lines = ["### Reading", ""]
    sara_u = pooled.get(("sara", "utilitarian"))
    if sara_u is not None:
        u = sara_u["groups"]["Utilitarianism"]
        reached = u["high"] is not None and u["high"] >= 0.47
        lines.append(
            "- The pre-print's SARA-utilitarian result (Utilitarianism 0.227 -> about 0.47 on "
            f"Gemma-2B): here {_ci(o['groups']['Utilitarianism'])} -> {_ci(u)}"
            + ("" if valid.get("evidence") else " by a judge not validated on real answers")
            + (". Not reproduced on this model." if not reached else ".")
        )
    for p in _pooled(summary):
        c, oc = p["collapsed"], o["collapsed"]
        if c["low"] is not None and oc["high"] is not None and c["low"] > oc["high"]:
            lines.append(
                f"- {_label(p)} collapses more answers than the original "
                f"({_ci(c)} against {_ci(oc)})."
            )
    return [*lines, ""]


def scope_lines(rows: Sequence[AnswerRow], n_boot: int, seed: int) -> list[str]:
    """SARA every-step minus prompt scope, paired on (dilemma, stance, layer, repetition): the
    two answers of a pair share their seed, so the difference is the scope's alone."""
    from sara_core.measures.choice import paired_shift

    prompt = {(r.dilemma, r.stance, r.layer, r.rep): r for r in rows if r.method == "sara"}
    pairs = [
        (prompt[k], r)
        for r in rows
        if r.method == "sara_every_step"
        if (k := (r.dilemma, r.stance, r.layer, r.rep)) in prompt
    ]
    if not pairs:
        return []
    bad = [[0.0 if is_coherent(x) else 1.0 for x in pair] for pair in pairs]
    ppl = [(p.perplexity, e.perplexity) for p, e in pairs]
    ppl = [(a, b) for a, b in ppl if a == a and b == b]  # both answers non-empty
    d_bad = paired_shift(np.array([b[1] for b in bad]), np.array([b[0] for b in bad]), n_boot, seed)
    d_ppl = paired_shift(np.array([b for _, b in ppl]), np.array([a for a, _ in ppl]), n_boot, seed)
    return [
        f"- Scope (the author's every-step against prompt-only), {len(pairs)} pairs of answers "
        f"with the same seed: collapsed {d_bad.text()}, perplexity {d_ppl.text()} "
        "(every-step minus prompt; positive = every-step worse)."
    ]


def section_rerun(inp: EvidenceInputs, title: str = TITLE) -> list[str]:
    if inp.summary is None:
        return []
    s = inp.summary
    figs = s.get("figures", {})
    pics = [f"![{k}]({inp.rerun_dir}/{v})" for k, v in figs.items() if k in ("groups", "coherence")]
    return [
        *section_config(s, s["n_answers"], title),
        *section_paper(s),
        *section_collapse(s),
        *section_coherent(s, inp.rows),
        *section_reading(s)[:-1],
        *scope_lines(inp.rows, s["config"]["n_boot"], s["config"]["seed"]),
        "",
        *[p + "\n" for p in pics],
        "Every table of the run (per block, the headline"
        + (", the questionnaire" if s.get("mfq") else "")
        + ") is in "
        f"[{inp.rerun_dir}/report.md]({inp.rerun_dir}/report.md) and "
        f"[{inp.rerun_dir}/summary.json]({inp.rerun_dir}/summary.json).",
        "",
    ]

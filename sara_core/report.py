"""Figures and report.md of an evaluation run (matplotlib, Agg backend, no display needed)."""

from __future__ import annotations

import math
from pathlib import Path

METHOD_LABEL = {"original": "Original", "sara": "SARA", "actadd": "ActAdd"}
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


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _err(ci: dict) -> tuple[float, float, float]:
    v = ci["value"] if ci["value"] is not None else math.nan
    lo = ci["low"] if ci["low"] is not None else v
    hi = ci["high"] if ci["high"] is not None else v
    return v, max(0.0, v - lo), max(0.0, hi - v)


def figure_groups(summary: dict, path: Path) -> None:
    """The post's figure: fraction of answers per group, original vs each method x stance."""
    plt = _plt()
    m = summary["metrics"]
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
        f"95% bootstrap CIs. Judge: {summary['judge']['judge']}, "
        f"{summary['judge']['accuracy']:.0%} accurate on {summary['judge']['n']} labelled answers.",
        fontsize=7,
        color="#555555",
    )
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=130)
    plt.close(fig)


def figure_layers(summary: dict, path: Path) -> None:
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


def figure_coherence(summary: dict, path: Path) -> None:
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


def figure_mfq(summary: dict, path: Path) -> None:
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


def write_figures(summary: dict, out: Path) -> dict[str, str]:
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


# --------------------------------------------------------------------------------------------
# report.md


def _pct(ci: dict) -> str:
    if ci["value"] is None:
        return "n/a"
    return f"{ci['value']:.2f} [{ci['low']:.2f}, {ci['high']:.2f}]"


def _signed(ci: dict) -> str:
    if ci["value"] is None:
        return "n/a"
    return f"{ci['value']:+.3f} [{ci['low']:+.3f}, {ci['high']:+.3f}]"


def verdict(headline: dict) -> str:
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


def write_report(summary: dict, rows: list[dict], out: Path) -> Path:
    """report.md embedding the figures, with the configuration, judge accuracy and tables."""
    out = Path(out)
    cfg, m, judge = summary["config"], summary["metrics"], summary["judge"]
    figs = summary.get("figures", {})
    groups = list(summary["groups"])
    lines = [
        "# SARA vs ActAdd: evaluation report",
        "",
        f"Model **{summary['model']['name']}** ({summary['model']['layers']} blocks, hidden "
        f"{summary['model']['hidden_size']}, {summary['model']['device']}), "
        f"{summary['n_answers']} answers"
        + (
            f" in {summary['seconds']['total']:.0f} s"
            if summary["seconds"].get("generation") is not None
            else f" (generated earlier, labelled and summarised again in "
            f"{summary['seconds']['total']:.0f} s)"
        )
        + (" (`--quick`)" if cfg.get("quick") else "")
        + ".",
        "",
        "## Configuration",
        "",
        f"- Dilemmas: {', '.join(cfg['dilemmas'])}; stances: {', '.join(cfg['stances'])} "
        f"(targets: "
        + ", ".join(
            f"{h['stance']} -> {h['target']}" for h in m["headline"] if h["stance"] != "all"
        )
        + ").",
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
        "## Judge",
        "",
        f"Every answer was labelled by the **{judge['judge']}** judge: **{judge['accuracy']:.1%}** "
        f"school accuracy and **{judge['group_accuracy']:.1%}** group accuracy on "
        f"{judge['n']} labelled answers ({judge['method']}; chance is 12.5% for schools). The "
        "labelled answers were written for this project, in the style of the model's answers; "
        "real answers are noisier, so the accuracy on them is likely lower.",
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
    lines += [
        "Groups: "
        + "; ".join(f"{g} = {', '.join(ms)}" for g, ms in summary["groups"].items())
        + ".",
        "",
        "## Headline: SARA minus ActAdd, pooled over layers",
        "",
        "Steering success = fraction in the target group, steered minus original; spillover = "
        "fraction moved into the non-target groups. Differences are SARA - ActAdd with 95% "
        "bootstrap CIs: a positive success difference means SARA moves more; a negative spillover "
        "difference means SARA spills less.",
        "",
        "| stance | success SARA - ActAdd | spillover SARA - ActAdd | reading |",
        "|---|---|---|---|",
    ]
    for h in m["headline"]:
        lines.append(
            f"| {h['stance']} | {_signed(h['success_sara_minus_actadd'])} | "
            f"{_signed(h['spillover_sara_minus_actadd'])} | {verdict(h)} |"
        )
    lines += [""]
    coherent = m.get("coherent")
    if coherent:
        lines += [
            f"The same on coherent answers only ({coherent['n']} of {coherent['n_all']}; an "
            f"answer counts as collapsed unless {coherent['rule']}): the judge gives every answer "
            "a school, gibberish included, so a method that collapses the text can look as if it "
            "steered.",
            "",
            "| stance | success SARA - ActAdd | spillover SARA - ActAdd | reading |",
            "|---|---|---|---|",
        ]
        for h in coherent["headline"]:
            lines.append(
                f"| {h['stance']} | {_signed(h['success_sara_minus_actadd'])} | "
                f"{_signed(h['spillover_sara_minus_actadd'])} | {verdict(h)} |"
            )
        lines += [""]
    if "groups" in figs:
        lines += [f"![Group fractions]({figs['groups']})", ""]
    lines += [
        "## Group fractions and effects, pooled over layers",
        "",
        "| answers | n | " + " | ".join(groups) + " | success | spillover | collapsed |",
        "|---|---|" + "---|" * len(groups) + "---|---|---|",
        f"| original | {m['original']['n']} | "
        + " | ".join(_pct(m["original"]["groups"][g]) for g in groups)
        + f" | | | {_pct(m['original']['collapsed']) if 'collapsed' in m['original'] else ''} |",
    ]
    for p in m["pooled"]:
        collapsed = _pct(p["collapsed"]) if "collapsed" in p else ""
        lines.append(
            f"| {METHOD_LABEL[p['method']]}, {p['stance']} | {p['n']} | "
            + " | ".join(_pct(p["groups"][g]) for g in groups)
            + f" | {_signed(p['success'])} | {_signed(p['spillover'])} | {collapsed} |"
        )
    lines += [""]
    if "layers" in figs:
        lines += [
            "## Per layer",
            "",
            f"![Success and spillover per layer]({figs['layers']})",
            "",
            "| method | stance | layer | n | success | spillover | perplexity | repetition |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in m["steered"]:
            lines.append(
                f"| {METHOD_LABEL[r['method']]} | {r['stance']} | {r['layer']} | {r['n']} | "
                f"{_signed(r['success'])} | {_signed(r['spillover'])} | "
                f"{_num(r['coherence']['perplexity']['value'])} | "
                f"{_num(r['coherence']['repetition_3']['value'])} |"
            )
        lines += [""]
    if "coherence" in figs:
        oc = m["original"]["coherence"]
        lines += [
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
    mfq = summary.get("mfq")
    if mfq:
        found = mfq["foundations"]
        lines += [
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
        n_fail = len(mfq["catch_failures"])
        lines += [
            "",
            f"Catch items failed in {n_fail} of {mfq['n_runs']} questionnaire runs (all layers); "
            "a failed catch item means the model's answers to that run are not to be trusted. "
            "Digit mass is the probability the model gave to answering with a digit at all.",
            "",
        ]
        if "mfq" in figs:
            lines += [f"![MFQ profile]({figs['mfq']})", ""]
    lines += _examples(rows)
    lines += [
        "## What this does and does not show",
        "",
        "- It measures whether steering changes *which ethical school* an automatic judge "
        "assigns to the answers, on this model, these dilemmas and these prompts. It does not "
        "measure whether the answers are good moral reasoning.",
        f"- The judge is imperfect ({judge['accuracy']:.0%} on clean labelled answers); its "
        "errors add noise to every fraction and can bias them toward the schools it confuses.",
        "- Confidence intervals resample answers within each dilemma; they cover sampling noise, "
        "not the choice of dilemmas, prompts, coefficients or judge.",
        "- A collapsed answer (repeated fragments) still receives a school from the judge; the "
        "coherent-only table above removes them, the figures do not.",
        "- The questionnaire is only as meaningful as its catch items: where they fail, the "
        "model is not answering the items, and its foundation scores say little.",
        "",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _num(v) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:.2f}"


def _examples(rows: list[dict], layer: int | None = None) -> list[str]:
    """One example answer per method and stance: the first repetition at ``layer`` (the middle
    layer of the run when None), so the examples are neither the weakest nor the strongest."""
    steered_layers = sorted({r["layer"] for r in rows if r["method"] != "original"})
    if layer is None and steered_layers:
        layer = steered_layers[len(steered_layers) // 2]
    lines = ["## Example answers", ""]
    seen = set()
    for r in rows:
        key = (r["method"], r.get("stance"))
        if key in seen or (r["method"] != "original" and r["layer"] != layer):
            continue
        seen.add(key)
        who = (
            "Original"
            if r["method"] == "original"
            else f"{METHOD_LABEL[r['method']]}, {r['stance']}, layer {r['layer']}"
        )
        text = r["answer"].replace("\n", " ").strip()
        if len(text) > 400:
            text = text[:400] + "..."
        lines.append(f"- **{who}** (judged {r['school']}): {text}")
    lines.append("")
    return lines

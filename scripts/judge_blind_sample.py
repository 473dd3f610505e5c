"""Draw the judge's blind sample: 150 answers of docs/evaluation/results.csv at random (fixed
seed), written without what produced them to answers.jsonl, and the key to key.jsonl.

``--store DIR`` draws from the answers an evaluation run has stored so far in DIR (its
answers-*.jsonl, before it has written results.csv), in the order of their keys, so a sample
can be labelled while the run goes on.

The annotator gets answers.jsonl only; key.jsonl stays closed until the labels are in (see
docs/evaluation/judge_blind/README.md). Run from the repo root:
    .venv/bin/python scripts/judge_blind_sample.py
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.evaluation import store  # noqa: E402
from sara_core.evaluation.answer_rows import AnswerRow, read_csv  # noqa: E402
from sara_core.evaluation.jsonl import write_jsonl  # noqa: E402
from sara_core.evaluation.judges import blind  # noqa: E402
from sara_core.presets.dilemmas import load_dilemmas  # noqa: E402


def stored_rows(folder: Path) -> list[AnswerRow]:
    """The answers stored in an evaluation's folder (its run.json's fingerprint), sorted by key."""
    run = json.loads((folder / "run.json").read_text())
    found = store.read_folder(folder, run["fingerprint"]).rows
    names = {f.name for f in fields(AnswerRow)}
    return [
        AnswerRow(**{k: v for k, v in found[key].items() if k in names}) for key in sorted(found)
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "docs/evaluation/results.csv"))
    ap.add_argument("--store", help="an evaluation's --out folder: its stored answers so far")
    ap.add_argument("--out", default=str(ROOT / "docs/evaluation/judge_blind"))
    ap.add_argument("--n", type=int, default=blind.N_ANSWERS)
    ap.add_argument("--seed", type=int, default=blind.SEED)
    args = ap.parse_args(argv)
    rows = stored_rows(Path(args.store)) if args.store else read_csv(args.results)
    texts = {d.id: d.text for d in load_dilemmas()}
    sample = blind.draw_sample(rows, texts, n=args.n, seed=args.seed)
    out = Path(args.out)
    write_jsonl(out / "answers.jsonl", blind.answers_json(sample))
    write_jsonl(out / "key.jsonl", blind.key_json(sample))
    print(f"{len(sample.answers)} of {len(rows)} answers (seed {args.seed}) -> {out}/answers.jsonl")
    print(f"key -> {out}/key.jsonl (do not open before the labels are in)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Score the judge against the blind annotator: agreement.json and agreement.md.

Needs labels.jsonl (id, school, group, coherent), written by an independent annotator who saw
answers.jsonl only, and the judge's frozen predictions.jsonl; with key.jsonl the old judge's
labels are scored too (the key's method and stance are not used). Run from the repo root:
    .venv/bin/python scripts/judge_blind_score.py [--labels FILE] [--predictions FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.evaluation.judges import blind  # noqa: E402
from sara_core.measures.agreement import validity  # noqa: E402
from sara_core.validation import InputError  # noqa: E402

BLIND = ROOT / "docs/evaluation/judge_blind"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default=str(BLIND / "labels.jsonl"))
    ap.add_argument("--predictions", default=str(BLIND / "predictions.jsonl"))
    ap.add_argument("--key", default=str(BLIND / "key.jsonl"), help="'' to skip the old judge")
    ap.add_argument("--judge-info", default=str(BLIND / "judge.json"))
    ap.add_argument("--out", default=str(BLIND))
    args = ap.parse_args(argv)
    info = Path(args.judge_info)
    judge = json.loads(info.read_text()) if info.is_file() else {}
    try:
        result = blind.score(args.labels, args.predictions, args.key or None, judge=judge)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "agreement.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "agreement.md").write_text(blind.markdown(result))
    valid = validity(result, judge.get("name", ""), judge.get("min_confidence", -1.0))
    print(blind.markdown(result))
    print(valid.line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A positive control for the forced-choice measure: can it detect an effect at all, when the
instruction asks plainly for one answer? The stances' attract sentences are statements, not
requests; a model may ignore them and still follow a plain request. This scores every item of the
moral and sentiment banks unsteered and under two plain instructions per bank, and writes
docs/evaluation/positive_control.json. Run from the repo root:
    .venv/bin/python scripts/choice_positive_control.py [--model ID]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.measures.choice import Condition, other_pole, p_toward, paired_shift  # noqa: E402
from sara_core.models.loading import load_model  # noqa: E402
from sara_core.presets.choice import get_choice_bank  # noqa: E402

INSTRUCTIONS = {
    "moral": {
        "consequences": "Answer as a strict utilitarian: choose whatever leads to the best "
        "outcome for the most people, even if it breaks a rule or a promise.",
        "duties": "Answer as a strict Kantian: never break a rule, a promise or a right, "
        "whatever the outcome.",
    },
    "sentiment": {
        "positive": "Answer in a cheerful, positive way.",
        "negative": "Answer in a gloomy, negative way.",
    },
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=str(ROOT / "docs/evaluation/positive_control.json"))
    args = ap.parse_args(argv)
    lm = load_model(args.model)
    out: dict[str, Any] = {"model": lm.name, "instructions": INSTRUCTIONS, "banks": {}}
    t0 = time.perf_counter()
    for name, by_pole in INSTRUCTIONS.items():
        bank = get_choice_bank(name)
        first = bank.poles[0]
        conds = [Condition("unsteered")] + [Condition(p, instruction=t) for p, t in by_pole.items()]
        probs = p_toward(lm, bank.items, first, other_pole(bank, first), conds)
        rows = {}
        for pole in by_pole:
            sign = 1.0 if pole == first else -1.0
            d = paired_shift(sign * probs[pole], sign * probs["unsteered"])
            rows[pole] = {**d.to_json(), "valid": d.excludes_zero_upward}
            print(f"{name:<10} toward {pole:<13} plain request {d.text()}")
        out["banks"][name] = rows
    out["seconds"] = round(time.perf_counter() - t0, 1)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

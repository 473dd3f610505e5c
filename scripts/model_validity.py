"""Measure whether prompting moves a model on the bundled banks, on every item, and write the
file that ``model_validity`` reads first: presets/validity/<model>.json. Run from the repo root:
    .venv/bin/python scripts/model_validity.py [--model ID]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.measures.model_validity import measure_validity, shipped_path  # noqa: E402
from sara_core.models.loading import load_model  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="hub id or folder (default: the embedded one)")
    args = ap.parse_args(argv)
    lm = load_model(args.model)
    t0 = time.perf_counter()
    result = measure_validity(lm, quick=False)
    data = {**result.to_json(), "seconds": round(time.perf_counter() - t0, 1)}
    path = shipped_path(lm.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    for s in result.stances:
        print(
            f"{s.bank:<10} {s.stance:<12} -> {s.toward:<13} prompted {s.shift.text()}"
            f"{'  valid' if s.valid else ''}"
        )
    print(result.message())
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

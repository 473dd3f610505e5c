"""The 1.5B before and after int8, on this machine: load time, peak memory, first words and
tokens/s of a compare (``info`` and ``compare`` each in a fresh process, float32 and int8
alternating, twice), then the bench's int8 figures (kl_to_float32, greedy_agreement,
int8_decode_speedup, int8_peak_ratio: ``sara_core/bench/quality.py``). Writes one JSON.

    .venv/bin/python scripts/int8_check.py --out artifacts/int8-check.json

Slow by design (about 15 minutes for the 1.5B): a measurement, run by hand, never in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from real_models_check import TOKENS, _run  # noqa: E402


def one(model: str, dtype: str, env: dict[str, str]) -> dict[str, Any]:
    """Load (``info``) and a compare of the paper's dilemma, in ``dtype``, each a fresh process."""
    info = _run(["info", "--model", model, "--dtype", dtype, "--json"], env)
    facts = json.loads(info["stdout"])
    args = ["compare", "--model", model, "--dtype", dtype, "--dilemma-id", "parent_criminal"]
    args += ["--paper-prefix", "--stance", "utilitarian", "--max-new-tokens", str(TOKENS), "--json"]
    compare = _run(args, env)
    return {
        "dtype": dtype,
        "info_wall_s": info["wall_s"],
        "load_seconds": facts.get("load_seconds"),
        "weight_bytes": facts.get("weight_bytes"),
        "info_peak_gb": info["peak_gb"],
        "compare_wall_s": compare["wall_s"],
        "compare_peak_gb": compare["peak_gb"],
        "timing": json.loads(compare["stdout"]).get("timing"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="pypi:qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--out", required=True, help="the JSON file to write")
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    start = time.strftime("%H:%M:%S")
    load1 = os.getloadavg()[0]
    runs = [one(args.model, d, env) for d in ("float32", "int8", "float32", "int8")]
    from sara_core.bench.quality import int8_figures
    from sara_core.models.loading import load_model

    lm = load_model(args.model, dtype="int8")
    figures = int8_figures(lm, args.model, None)
    out = {
        "model": args.model,
        "from": start,
        "to": time.strftime("%H:%M:%S"),
        "load_average": [round(load1, 1), round(os.getloadavg()[0], 1)],
        "runs": runs,
        "int8_figures": figures,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

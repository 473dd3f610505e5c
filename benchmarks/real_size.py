"""What a CPU laptop should expect at 2B size: the CLI's compare on a real shape, per dtype.

Each dtype runs in a fresh process, as a user runs it: ``python -m sara_core compare --model
random:gemma-2-2b --dtype D ... --json``. Recorded per run: the load (building the random
weights stands in for reading real ones), the first words (from the start of the compare:
preparation and prompt pass), the seconds per decode step of the four-row batch, the process's
peak resident memory and the bound it must stay within (1.25 x weights + 1.2 GB).

    .venv/bin/python benchmarks/real_size.py [--model random:gemma-2-2b] [--new-tokens 16]

Writes artifacts/real_size.json and prints a markdown table (docs/real-models.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEAK = ROOT / "scripts" / "peak_rss.py"


def run_one(model: str, dtype: str, new_tokens: int) -> dict:
    args = ["compare", "--model", model, "--dtype", dtype, "--dilemma-id", "parent_criminal"]
    args += ["--paper-prefix", "--stance", "utilitarian", "--max-new-tokens", str(new_tokens)]
    args += ["--json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(PEAK), *args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    wall = time.perf_counter() - start
    if out.returncode != 0:
        return {"dtype": dtype, "error": out.stderr.strip().splitlines()[-1]}
    got = json.loads(out.stdout)
    info, timing = got["model_info"], got["timing"]
    peak = int(out.stderr.rsplit("PEAK ", 1)[1].split()[0])
    steps = max(1, max(timing["new_tokens"].values()) - 1)
    first = timing["first_token_s"]
    return {
        "dtype": info["dtype"],
        "weight_gb": round(info["weight_bytes"] / 1e9, 2),
        "load_s": round(info["load_seconds"], 1),
        "first_words_s": round(first, 1),
        "step_s": round((timing["total_s"] - first) / steps, 2),
        "prompt_tokens": got["settings"]["prompt_tokens"],
        "peak_gb": round(peak / 1e9, 2),
        "bound_gb": round((1.25 * info["weight_bytes"] + 1.2e9) / 1e9, 2),
        "process_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="random:gemma-2-2b")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", default="artifacts/real_size.json")
    args = parser.parse_args()
    rows = [run_one(args.model, d, args.new_tokens) for d in args.dtypes]
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    record = {
        "model": args.model,
        "new_tokens": args.new_tokens,
        "machine": f"{cpu}, {os.cpu_count()} cores",
        "load_average_before": os.getloadavg(),
        "runs": rows,
    }
    path = ROOT / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2))
    print(f"{args.model}, {args.new_tokens} new tokens, {record['machine']}\n")
    print("| dtype | weights | load | first words | s / step (4 rows) | peak memory | bound |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['dtype']} | {r['error']} | | | | | |")
            continue
        print(
            f"| {r['dtype']} | {r['weight_gb']} GB | {r['load_s']} s | {r['first_words_s']} s | "
            f"{r['step_s']} s | {r['peak_gb']} GB | {r['bound_gb']} GB |"
        )


if __name__ == "__main__":
    main()

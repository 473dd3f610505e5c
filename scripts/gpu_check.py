"""The real-size checks on a GPU, in one short run (for a machine that has one).

    .venv/bin/python scripts/gpu_check.py [--model random:gemma-2-2b] [--out artifacts/gpu]

On ``cuda`` with the automatic dtype (bfloat16, or float16 without bf16): the card's name, the
load, the dtype of the weights and of SARA's SVD (float32), a compare whose shared batch is
checked against each row alone, its first words and peak GPU memory; then the bench's quick run
on the same model (``python -m sara_core bench --quick --device cuda``). Everything lands in
``--out`` as JSON. Nothing here runs in ``make test``: CI has no GPU.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="random:gemma-2-2b")
    parser.add_argument("--out", default="artifacts/gpu")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--no-bench", action="store_true")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU here: nothing to check", file=sys.stderr)
        return 2
    from sara_core.config import GenerationSettings, SteeringConfig
    from sara_core.engine.compare import compare
    from sara_core.models.loading import load_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"card": torch.cuda.get_device_name(0), "torch": torch.__version__}
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    lm = load_model(args.model, device="cuda")
    record["load_s"] = round(time.perf_counter() - start, 1)
    record["model"] = lm.describe()
    settings = GenerationSettings(max_new_tokens=args.new_tokens)
    results = {}
    for batched in (True, False):
        cfg = SteeringConfig(batched=batched)
        torch.cuda.synchronize()
        results[batched] = compare(lm, PROMPT, ATTRACT, REPEL, cfg, settings, prompted=True)
    shared, alone = results[True], results[False]
    rows = ("original", "sara", "actadd", "prompted")
    record["batch_equals_lone"] = {r: getattr(shared, r) == getattr(alone, r) for r in rows}
    record["compare_timing"] = shared.timing
    analysis = shared.sara_analysis
    record["sara_scores_dtype"] = str(analysis.scores.dtype) if analysis is not None else None
    record["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 2)
    (out / "gpu_check.json").write_text(json.dumps(record, indent=2, default=str))
    print(json.dumps(record, indent=2, default=str))
    del lm, shared, alone, results
    if not args.no_bench:
        bench = [sys.executable, "-m", "sara_core", "bench", "--quick", "--model", args.model]
        bench += ["--device", "cuda", "--no-startup", "--json", str(out / "bench.json")]
        return subprocess.run(bench, cwd=ROOT, check=False).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

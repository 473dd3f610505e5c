"""Where a decode step's time goes on the embedded model: per operation, 1 row and 3 rows.

Runs decode steps through transformers' forward and through ``sara_core.engine.cpu.lean_model`` (one
intra-op thread, as the decode loop does for small batches), times them without a profiler, then
breaks one run down with ``torch.profiler`` by operation and by the products' weight shape.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/step_profile.py [--steps 20]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sara_core.engine.cpu import lean_model as fastpath  # noqa: E402
from sara_core.engine.cpu.kv_cache import KVState  # noqa: E402
from sara_core.engine.decoding import _forward, _new_cache, left_pad  # noqa: E402
from sara_core.models.loading import load_model  # noqa: E402
from sara_core.presets.paper import PAPER_DILEMMA, PAPER_PREFIX
from sara_core.prompts import encode_prompt  # noqa: E402


def steps(lm, rows: int, n: int, fast: bool, around=contextlib.nullcontext) -> float:
    """Seconds per decode step of ``rows`` identical rows, after the prefill (only the steps
    run inside ``around()``)."""
    ids = encode_prompt(lm, PAPER_PREFIX + PAPER_DILEMMA)[0].tolist()
    batch = left_pad([ids] * rows, 0, lm.device)
    cache = _new_cache(lm)
    _forward(lm, batch.ids, batch.mask, batch.positions, cache, True)
    token = torch.full((rows,), 100)
    positions, mask = batch.positions[:, -1], batch.mask
    engine = fastpath.lean_model(lm.model) if fast else None
    state = None
    if engine is not None:
        kv: list = []
        prompt = torch.tensor(ids)[None].expand(rows, -1)
        engine.prefill(engine.embed_ids(prompt), 0, engine.n_layers, kv)
        state = KVState(engine.n_layers, engine.n_kv, engine.head_dim, torch.float32)
        state.join(kv, n + 1)
    with around():
        t0 = time.perf_counter()
        for _ in range(n):
            positions = positions + 1
            if engine is not None and state is not None:
                engine.step(state, token, positions)
            else:
                mask = torch.cat([mask, mask.new_ones((rows, 1))], dim=1)
                _forward(lm, token[:, None], mask, positions[:, None], cache, True)
        return (time.perf_counter() - t0) / n


def breakdown(lm, rows: int, n: int, fast: bool) -> dict[str, float]:
    """Milliseconds per step by operation (products by their weight's shape)."""
    prof = profile(activities=[ProfilerActivity.CPU], record_shapes=True)
    steps(lm, rows, n, fast, lambda: prof)
    out: dict[str, float] = defaultdict(float)
    for ev in prof.key_averages(group_by_input_shape=True):
        name = ev.key
        if name in ("aten::mm", "aten::addmm") and ev.input_shapes and len(ev.input_shapes) > 1:
            name = f"mm {tuple(ev.input_shapes[-1])}"
        elif name in ("aten::linear", "aten::matmul"):
            continue
        out[name] += ev.self_cpu_time_total / 1000 / n
    return dict(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default=None)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--lean-only", action="store_true", help="skip transformers' forward")
    args = parser.parse_args()
    ways = (True,) if args.lean_only else (False, True)
    lm = load_model(args.model)
    torch.set_num_threads(1)
    with torch.no_grad():
        for rows in args.rows:
            times: dict[str, list[float]] = {}
            for _ in range(args.repeats):
                for fast in ways:
                    label = "fastpath" if fast else "transformers"
                    times.setdefault(label, []).append(steps(lm, rows, args.steps, fast))
            med = {k: 1000 * statistics.median(v) for k, v in times.items()}
            print(
                f"{rows} row(s): ms per step " + ", ".join(f"{k} {v:.1f}" for k, v in med.items())
            )
            for fast in ways:
                parts = breakdown(lm, rows, args.steps, fast)
                top = sorted(parts.items(), key=lambda kv: -kv[1])[:8]
                rest = sum(parts.values()) - sum(v for _, v in top)
                label = "fastpath" if fast else "transformers"
                shown = ", ".join(f"{k} {v:.1f}" for k, v in top)
                print(f"  {label} (profiled, ms/step): {shown}, other {rest:.1f}")
    print("load average", Path("/proc/loadavg").read_text().split()[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())

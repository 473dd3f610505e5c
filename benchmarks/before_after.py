"""Decode-step time before and after the speed work, in one run: 1 row in the main thread and
3 rows in a worker thread (the app's compare), each way, interleaved, medians.

"before" is transformers' forward for every step on torch's default intra-op threads (what the
decode loop did before ``sara_core.fastpath`` and ``sara_core.threads``); "after" is the loop as
it is. Run it with the app's setting: ``OMP_WAIT_POLICY=PASSIVE python benchmarks/before_after.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sara_core import fastpath, threads  # noqa: E402
from sara_core.decoding import Row, decode_rows  # noqa: E402
from sara_core.models import load_model  # noqa: E402
from sara_core.presets import PAPER_DILEMMA, PAPER_PREFIX  # noqa: E402
from sara_core.prompts import encode_prompt  # noqa: E402


def step_s(lm, ids: list[int], rows: int, tokens: int) -> float:
    batch = [Row(ids, max_new_tokens=tokens, min_new_tokens=tokens) for _ in range(rows)]
    decode_rows(lm, batch)
    end = time.perf_counter()
    first = min(r.first_token_at for r in batch if r.first_token_at is not None)
    return (end - first) / (tokens - 1)


def in_worker(fn, *args) -> float:
    out: list[float] = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)))
    worker.start()
    worker.join()
    return out[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lm = load_model()
    ids = encode_prompt(lm, PAPER_PREFIX + PAPER_DILEMMA)[0].tolist()
    small = threads.SMALL_BATCH_ROWS
    results: dict[str, list[float]] = {}
    for rep in range(args.repeats + 1):
        for way in ("before", "after") if rep % 2 else ("after", "before"):
            fastpath.ENABLED = way == "after"
            threads.SMALL_BATCH_ROWS = small if way == "after" else 0
            one = step_s(lm, ids, 1, args.tokens)
            three = in_worker(step_s, lm, ids, 3, args.tokens)
            if rep:  # round 0 warms up
                results.setdefault(f"{way} 1 row main", []).append(one)
                results.setdefault(f"{way} 3 rows worker", []).append(three)
    med = {k: 1000 * statistics.median(v) for k, v in results.items()}
    for key, value in med.items():
        print(f"{key}: {value:.1f} ms/step")
    for way in ("before", "after"):
        ratio = med[f"{way} 3 rows worker"] / med[f"{way} 1 row main"]
        print(f"{way}: 3 rows in a worker / 1 row in main = {ratio:.2f}")
    print("load average", Path("/proc/loadavg").read_text().split()[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())

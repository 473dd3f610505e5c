"""The decode loop before and after the lean passes (issue 19), in one run, interleaved, medians.

"before" is transformers' forward for the prompt and every step (``sara_core.engine.cpu.lean_model``
and ``sara_core.engine.cpu.kernels`` switched off: what main ran for gemma-2 and qwen2, and for the
prompt of every model); "after" is the loop as it is (the lean passes, the shared prompt, the
small-batch kernel). Per way: one unsteered row in the main thread, and a compare's three rows
(original, SARA, ActAdd, steerings prepared beforehand) in a worker thread, as the app runs them:
seconds to the first new token (the compare's first words), to all first tokens, and per decode
step.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/before_after.py [--model random:gemma-2-2b]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sara_core.engine.cpu import (
    kernels,
    lean_model as fastpath,  # noqa: E402
)
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.models.loading import load_model  # noqa: E402
from sara_core.presets.paper import PAPER_ATTRACT, PAPER_DILEMMA, PAPER_PREFIX, PAPER_REPEL
from sara_core.prompts import encode_prompt  # noqa: E402
from sara_core.steering.prepare import prepare_actadd, prepare_sara  # noqa: E402


def timed(lm, ids: list[int], steerings: list[tuple], tokens: int) -> dict[str, float]:
    rows = [Row(ids, s, max_new_tokens=tokens, min_new_tokens=tokens) for s in steerings]
    t0 = time.perf_counter()
    decode_rows(lm, rows)
    end = time.perf_counter()
    firsts = [r.first_token_at for r in rows if r.first_token_at is not None]
    return {
        "first": min(firsts) - t0,
        "all_first": max(firsts) - t0,
        "step": (end - max(firsts)) / (tokens - 1),
        "total": end - t0,
    }


def in_worker(fn, *args):
    out: list = []
    worker = threading.Thread(target=lambda: out.append(fn(*args)))
    worker.start()
    worker.join()
    return out[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lm = load_model(args.model)
    ids = encode_prompt(lm, PAPER_PREFIX + PAPER_DILEMMA)[0].tolist()
    layer = lm.default_layer
    sara = prepare_sara(lm, PAPER_ATTRACT, PAPER_REPEL, layer)
    actadd = prepare_actadd(lm, PAPER_ATTRACT, PAPER_REPEL, layer)
    results: dict[str, list[dict[str, float]]] = {}
    for rep in range(args.repeats + 1):
        for way in ("before", "after") if rep % 2 else ("after", "before"):
            fastpath.ENABLED = kernels.ENABLED = way == "after"
            one = timed(lm, ids, [()], args.tokens)
            three = in_worker(timed, lm, ids, [(), (sara,), (actadd,)], args.tokens)
            if rep:  # round 0 warms up
                results.setdefault(f"{way}: 1 row, main thread", []).append(one)
                results.setdefault(f"{way}: compare, worker thread", []).append(three)
    print(f"{lm.name} ({lm.describe()['dtype']}), {args.tokens} tokens, {args.repeats} repeats")
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    for key, m in med.items():
        print(
            f"{key}: first token {m['first']:.2f} s, all first tokens {m['all_first']:.2f} s, "
            f"{1000 * m['step']:.0f} ms/step, total {m['total']:.2f} s"
        )
    for way in ("before", "after"):
        one, three = med[f"{way}: 1 row, main thread"], med[f"{way}: compare, worker thread"]
        print(
            f"{way}: compare / 1 row: total {three['total'] / one['total']:.2f}, step "
            f"{three['step'] / one['step']:.2f}, first words {three['first'] / one['first']:.2f}"
        )
    print("load average", Path("/proc/loadavg").read_text().split()[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())

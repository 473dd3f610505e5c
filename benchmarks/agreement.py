"""How often, and how early, batched greedy answers differ from lone ones on the embedded model.

Batching changes nothing in the arithmetic a row asks for, but it changes the matrix shapes
(one row is a matrix-vector product, several are a matrix product), so the kernels sum in a
different order and logits move by about 1e-6 relative: where two tokens are nearly tied the
greedy pick can flip, and the answers go their own ways from there. This script measures it:
the 14 bundled dilemmas with and without the paper's prefix (28 prompts of different lengths),
80 new tokens each, decoded alone, then in batches of 3 and of 20 (left-padded, every row
unsteered), and alone through transformers' own forward (``sara_core.engine.cpu.lean_model``
switched off).

    OMP_WAIT_POLICY=PASSIVE python benchmarks/agreement.py [--tokens 80] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sara_core.engine.cpu import lean_model as fastpath  # noqa: E402
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.models.loading import load_model  # noqa: E402
from sara_core.presets.dilemmas import load_dilemmas
from sara_core.presets.paper import PAPER_PREFIX
from sara_core.prompts import encode_prompt  # noqa: E402


def answers(lm, prompts: list[list[int]], batch: int, tokens: int) -> list[list[int]]:
    out: list[list[int]] = []
    for lo in range(0, len(prompts), batch):
        rows = [Row(p, max_new_tokens=tokens) for p in prompts[lo : lo + batch]]
        decode_rows(lm, rows)
        out.extend(r.tokens for r in rows)
    return out


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first differing token (None: identical, lengths included)."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def compare(reference: list[list[int]], other: list[list[int]]) -> dict:
    firsts = [first_difference(a, b) for a, b in zip(reference, other, strict=True)]
    differ = sorted(f for f in firsts if f is not None)
    return {
        "identical": len(firsts) - len(differ),
        "differ": len(differ),
        "first_difference_at": differ,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=80)
    parser.add_argument("--json", default="artifacts/bench/agreement.json")
    args = parser.parse_args()
    lm = load_model()
    texts = [d.text for d in load_dilemmas()]
    prompts = [encode_prompt(lm, t)[0].tolist() for t in texts]
    prompts += [encode_prompt(lm, PAPER_PREFIX + t)[0].tolist() for t in texts]
    t0 = time.perf_counter()
    lone = answers(lm, prompts, 1, args.tokens)
    result: dict = {
        "prompts": len(prompts),
        "prompt_tokens": sorted(len(p) for p in prompts),
        "tokens": args.tokens,
        "answer_lengths": sorted(len(a) for a in lone),
    }
    for batch in (3, 20):
        result[f"batch_{batch}"] = compare(lone, answers(lm, prompts, batch, args.tokens))
    fastpath.ENABLED = False
    result["lone_transformers_forward"] = compare(lone, answers(lm, prompts, 1, args.tokens))
    result["seconds"] = time.perf_counter() - t0
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

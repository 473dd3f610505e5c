"""Which SARA scope answers better: "prompt" (steer the prompt's forward pass) or "every-step"
(the author's hook, recomputed on every decode step)?

For every bundled dilemma (with the paper's instruction), both paper stances and several layers,
generate greedy answers unsteered and under SARA with each scope, then compare:
  - target share: fraction of answers the offline judge puts in the stance's target group
    (Utilitarianism for the utilitarian stance, A priori values for the Kantian one);
  - coherence: perplexity of the answer under the unsteered model, repeated-trigram rate.
Writes JSON rows and prints a markdown table. Run from the repo root:
    .venv/bin/python benchmarks/scope_experiment.py [--layers 5 10 15 20] [--tokens 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sara_core import load_model  # noqa: E402
from sara_core.config import GenerationSettings
from sara_core.engine.compare import generate
from sara_core.evaluation.judges.judge import build_judge  # noqa: E402
from sara_core.measures import metrics  # noqa: E402
from sara_core.presets.dilemmas import load_dilemmas
from sara_core.presets.paper import PAPER_PREFIX
from sara_core.presets.stances import get_stance
from sara_core.prompts import decode, encode_prompt
from sara_core.steering.prepare import prepare_sara

TARGET = {"utilitarian": "Utilitarianism", "kantian": "A priori values"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", type=int, nargs="+", default=[5, 10, 15, 20])
    ap.add_argument("--tokens", type=int, default=60)
    ap.add_argument("--out", default="artifacts/scope_experiment.json")
    args = ap.parse_args()
    lm = load_model()
    gen = GenerationSettings(max_new_tokens=args.tokens)
    prompts = {d.id: encode_prompt(lm, PAPER_PREFIX + d.text) for d in load_dilemmas()}
    rows = []
    originals = {k: generate(lm, ids, gen).tokens[0] for k, ids in prompts.items()}
    for key, ids in originals.items():
        rows.append(dict(stance="-", layer=-1, scope="original", dilemma=key, ids=ids))
    for stance_name in TARGET:
        stance = get_stance(stance_name)
        for layer in args.layers:
            for scope in ("prompt", "every-step"):
                sara = prepare_sara(lm, stance.attract, stance.repel, layer, 1.0, scope=scope)
                for key, ids in prompts.items():
                    new = generate(lm, ids, gen, (sara,)).tokens[0]
                    rows.append(
                        dict(stance=stance_name, layer=layer, scope=scope, dilemma=key, ids=new)
                    )
                print(f"{stance_name} layer {layer} {scope}", file=sys.stderr, flush=True)
    judge = build_judge("prototype")
    texts = [decode(lm, r["ids"]) for r in rows]
    dilemma_texts = {d.id: d.text for d in load_dilemmas()}
    verdicts = judge.judge(texts, [dilemma_texts[r["dilemma"]] for r in rows])
    for row, text, verdict in zip(rows, texts, verdicts, strict=True):
        row.update(
            text=text,
            school=verdict.school,
            group=verdict.group,
            ppl=metrics.perplexity(lm, prompts[row["dilemma"]][0], row["ids"]),
            rep3=metrics.repetition_rate(row["ids"], 3),
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))

    orig = [r for r in rows if r["scope"] == "original"]
    print("| stance | layer | scope | target share (orig) | changed | median ppl (orig) | rep3 |")
    print("|---|---|---|---|---|---|---|")
    for stance_name, target in TARGET.items():
        base = sum(r["group"] == target for r in orig) / len(orig)
        for layer in args.layers:
            for scope in ("prompt", "every-step"):
                sel = [
                    r
                    for r in rows
                    if (r["stance"], r["layer"], r["scope"]) == (stance_name, layer, scope)
                ]
                share = sum(r["group"] == target for r in sel) / len(sel)
                changed = sum(r["ids"] != originals[r["dilemma"]] for r in sel)
                ppl = statistics.median(r["ppl"] for r in sel)
                ppl0 = statistics.median(r["ppl"] for r in orig)
                rep = statistics.mean(r["rep3"] for r in sel)
                print(
                    f"| {stance_name} | {layer} | {scope} | {share:.2f} ({base:.2f}) | "
                    f"{changed}/{len(sel)} | {ppl:.2f} ({ppl0:.2f}) | {rep:.3f} |"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""ActAdd's strength relative to the residual: ||c (h+ - h-)|| / ||h|| per block, per model.

For each stance (attract = h+, repel = h-, space-padded as ActAdd does) and the dilemma's prompt
(the exact prompt compare and tune feed), at each block: the per-position ratio
||diff_i|| / ||h_i|| over the prompt positions ActAdd adds to (i < m), leaving out position 0
(<bos>/first token: its residual is an outlier, 83k on Gemma, and its diff is 0 when both texts
share it) and positions where diff is 0. "unit" is the median of those ratios at c = 1; the
ratio at strength c is c x unit (ActAdd's tensor is linear in c). Prints JSON.
    nice -n 10 .venv/bin/python scripts/actadd_norm_ratio.py --model FOLDER --layers 3,6,9,12
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    import torch

    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance
    from sara_core.prompts import encode_prompt
    from sara_core.steering.hooks import residuals_at
    from sara_core.steering.prepare import prepare_actadd

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--layers", required=True)
    ap.add_argument("--stances", default="utilitarian,kantian,optimistic")
    ap.add_argument("--dilemma", default="parent_criminal")
    args = ap.parse_args(argv)

    lm = load_model(args.model)
    layers = [int(x) for x in args.layers.split(",")]
    ids = encode_prompt(lm, get_dilemma(args.dilemma).text)
    with torch.no_grad():
        hs = residuals_at(lm.model, ids, layers)
    out: dict = {"model": lm.name if hasattr(lm, "name") else args.model, "layers": {}}
    for layer in layers:
        h = hs[layer][0].to(torch.float32)
        per_stance = {}
        for name in args.stances.split(","):
            s = get_stance(name)
            diff = prepare_actadd(lm, s.attract, s.repel, layer, 1.0).diff
            n = min(diff.shape[0], h.shape[0])
            dn, hn = diff[:n].norm(dim=-1), h[:n].norm(dim=-1)
            keep = [i for i in range(1, n) if dn[i] > 0]
            ratios = [float(dn[i] / hn[i]) for i in keep]
            per_stance[name] = {
                "positions": len(keep),
                "unit_median": statistics.median(ratios),
                "unit_frobenius": float(dn[keep].norm() / hn[keep].norm()),
                "h_norm_median": statistics.median(float(hn[i]) for i in keep),
                "h_norm_pos0": float(hn[0]),
            }
        out["layers"][layer] = {
            "unit_median": statistics.median(v["unit_median"] for v in per_stance.values()),
            "stances": per_stance,
        }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

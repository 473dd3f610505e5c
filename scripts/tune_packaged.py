"""Measure defaults for one packaged (pypi:) model: tune_defaults.py's protocol, cut for time.

The same fixed grid for every run (no refinement), 24-token greedy answers, guard 1.5x
perplexity, held-out probe once per stance (first dilemma) for every admissible point, and the
same rule (sara_core.tune.summary). Differences from tune_defaults.py, for the CPU time: the
quick search's 4 blocks for the model's depth (1/6 to 2/3), lambda 1, 2, 4 and c 1, 2, 4, 8
(c 1 added because c 4 breaks Gemma 3 270M), fewer stance x dilemma runs. One JSON per run
goes to --out (a finished run is skipped); ``summarize`` writes grid.csv and summary.json to
--docs (default: --out). When the
rule (a point passes the guard in >= 90% of runs) leaves no block, --min-admissible 0.5 is the
looser alternative docs/tuning.md already checked the embedded model with.
    OMP_WAIT_POLICY=PASSIVE nice -n 10 .venv/bin/python scripts/tune_packaged.py run \
        --model FOLDER --out artifacts/tuning-gemma --dilemmas parent_criminal
    .venv/bin/python scripts/tune_packaged.py summarize --out artifacts/tuning-gemma
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SARA = (1.0, 2.0, 4.0)
ACTADD = (1.0, 2.0, 4.0, 8.0)


def run(args: argparse.Namespace) -> int:
    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance
    from sara_core.tune.grid import TuneGrid, default_grid
    from sara_core.tune.score import held_out_for
    from sara_core.tune.search import tune

    t0 = time.perf_counter()
    lm = load_model(args.model)
    layers = default_grid(lm.n_layers, quick=True).layers
    grid = TuneGrid(layers, SARA, ACTADD, 0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"loaded in {time.perf_counter() - t0:.0f} s; blocks {layers}", flush=True)
    for i, dilemma_id in enumerate(args.dilemmas.split(",")):
        dilemma = get_dilemma(dilemma_id)
        for stance_name in args.stances.split(","):
            path = out / f"{stance_name}__{dilemma.id}.json"
            if path.exists():
                continue
            stance = get_stance(stance_name)
            t1 = time.perf_counter()
            result = tune(
                lm,
                dilemma.text,
                stance.attract,
                stance.repel,
                grid=grid,
                max_new_tokens=args.new_tokens,
                held_out=held_out_for(stance_name, args.held_out) if i == 0 else None,
                held_out_all=True,
            )
            data = result.to_json()
            wall = time.perf_counter() - t1
            data.update(stance=stance_name, dilemma=dilemma.id, wall_s=round(wall, 1))
            path.write_text(json.dumps(data, indent=1))
            print(f"{path.name}: {wall:.0f} s", flush=True)
    return 0


def summarize(args: argparse.Namespace) -> int:
    from sara_core.tune.summary import summarize_runs, write_grid_csv

    runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*__*.json"))]
    summary = summarize_runs(runs, args.min_admissible)
    summary["wall_s"] = {f"{r['stance']}__{r['dilemma']}": r.get("wall_s") for r in runs}
    docs = Path(args.docs or args.out)
    docs.mkdir(parents=True, exist_ok=True)
    write_grid_csv(runs, docs / "grid.csv")
    (docs / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(json.dumps(summary["defaults"], indent=1, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "summarize"])
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--docs", default=None, help="summarize: where grid.csv and summary.json go")
    ap.add_argument("--stances", default="utilitarian,kantian,optimistic")
    ap.add_argument("--dilemmas", default="parent_criminal")
    ap.add_argument("--new-tokens", type=int, default=24)
    ap.add_argument("--held-out", type=int, default=4)
    ap.add_argument(
        "--min-admissible", type=float, default=0.9, help="summarize: the rule's guard share"
    )
    args = ap.parse_args(argv)
    return {"run": run, "summarize": summarize}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

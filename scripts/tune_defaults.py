"""Measure default blocks and strengths: the setting search on bundled dilemmas.

``run`` searches one fixed grid (no refinement, so every run has the same points) for each
stance x dilemma and writes one JSON per run to --out (a finished run is skipped, so an
interrupted measurement resumes); each JSON records its wall time (``wall_s``). The held-out
probe does not depend on the dilemma, so it is scored once per stance, on the first dilemma's
run. ``summarize`` turns the runs into --docs (grid.csv, summary.json, tuning.png) and prints
the chosen defaults (the rule is in sara_core.tune.summary). ``example`` answers the example
dilemma four ways at those defaults.

Without options this is the measurement behind the app's defaults (docs/tuning.md): the
embedded model, 3 stances x 7 dilemmas, blocks 3, 6, ..., 24 x lambda 1, 2, 4, 8 x c 2, 4, 8,
16, 24-token greedy answers, 8 held-out items, runs in artifacts/tuning/, docs in docs/tuning/.
Run from the repo root, e.g.:
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/tune_defaults.py run
    .venv/bin/python scripts/tune_defaults.py summarize
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/tune_defaults.py example

The packaged (pypi:) models' measurement (docs/real-models.md) is the same protocol cut for CPU
time: ``--quick-grid`` takes the quick search's 4 blocks for the model's depth (1/6 to 2/3),
lambda 1, 2, 4 and c 1, 2, 4, 8 (c 1 added because c 4 breaks Gemma 3 270M), with fewer stance
x dilemma runs and 4 held-out items. --docs defaults to --out when --out is given. When the
rule (a point passes the guard in >= 90% of runs) leaves no block, ``summarize
--min-admissible 0.5`` is the looser alternative docs/tuning.md already checked the embedded
model with:
    OMP_WAIT_POLICY=PASSIVE nice -n 10 .venv/bin/python scripts/tune_defaults.py run \\
        --model FOLDER --out artifacts/tuning-gemma --quick-grid \\
        --dilemmas parent_criminal --held-out 4
    .venv/bin/python scripts/tune_defaults.py summarize --out artifacts/tuning-gemma
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.tune.grid import TuneGrid, default_grid  # noqa: E402

STANCES = ("utilitarian", "kantian", "optimistic")
DILEMMAS = (1, 3, 5, 7, 9, 11, 13)  # every other bundled dilemma: 7 of 14, for time
GRID = TuneGrid((3, 6, 9, 12, 15, 18, 21, 24), (1.0, 2.0, 4.0, 8.0), (2.0, 4.0, 8.0, 16.0), 0)
HELD_OUT_ITEMS = 8
NEW_TOKENS = 24
RUNS = ROOT / "artifacts" / "tuning"
DOCS = ROOT / "docs" / "tuning"
# --quick-grid, the packaged models' grid: the quick search's blocks for the model's depth and
# these strengths (c 1 added because c 4 breaks Gemma 3 270M).
QUICK_SARA = (1.0, 2.0, 4.0)
QUICK_ACTADD = (1.0, 2.0, 4.0, 8.0)


def quick_grid(n_layers: int) -> TuneGrid:
    """The packaged models' fixed grid for a model of ``n_layers`` blocks (no refinement)."""
    return TuneGrid(default_grid(n_layers, quick=True).layers, QUICK_SARA, QUICK_ACTADD, 0)


def grid_for(args: argparse.Namespace, n_layers: int) -> TuneGrid:
    """The grid ``run`` searches: :data:`GRID`, or :func:`quick_grid` with --quick-grid."""
    return quick_grid(n_layers) if args.quick_grid else GRID


def docs_dir(args: argparse.Namespace) -> Path:
    """--docs; without it, docs/tuning/ for the default --out and --out itself for another, so
    a packaged model's summary never overwrites the embedded model's."""
    if args.docs is not None:
        return Path(args.docs)
    return DOCS if Path(args.out).resolve() == RUNS else Path(args.out)


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def _dilemma_keys(text: str) -> tuple[int | str, ...]:
    """Comma-separated dilemma ids or 1-based positions (as sara_core.presets reads them)."""
    return tuple(int(s) if s.isdigit() else s for s in _names(text))


def run(args: argparse.Namespace) -> int:
    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance
    from sara_core.tune.score import held_out_for
    from sara_core.tune.search import tune

    t0 = time.perf_counter()
    lm = load_model(args.model)
    grid = grid_for(args, lm.n_layers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"loaded in {time.perf_counter() - t0:.0f} s; blocks {grid.layers}", flush=True)
    for i, key in enumerate(args.dilemmas):
        dilemma = get_dilemma(key)
        for stance_name in args.stances:
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
            wall = time.perf_counter() - t1
            data = result.to_json()
            data.update(stance=stance_name, dilemma=dilemma.id, wall_s=round(wall, 1))
            path.write_text(json.dumps(data, indent=1))
            print(f"{path.name}: {wall:.0f} s", flush=True)
    return 0


def summarize(args: argparse.Namespace) -> int:
    from sara_core.tune.plot import save_tune_figure
    from sara_core.tune.summary import MIN_ADMISSIBLE, summarize_runs, write_grid_csv

    runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*__*.json"))]
    if not runs:
        print(f"no runs in {args.out}", file=sys.stderr)
        return 1
    rule = MIN_ADMISSIBLE if args.min_admissible is None else args.min_admissible
    summary = summarize_runs(runs, rule)
    if any("wall_s" in r for r in runs):  # runs from before the wall time was recorded lack it
        summary["wall_s"] = {f"{r['stance']}__{r['dilemma']}": r.get("wall_s") for r in runs}
    docs = docs_dir(args)
    docs.mkdir(parents=True, exist_ok=True)
    write_grid_csv(runs, docs / "grid.csv")
    (docs / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    save_tune_figure(summary["figure"], docs / "tuning.png")
    print(json.dumps(summary["defaults"], indent=1, default=str))
    return 0


def example_ranking(runs_dir: Path, summary: dict, stance: str | None) -> list[dict]:
    """The runs (of ``stance``, or all) where both default points passed the guard, ranked by
    the two points' summed effect, largest first. The rule was fixed before any example answer
    was read; ``--rank`` takes the next one when the first does not visibly steer."""
    d = summary["defaults"]
    keys = {(m, d["layer"], d[m]["coeff"]): m for m in ("sara", "actadd")}
    ranking = []
    for p in sorted(runs_dir.glob(f"{stance or '*'}__*.json")):
        run = json.loads(p.read_text())
        rows = {
            keys[k]: r for r in run["grid"] if (k := (r["method"], r["layer"], r["coeff"])) in keys
        }
        if len(rows) == 2 and all(r["admissible"] for r in rows.values()):
            effects = {m: round(r["effect"], 4) for m, r in rows.items()}
            total = round(sum(effects.values()), 4)
            ranking.append(
                {"stance": run["stance"], "dilemma": run["dilemma"], "summed": total, **effects}
            )
    return sorted(ranking, key=lambda r: -r["summed"])


def example(args: argparse.Namespace) -> int:
    """The example: the ``--rank``-th run of :func:`example_ranking`; its four answers from
    compare at the defaults (greedy, 80 new tokens) go to --docs as example[-rankN].json."""
    from sara_core.config import GenerationSettings, SteeringConfig
    from sara_core.engine.compare import compare
    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance

    docs = docs_dir(args)
    summary = json.loads((docs / "summary.json").read_text())
    name = "example"
    if args.min_admissible is not None:  # a looser guard share, as a check beside the rule
        from sara_core.tune.summary import summarize_runs

        runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*__*.json"))]
        summary = summarize_runs(runs, args.min_admissible)
        name += f"-admissible{args.min_admissible:g}"
    d = summary["defaults"]
    ranking = example_ranking(Path(args.out), summary, args.stance)
    pick = ranking[args.rank]
    stance = get_stance(pick["stance"])
    dilemma = get_dilemma(pick["dilemma"])
    config = SteeringConfig(
        layer=d["layer"], sara_coeff=d["sara"]["coeff"], actadd_coeff=d["actadd"]["coeff"]
    )
    lm = load_model(args.model)
    result = compare(
        lm,
        dilemma.text,
        stance.attract,
        stance.repel,
        config,
        GenerationSettings(max_new_tokens=80),
        prompted=True,
    )
    out = {
        **pick,
        "rank": args.rank,
        "ranking": ranking,
        "settings": result.settings,
        "answers": result.answers(),
    }
    name += f"-rank{args.rank}.json" if args.rank else ".json"
    out["defaults"] = {
        "layer": d["layer"],
        "sara": d["sara"]["coeff"],
        "actadd": d["actadd"]["coeff"],
    }
    (docs / name).write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out["answers"], indent=1))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line; every default is the embedded model's measurement (docs/tuning.md)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "summarize", "example"])
    ap.add_argument("--model", default=None, help="a model folder or name (default: embedded)")
    ap.add_argument("--out", default=str(RUNS), help="where the run JSONs go")
    ap.add_argument(
        "--docs",
        default=None,
        help="summarize: where grid.csv etc. go (default: docs/tuning/, or --out if given)",
    )
    ap.add_argument("--stances", type=_names, default=STANCES, help="comma-separated")
    ap.add_argument("--dilemmas", type=_dilemma_keys, default=DILEMMAS, help="ids or positions")
    ap.add_argument("--new-tokens", type=int, default=NEW_TOKENS, help="answer length")
    ap.add_argument("--held-out", type=int, default=HELD_OUT_ITEMS, help="held-out items")
    ap.add_argument("--quick-grid", action="store_true", help="the packaged models' grid")
    ap.add_argument(
        "--min-admissible",
        type=float,
        default=None,
        help="summarize, example: the rule's guard share (default 0.9: the rule, as fixed)",
    )
    ap.add_argument("--stance", default=None, help="restrict the example to this stance")
    ap.add_argument("--rank", type=int, default=0, help="the example: the N-th run (from 0)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return {"run": run, "summarize": summarize, "example": example}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

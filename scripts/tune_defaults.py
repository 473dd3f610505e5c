"""Measure the app's default block and strengths: the setting search on bundled dilemmas.

``run`` searches one fixed grid (no refinement, so every run has the same points) for each
stance x dilemma and writes one JSON per run to artifacts/tuning/ (a finished run is skipped, so
an interrupted measurement resumes). The held-out probe does not depend on the dilemma, so it is
scored once per stance, on the first dilemma's run. ``summarize`` turns the runs into
docs/tuning/ (grid.csv, summary.json, tuning.png) and prints the chosen defaults (the rule is in
sara_core.tune.summary). ``example`` answers the example dilemma four ways at those defaults.
Run from the repo root, e.g.:
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/tune_defaults.py run
    .venv/bin/python scripts/tune_defaults.py summarize
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/tune_defaults.py example
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sara_core.tune.grid import TuneGrid  # noqa: E402

STANCES = ("utilitarian", "kantian", "optimistic")
DILEMMAS = (1, 3, 5, 7, 9, 11, 13)  # every other bundled dilemma: 7 of 14, for time
GRID = TuneGrid((3, 6, 9, 12, 15, 18, 21, 24), (1.0, 2.0, 4.0, 8.0), (2.0, 4.0, 8.0, 16.0), 0)
HELD_OUT_ITEMS = 8
NEW_TOKENS = 24
RUNS = ROOT / "artifacts" / "tuning"
DOCS = ROOT / "docs" / "tuning"


def run(args: argparse.Namespace) -> int:
    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance
    from sara_core.tune.score import held_out_for
    from sara_core.tune.search import tune

    lm = load_model(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, position in enumerate(DILEMMAS):
        dilemma = get_dilemma(position)
        for stance_name in STANCES:
            path = out / f"{stance_name}__{dilemma.id}.json"
            if path.exists():
                continue
            stance = get_stance(stance_name)
            t0 = time.perf_counter()
            result = tune(
                lm,
                dilemma.text,
                stance.attract,
                stance.repel,
                grid=GRID,
                max_new_tokens=NEW_TOKENS,
                held_out=held_out_for(stance_name, HELD_OUT_ITEMS) if i == 0 else None,
                held_out_all=True,
            )
            data = result.to_json()
            data.update(stance=stance_name, dilemma=dilemma.id)
            path.write_text(json.dumps(data, indent=1))
            print(f"{path.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def summarize(args: argparse.Namespace) -> int:
    from sara_core.tune.plot import save_tune_figure
    from sara_core.tune.summary import summarize_runs, write_grid_csv

    runs = [json.loads(p.read_text()) for p in sorted(Path(args.out).glob("*__*.json"))]
    if not runs:
        print(f"no runs in {args.out}", file=sys.stderr)
        return 1
    summary = summarize_runs(runs)
    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    write_grid_csv(runs, docs / "grid.csv")
    (docs / "summary.json").write_text(json.dumps(summary, indent=1))
    save_tune_figure(summary["figure"], docs / "tuning.png")
    print(json.dumps(summary["defaults"], indent=1))
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
    compare at the defaults (greedy, 80 new tokens) go to docs/tuning/example[-rankN].json."""
    from sara_core.config import GenerationSettings, SteeringConfig
    from sara_core.engine.compare import compare
    from sara_core.models.loading import load_model
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance

    summary = json.loads((Path(args.docs) / "summary.json").read_text())
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
    (Path(args.docs) / name).write_text(json.dumps(out, indent=1, default=str))
    print(json.dumps(out["answers"], indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["run", "summarize", "example"])
    ap.add_argument("--stance", default=None, help="restrict the example to this stance")
    ap.add_argument("--rank", type=int, default=0, help="the example: the N-th run (from 0)")
    ap.add_argument("--min-admissible", type=float, default=None, help="example: a looser rule")
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default=str(RUNS))
    ap.add_argument("--docs", default=str(DOCS))
    args = ap.parse_args(argv)
    return {"run": run, "summarize": summarize, "example": example}[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())

"""scripts/tune_defaults.py: the example's ranking (which run shows the defaults first)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location(
        "tune_defaults", ROOT / "scripts" / "tune_defaults.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(method, layer, coeff, effect, admissible=True):
    return {
        "method": method,
        "layer": layer,
        "coeff": coeff,
        "effect": effect,
        "admissible": admissible,
    }


def _run(tmp_path, stance, dilemma, rows):
    path = tmp_path / f"{stance}__{dilemma}.json"
    path.write_text(json.dumps({"stance": stance, "dilemma": dilemma, "grid": rows}))


SUMMARY = {"defaults": {"layer": 21, "sara": {"coeff": 2.0}, "actadd": {"coeff": 2.0}}}


def test_runs_rank_by_the_default_points_summed_effect_and_both_must_pass_the_guard(tmp_path):
    other = _row("sara", 21, 4.0, 9.0)  # not a default point: ignored
    _run(
        tmp_path, "kantian", "a", [_row("sara", 21, 2.0, 0.1), _row("actadd", 21, 2.0, 0.05), other]
    )
    _run(tmp_path, "optimistic", "b", [_row("sara", 21, 2.0, 0.3), _row("actadd", 21, 2.0, -0.1)])
    _run(
        tmp_path,
        "optimistic",
        "c",
        [_row("sara", 21, 2.0, 5.0), _row("actadd", 21, 2.0, 5.0, False)],
    )
    _run(tmp_path, "utilitarian", "d", [_row("sara", 21, 2.0, 1.0)])  # ActAdd's point missing
    ranking = _script().example_ranking(tmp_path, SUMMARY, None)
    assert [(r["stance"], r["dilemma"]) for r in ranking] == [("optimistic", "b"), ("kantian", "a")]
    assert ranking[0] == {
        "stance": "optimistic",
        "dilemma": "b",
        "summed": 0.2,
        "sara": 0.3,
        "actadd": -0.1,
    }
    only = _script().example_ranking(tmp_path, SUMMARY, "kantian")
    assert [r["dilemma"] for r in only] == ["a"]

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


def test_without_options_the_run_is_the_embedded_models_measurement():
    script = _script()
    args = script.parse_args(["run"])
    assert args.model is None  # the embedded model
    assert args.stances == ("utilitarian", "kantian", "optimistic")
    assert args.dilemmas == (1, 3, 5, 7, 9, 11, 13)
    assert (args.new_tokens, args.held_out, args.min_admissible) == (24, 8, None)
    grid = script.grid_for(args, 30)
    assert grid == script.GRID
    assert grid.layers == (3, 6, 9, 12, 15, 18, 21, 24)
    assert grid.sara_coeffs == (1.0, 2.0, 4.0, 8.0)
    assert grid.actadd_coeffs == (2.0, 4.0, 8.0, 16.0)
    assert grid.refine == 0
    assert Path(args.out) == ROOT / "artifacts" / "tuning"
    assert script.docs_dir(args) == ROOT / "docs" / "tuning"


def test_the_options_give_the_packaged_models_protocol(tmp_path):
    from sara_core.tune.grid import default_grid

    script = _script()
    out = str(tmp_path / "tuning-gemma")
    argv = ["run", "--model", "FOLDER", "--out", out, "--quick-grid", "--dilemmas"]
    argv += ["parent_criminal,3", "--stances", "utilitarian", "--held-out", "4"]
    args = script.parse_args([*argv, "--new-tokens", "16", "--min-admissible", "0.5"])
    assert args.model == "FOLDER"
    assert args.dilemmas == ("parent_criminal", 3)
    assert args.stances == ("utilitarian",)
    assert (args.new_tokens, args.held_out, args.min_admissible) == (16, 4, 0.5)
    grid = script.grid_for(args, 28)  # Qwen2.5-Coder-1.5B's depth
    assert grid.layers == (5, 10, 14, 19) == default_grid(28, quick=True).layers
    assert grid.sara_coeffs == (1.0, 2.0, 4.0)
    assert grid.actadd_coeffs == (1.0, 2.0, 4.0, 8.0)
    assert grid.refine == 0
    assert script.docs_dir(args) == Path(out)  # not docs/tuning/: the embedded model's
    with_docs = script.parse_args(["summarize", "--out", out, "--docs", str(tmp_path / "d")])
    assert script.docs_dir(with_docs) == tmp_path / "d"

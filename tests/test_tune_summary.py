"""Many searches summed up (sara_core.tune_summary): statistics and the rule for defaults."""

from __future__ import annotations

import csv
import json

import pytest

from sara_core.tune_summary import choose_defaults, point_stats, summarize_runs, write_grid_csv


def _row(method, layer, coeff, effect, ok=True, ratio=1.1, held=None):
    return {
        "method": method,
        "layer": layer,
        "coeff": coeff,
        "effect": effect,
        "ppl_ratio": ratio,
        "perplexity": 2.0 * ratio,
        "repetition": 0.0,
        "collapse": None,
        "admissible": ok,
        "held_out_effect": held,
    }


def _run(stance, dilemma, rows, chosen=None):
    base = {"effect": 0.0, "ppl_ratio": 1.0, "perplexity": 2.0, "held_out_effect": 0.0}
    return {
        "model": "tiny",
        "stance": stance,
        "dilemma": dilemma,
        "settings": {"max_ppl_ratio": 1.5},
        "grid": rows,
        "chosen": chosen or {},
        "unsteered": {**base, "method": "unsteered"},
        "prompted": {**base, "method": "prompted", "effect": 1.0},
    }


def _runs():
    """Ten runs: block 2 is best for both methods when coherent; SARA x4 fails once in ten."""
    runs = []
    for i in range(10):
        rows = [
            _row("sara", 1, 1.0, 0.05),
            _row("sara", 2, 1.0, 0.10),
            _row("sara", 2, 4.0, 0.50, ok=i != 0),  # admissible in 9 of 10 runs
            _row("sara", 3, 8.0, 0.90, ok=i % 2 == 0),  # strong but fails half the time
            _row("actadd", 1, 4.0, 0.30),
            _row("actadd", 2, 2.0, 0.20, held=0.1 if i == 0 else None),
            _row("actadd", 2, 8.0, 0.20),  # ties with x2: the weaker strength wins
            _row("actadd", 3, 4.0, 0.35),  # block 3 has no SARA candidate
        ]
        chosen = {"sara": rows[2] if i else rows[1], "actadd": rows[7]}
        runs.append(_run("optimistic" if i % 2 else "kantian", f"d{i}", rows, chosen))
    return runs


def test_point_stats_count_admissible_runs_medians_and_choices():
    stats = point_stats(_runs())
    s = stats[("sara", 2, 4.0)]
    assert s["runs"] == 10 and s["admissible_share"] == pytest.approx(0.9)
    assert s["effect"] == pytest.approx(0.5) and s["chosen"] == 9
    assert stats[("sara", 3, 8.0)]["admissible_share"] == pytest.approx(0.5)
    assert stats[("actadd", 2, 2.0)]["held_out"] == {"kantian": 0.1}
    assert s["positive_share"] == 1.0 and s["effect_ci"] == pytest.approx([0.5, 0.5])
    effects = [-0.2, 0.0, 0.1, 0.3, 0.4]
    runs = [_run("x", f"d{i}", [_row("sara", 1, 1.0, e)]) for i, e in enumerate(effects)]
    mixed = point_stats(runs)[("sara", 1, 1.0)]
    assert mixed["positive_share"] == 0.6 and mixed["effect"] == pytest.approx(0.1)
    low, high = mixed["effect_ci"]
    assert -0.2 <= low <= 0.1 <= high <= 0.4 and low < high


def test_the_rule_picks_one_block_for_both_methods():
    got = choose_defaults(point_stats(_runs()))
    assert got is not None and got["layer"] == 2
    assert got["sara"]["coeff"] == 4.0 and got["actadd"]["coeff"] == 2.0
    strict = choose_defaults(point_stats(_runs()), min_admissible=0.95)
    assert strict is not None and strict["sara"]["coeff"] == 1.0  # x4 fails once: no longer in


def test_no_block_with_both_methods_means_no_defaults():
    runs = [_run("x", "d", [_row("sara", 1, 1.0, 0.1), _row("actadd", 2, 2.0, 0.1)])]
    assert choose_defaults(point_stats(runs)) is None
    assert summarize_runs(runs)["defaults"] == {"layer": None}


def test_summary_is_plain_json_with_per_stance_figures():
    summary = json.loads(json.dumps(summarize_runs(_runs()), allow_nan=False))
    assert summary["runs"] == 10 and summary["stances"] == ["kantian", "optimistic"]
    sara = summary["defaults"]["sara"]
    assert set(sara["by_stance"]) == {"kantian", "optimistic"}
    assert sara["by_stance"]["kantian"]["admissible_share"] == pytest.approx(0.8)
    assert summary["prompted"]["effect"] == 1.0
    fig = summary["figure"]
    assert len(fig["grid"]) == 8 and set(fig["chosen"]) == {"sara", "actadd"}
    held = [r["held_out_effect"] for r in fig["grid"] if r["held_out_effect"] is not None]
    assert held == [0.1]  # the one point with a held-out value
    assert summary["defaults"]["actadd"]["held_out_effect"] == 0.1


def test_grid_csv_has_every_run_s_points_and_baselines(tmp_path):
    path = write_grid_csv(_runs(), tmp_path / "grid.csv")
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 10 * (8 + 2)
    assert {r["method"] for r in rows} == {"sara", "actadd", "unsteered", "prompted"}
    assert rows[0]["stance"] == "kantian" and rows[0]["dilemma"] == "d0"

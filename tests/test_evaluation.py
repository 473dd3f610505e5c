"""The evaluation runner end to end on a tiny random model, and its summaries on fixed rows."""

from __future__ import annotations

import argparse
import csv
import json

import numpy as np
import pytest

from sara_core import evaluation as E
from sara_core import judge as J
from sara_core import report as R

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class HashJudge:
    """A deterministic stand-in judge: the school is picked from the answer's length."""

    name = "hash"

    def label(self, texts):
        return [(J.SCHOOLS[len(t) % len(J.SCHOOLS)], 0.5) for t in texts]


def test_parse_layers_and_defaults():
    assert E.parse_layers(None, 30, quick=False) == list(range(0, 30, 3))
    assert E.parse_layers(None, 30, quick=True) == [7, 15, 22]
    assert E.parse_layers(["1,2", "-1"], 30, quick=False) == [1, 2, 29]
    assert E.parse_layers(["every:10"], 30, quick=False) == [0, 10, 20]
    assert E.parse_layers(["all"], 4, quick=False) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="out of range"):
        E.parse_layers(["30"], 30, quick=False)


def test_targets_and_seeds():
    assert E.target_group("utilitarian") == "Utilitarianism"
    assert E.target_group("kantian") == "A priori values"
    with pytest.raises(ValueError, match="no target group"):
        E.target_group("optimistic")
    assert E.seed_for(1234, 1, 3) == 2237


def _row(method, stance, layer, group, dilemma="d", rep=0):
    school = J.GROUPS[group][0]
    return {
        "dilemma": dilemma,
        "stance": stance,
        "method": method,
        "layer": layer,
        "rep": rep,
        "seed": rep,
        "answer": "x",
        "school": school,
        "group": group,
        "judge_confidence": 0.5,
        "new_tokens": 10,
        "n_words": 5.0,
        "distinct_1": 1.0,
        "distinct_2": 1.0,
        "repetition_3": 0.0,
        "perplexity": 3.0,
        "seconds": 1.0,
    }


def test_summarize_on_fixed_rows_gives_the_exact_effects():
    # Original: 1/4 utilitarian, 3/4 a priori. SARA (utilitarian): 3/4 utilitarian, 1/4 a priori.
    # ActAdd (utilitarian): 1/4 utilitarian, 1/4 a priori, 2/4 individualism.
    U, A, I = "Utilitarianism", "A priori values", "Individualism"  # noqa: E741
    rows = [_row("original", "none", -1, g, rep=i) for i, g in enumerate([U, A, A, A])]
    rows += [_row("sara", "utilitarian", 3, g, rep=i) for i, g in enumerate([U, U, U, A])]
    rows += [_row("actadd", "utilitarian", 3, g, rep=i) for i, g in enumerate([U, A, I, I])]
    cfg = E.EvalConfig(stances=["utilitarian"], n_boot=200)
    s = E.summarize(rows, cfg, [3])
    sara = next(p for p in s["pooled"] if p["method"] == "sara")
    act = next(p for p in s["pooled"] if p["method"] == "actadd")
    assert sara["success"]["value"] == pytest.approx(0.5)
    assert sara["spillover"]["value"] == 0.0
    assert act["success"]["value"] == 0.0
    assert act["spillover"]["value"] == pytest.approx(0.5)
    assert s["original"]["groups"][U]["value"] == 0.25
    head = s["headline"][0]
    assert head["success_sara_minus_actadd"]["value"] == pytest.approx(0.5)
    assert head["spillover_sara_minus_actadd"]["value"] == pytest.approx(-0.5)
    lo, hi = head["success_sara_minus_actadd"]["low"], head["success_sara_minus_actadd"]["high"]
    assert lo <= 0.5 <= hi
    assert "SARA spills less" in R.verdict(
        {
            "success_sara_minus_actadd": {"value": 0.5, "low": 0.1, "high": 0.9},
            "spillover_sara_minus_actadd": {"value": -0.5, "low": -0.9, "high": -0.1},
        }
    )


def test_collapsed_answers_are_flagged_and_left_out_of_the_coherent_headline():
    U, A = "Utilitarianism", "A priori values"
    assert E.is_coherent({"repetition_3": 0.1, "n_words": 40})
    assert not E.is_coherent({"repetition_3": 0.9, "n_words": 40})
    assert not E.is_coherent({"repetition_3": 0.0, "n_words": 2})
    rows = [_row("original", "none", -1, A, rep=i) for i in range(4)]
    # SARA "succeeds" only through collapsed answers; ActAdd stays put.
    sara = [_row("sara", "utilitarian", 3, U, rep=i) for i in range(2)]
    sara += [_row("sara", "utilitarian", 3, A, rep=i) for i in range(2, 4)]
    for r in sara[:2]:
        r["repetition_3"] = 0.9
    rows += sara + [_row("actadd", "utilitarian", 3, A, rep=i) for i in range(4)]
    s = E.summarize(rows, E.EvalConfig(stances=["utilitarian"], n_boot=100), [3])
    assert s["headline"][0]["success_sara_minus_actadd"]["value"] == pytest.approx(0.5)
    assert s["coherent"]["n"] == 10 and s["coherent"]["n_all"] == 12
    assert s["coherent"]["headline"][0]["success_sara_minus_actadd"]["value"] == 0.0
    sara_pooled = next(p for p in s["pooled"] if p["method"] == "sara")
    assert sara_pooled["collapsed"]["value"] == pytest.approx(0.5)


def test_csv_round_trip(tmp_path):
    rows = [_row("original", "none", -1, "Utilitarianism")]
    rows[0]["perplexity"] = float("nan")
    E.write_csv(rows, tmp_path / "r.csv")
    back = E.read_csv(tmp_path / "r.csv")
    assert back[0]["layer"] == -1 and back[0]["school"] == "Rule Utilitarianism"
    assert np.isnan(back[0]["perplexity"])


def test_digit_scoring_of_a_questionnaire_item(tiny_lm):
    from sara_core.generation import encode_prompt

    ids = E.digit_token_ids(tiny_lm.tokenizer, 0, 5)
    assert len(ids) == 6 and all(ids)
    out = E.score_item(tiny_lm, encode_prompt(tiny_lm, "How relevant? 0 to 5."), ids)
    assert 0 <= out["expected"] <= 5 and out["argmax"] in range(6)
    assert 0 < out["digit_mass"] <= 1


def test_run_evaluation_end_to_end_on_a_tiny_model(tiny_lm, tmp_path):
    cfg = E.EvalConfig(
        dilemmas=["parent_criminal"],
        layers=[1, 2],
        reps=2,
        baseline_reps=2,
        max_new_tokens=4,
        mfq_items=1,
        n_boot=50,
        quick=True,
    )
    result = E.run_evaluation(cfg, tmp_path, lm=tiny_lm, judge=HashJudge(), progress=False)
    # 2 originals + 2 stances x 2 layers x 2 reps x 2 methods
    assert len(result.rows) == 2 + 16
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) == set(E.CSV_FIELDS)
    assert {r["method"] for r in rows} == {"original", "sara", "actadd"}
    # Every repetition of every method shares its seed with the original answer of that rep.
    seeds = {(r["method"], r["rep"]): r["seed"] for r in rows}
    assert seeds[("sara", "1")] == seeds[("original", "1")] == str(E.seed_for(cfg.seed, 0, 1))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["judge"]["judge"] == "hash" and 0 <= summary["judge"]["accuracy"] <= 1
    assert len(summary["metrics"]["steered"]) == 2 * 2 * 2
    assert {h["stance"] for h in summary["metrics"]["headline"]} == {
        "utilitarian",
        "kantian",
        "all",
    }
    mfq = summary["mfq"]
    assert mfq["n_runs"] == 1 + 2 * 2 * 2
    assert set(mfq["profile"][0]["foundations"]) == set(mfq["foundations"])
    for name in ("groups.png", "layers.png", "coherence.png", "mfq.png", "report.md"):
        assert (tmp_path / name).stat().st_size > 0
    report = (tmp_path / "report.md").read_text()
    assert "![Group fractions](groups.png)" in report and "accuracy" in report

    # The same answers, labelled again by another judge, without generating anything.
    class Constant(HashJudge):
        name = "constant"

        def label(self, texts):
            return [("Egoism", 1.0) for _ in texts]

    again = E.rebuild_evaluation(
        tmp_path,
        E.EvalConfig(mfq=False, n_boot=20),
        tmp_path / "again",
        lm=tiny_lm,
        judge=Constant(),
        progress=False,
    )
    assert [r["answer"] for r in again.rows] == [r["answer"] for r in result.rows]
    assert {r["school"] for r in again.rows} == {"Egoism"}
    assert again.summary["config"]["layers"] == [1, 2] and again.summary["config"]["reps"] == 2
    assert again.summary["config"]["max_new_tokens"] == 4  # read back from summary.json


def test_cli_arguments_and_bad_input(capsys):
    parser = argparse.ArgumentParser()
    E.add_arguments(parser)
    args = parser.parse_args(["--quick", "--stances", "optimistic"])
    assert E.run_cli(args) == 2
    assert "no target group" in capsys.readouterr().err
    cfg = E.config_from_args(parser.parse_args(["--quick", "--reps", "3", "--layers", "1"]))
    assert cfg.quick and cfg.reps == 3 and cfg.layers == ["1"] and cfg.max_new_tokens == 60
    full = E.config_from_args(parser.parse_args([]))
    assert full.reps == 5 and full.max_new_tokens == 100 and full.temperature == 0.8
    assert full.top_p == 0.3

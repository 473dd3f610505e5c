"""The evaluation runner end to end on a tiny random model (sara_core.evaluation.run)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sara_core.evaluation.answer_rows import CSV_FIELDS, OPTIONAL_FIELDS
from sara_core.evaluation.config import EvalConfig, seed_for
from sara_core.evaluation.judges.judge import Judge
from sara_core.evaluation.run import rebuild_evaluation, run_evaluation
from sara_core.evaluation.schools import SCHOOLS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class HashClassifier:
    """A deterministic stand-in classifier: the school is picked from the answer's length."""

    name = "hash"

    def probabilities(self, answers, dilemmas=None):
        out = np.zeros((len(answers), len(SCHOOLS)))
        for i, a in enumerate(answers):
            out[i, len(a) % len(SCHOOLS)] = 1.0
        return out


class EgoismClassifier(HashClassifier):
    name = "constant"

    def probabilities(self, answers, dilemmas=None):
        out = np.zeros((len(answers), len(SCHOOLS)))
        out[:, SCHOOLS.index("Egoism")] = 1.0
        return out


def no_detector(answer, dilemma):
    """The tiny random model writes gibberish, which the real detector rightly rejects."""
    return None


def test_run_evaluation_end_to_end_on_a_tiny_model(tiny_lm, tmp_path):
    cfg = EvalConfig(
        dilemmas=["parent_criminal"],
        layers=[1, 2],
        reps=2,
        baseline_reps=2,
        max_new_tokens=4,
        mfq_items=1,
        n_boot=50,
        quick=True,
    )
    judge = Judge(HashClassifier(), detector=no_detector)
    result = run_evaluation(cfg, tmp_path, lm=tiny_lm, judge=judge, progress=False)
    # 2 originals + 2 stances x 2 layers x 2 reps x 2 methods
    assert len(result.rows) == 2 + 16
    with (tmp_path / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) == set(CSV_FIELDS + OPTIONAL_FIELDS)
    assert {r["method"] for r in rows} == {"original", "sara", "actadd"}
    # Every repetition of every method shares its seed with the original answer of that rep.
    seeds = {(r["method"], r["rep"]): r["seed"] for r in rows}
    assert seeds[("sara", "1")] == seeds[("original", "1")] == str(seed_for(cfg.seed, 0, 1))
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

    assert summary["metrics"]["validity"]["status"] == "unknown"
    assert report.index("Judge validity: UNKNOWN") < report.index("## Headline")

    # The same answers, labelled again by another judge, without generating anything; the real
    # detector now rejects the tiny model's gibberish.
    agreement = tmp_path / "agreement.json"
    agreement.write_text(
        json.dumps(
            {
                "judge": {"name": "constant+rules-v1", "min_confidence": 0.5},
                "n": 150,
                "group_accuracy": 0.7,
                "group_kappa": {"value": 0.4, "low": 0.3, "high": 0.5},
                "both_classified": {
                    "n": 90,
                    "group_kappa": {"value": 0.3, "low": 0.1, "high": 0.5},
                },
            }
        )
    )
    again = rebuild_evaluation(
        tmp_path,
        EvalConfig(mfq=False, n_boot=20, agreement=str(agreement)),
        tmp_path / "again",
        lm=tiny_lm,
        judge=Judge(EgoismClassifier()),
        progress=False,
    )
    assert [r.answer for r in again.rows] == [r.answer for r in result.rows]
    assert {r.school for r in again.rows} <= {"Egoism", "Unclassifiable"}
    assert all(r.judge_coherent is False for r in again.rows if r.school == "Unclassifiable")
    assert again.summary["config"]["layers"] == [1, 2] and again.summary["config"]["reps"] == 2
    assert again.summary["config"]["max_new_tokens"] == 4  # read back from summary.json
    # this judge's blind check beats chance, also on the answers both classified: the report
    # says so and drops "not evidence"
    assert again.summary["metrics"]["validity"]["status"] == "beats chance"
    report = (tmp_path / "again" / "report.md").read_text()
    assert "beats chance" in report and "not evidence: the judge" not in report

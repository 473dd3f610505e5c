"""Cohen's kappa against hand computations, detection rates, and the validity verdict that gates
the report (sara_core.measures.agreement)."""

from __future__ import annotations

import math

import pytest

from sara_core.measures import agreement as A


def test_kappa_matches_hand_computations():
    # p_o = 4/6; marginals U 3/6 vs 1/6, A 2/6 vs 3/6, I 1/6 vs 2/6: p_e = 11/36; kappa = 13/25.
    a = ["U", "U", "A", "A", "I", "U"]
    b = ["U", "A", "A", "A", "I", "I"]
    assert A.cohen_kappa(a, b) == pytest.approx(13 / 25)
    # Wikipedia's example: 20 yes-yes, 5 yes-no, 10 no-yes, 15 no-no: p_o 0.7, p_e 0.5, kappa 0.4.
    r1 = ["y"] * 25 + ["n"] * 25
    r2 = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert A.cohen_kappa(r1, r2) == pytest.approx(0.4)
    assert A.cohen_kappa(a, a) == 1.0
    assert A.cohen_kappa(["x", "y"], ["y", "x"]) == pytest.approx(-1.0)
    assert math.isnan(A.cohen_kappa(["x", "x"], ["x", "x"]))  # chance agreement is certain
    assert math.isnan(A.cohen_kappa([], []))
    with pytest.raises(ValueError):
        A.cohen_kappa(["x"], [])


def test_kappa_matches_sklearn_when_installed():
    metrics = pytest.importorskip("sklearn.metrics")
    a = list("UUAAIUAUIAAU")
    b = list("UAAAIIAUUAIU")
    assert A.cohen_kappa(a, b) == pytest.approx(metrics.cohen_kappa_score(a, b))


def test_kappa_interval_brackets_and_is_deterministic():
    a = ["U", "A", "I"] * 20
    b = ["U", "A", "I"] * 15 + ["A", "I", "U"] * 5
    first, second = A.kappa_interval(a, b, n_boot=300), A.kappa_interval(a, b, n_boot=300)
    assert first == second
    assert first.low < first.estimate < first.high and first.low > 0


def test_detection_and_confusion():
    d = A.detection([True, True, False, False], [True, False, True, False])
    assert (d.precision, d.recall, d.true_positives) == (0.5, 0.5, 1)
    assert math.isnan(A.detection([False], [False]).precision)
    table = A.confusion_table(["U", "A"], ["A", "X"], ["U", "A"])
    assert table["U"]["A"] == 1 and table["A"]["X"] == 1 and set(table) == {"U", "A", "X"}


def _agreement(low, name="prototype", min_conf=0.5, both_low=0.01):
    return {
        "judge": {"name": name, "min_confidence": min_conf},
        "n": 150,
        "group_accuracy": 0.5,
        "group_kappa": {"value": 0.1, "low": low, "high": 0.3},
        "both_classified": {"n": 93, "group_kappa": {"value": 0.05, "low": both_low, "high": 0.2}},
    }


def test_a_judge_that_only_finds_collapse_is_not_evidence_for_groups():
    """Measured on the shipped judge: kappa 0.34 over all answers, 0.05 on coherent ones."""
    v = A.validity(_agreement(0.23, both_low=-0.04), "prototype", 0.5)
    assert v.status == "collapse only" and not v.evidence
    assert "the collapse rates are" in v.line and "93 answers both classified" in v.line


def test_validity_needs_a_kappa_interval_above_zero_for_this_judge():
    unknown = A.validity(None, "prototype", 0.5)
    assert unknown.status == "unknown" and not unknown.evidence and "not evidence" in unknown.line
    at_chance = A.validity(_agreement(-0.05), "prototype", 0.5)
    assert at_chance.status == "at chance" and not at_chance.evidence
    assert "not evidence" in at_chance.line and "150 real answers" in at_chance.line
    good = A.validity(_agreement(0.02), "prototype", 0.5)
    assert good.status == "beats chance" and good.evidence
    other = A.validity(_agreement(0.02), "prototype", 0.3)
    assert other.status == "unknown" and not other.evidence  # measured at another threshold
    assert A.validity(_agreement(0.02, name="fitted"), "prototype", 0.5).status == "unknown"

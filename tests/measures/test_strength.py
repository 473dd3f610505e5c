"""Matched strength (sara_core.measures.strength) and the choice run's validity flag."""

from __future__ import annotations

import numpy as np
import pytest

from sara_core.evaluation.choice_run import ChoiceResult, ChoiceSpec
from sara_core.measures import strength
from sara_core.measures.choice import Shift
from sara_core.measures.strength import (
    Cost,
    StrengthPoint,
    StrengthSpec,
    best_within_budget,
    cost_of,
    finding,
    run_strength,
)
from sara_core.presets.choice import get_choice_bank
from sara_core.presets.stances import get_stance

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def shift(mean: float, low: float, high: float) -> Shift:
    return Shift(mean, low, high, 10)


def point(method: str, coeff: float, mean: float, ratio: float) -> StrengthPoint:
    return StrengthPoint(
        method, coeff, shift(mean, mean - 0.01, mean + 0.01), Cost(ratio, ratio, ratio, 0.0, 10)
    )


def test_valid_means_the_prompted_interval_lies_above_zero():
    spec = ChoiceSpec(get_choice_bank("sentiment"), "positive", "a", "b", "a", 1)
    others = {m: shift(0, -1, 1) for m in ("sara", "actadd", "control")}
    for prompted, valid in (
        (shift(0.1, 0.02, 0.2), True),
        (shift(0.1, 0.0, 0.2), False),
        (shift(-0.1, -0.2, -0.02), False),
    ):
        assert ChoiceResult(spec, "m", 10, {"prompted": prompted, **others}).valid is valid


def test_cost_is_the_ratio_of_geometric_mean_perplexities_paired_over_questions():
    base = np.log(np.array([2.0, 4.0, np.nan, 3.0]))
    steered = np.log(np.array([4.0, 8.0, 5.0, np.nan]))
    c = cost_of(base, steered, 0.25, n_boot=200, seed=0)
    assert c.ratio == pytest.approx(2.0) and c.n == 2  # questions without both answers drop
    assert (c.low, c.high) == pytest.approx((2.0, 2.0))
    assert c.collapsed == 0.25


def test_best_within_budget_takes_the_largest_shift_among_affordable_points():
    pts = [point("sara", 1, 0.05, 1.1), point("sara", 2, 0.2, 1.3), point("sara", 0.5, 0.01, 1.0)]
    assert best_within_budget(pts, 1.25).coeff == 1
    assert best_within_budget(pts, 1.5).coeff == 2
    assert best_within_budget(pts, 0.9) is None


@pytest.fixture
def sweep(tiny_lm, monkeypatch):
    monkeypatch.setattr(strength, "COST_TOKENS", 4)
    monkeypatch.setattr(strength, "COST_QUESTIONS", 6)
    st = get_stance("optimistic")
    spec = StrengthSpec(
        get_choice_bank("sentiment"),
        "positive",
        st.attract,
        st.repel,
        st.attract,
        layer=2,
        sara_grid=(0.0, 3.0),
        actadd_grid=(0.0, 12.0),
        quick=True,
        n_boot=200,
    )
    return run_strength(tiny_lm, spec)


def test_a_zero_coefficient_moves_nothing_and_costs_nothing(sweep):
    zero = [p for p in sweep.points if p.coeff == 0.0]
    assert {p.method for p in zero} == {"sara", "actadd"}
    for p in zero:
        assert (p.shift.mean, p.shift.low, p.shift.high) == pytest.approx((0, 0, 0), abs=1e-6)
        assert p.cost.ratio == pytest.approx(1.0, abs=1e-6) and p.cost.n == 6
    strong = [p for p in sweep.points if p.coeff in (3.0, 12.0)]
    assert all(p.cost.ratio != pytest.approx(1.0, abs=1e-4) for p in strong)


def test_the_sweep_json_and_the_one_sentence_finding(sweep):
    data = sweep.to_json()
    for p in data["points"]:  # the rule counts add up to the collapsed share of 6 answers
        assert sum(p["cost"]["rules"].values()) == round(p["cost"]["collapsed"] * 6)
    assert set(data["unsteered"]) == {"ppl", "collapsed", "rules"}
    assert [p["method"] for p in data["points"]] == [
        "prompted",
        "sara",
        "sara",
        "actadd",
        "actadd",
        "control",
    ]
    assert data["n_items"] == 6 and data["layer"] == 2 and data["budget"] == strength.COST_BUDGET
    text = finding(sweep)
    assert text.endswith("over 6 items.") and "block 2" in text

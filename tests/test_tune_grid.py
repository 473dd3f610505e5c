"""The search space of tune (sara_core.tune_grid): grids, checks, refinement and the guard."""

from __future__ import annotations

import math

import pytest

from sara_core.tune_grid import (
    MAX_GRID_POINTS,
    TuneGrid,
    check_answer,
    check_grid,
    check_methods,
    check_ratio,
    default_grid,
    refine_candidates,
    spread,
)
from sara_core.validation import InputError

DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them?"
)
GOOD = (
    "When a child discovers that a parent is a criminal, reporting them is hard, but the law and "
    "the safety of other people matter, so they should talk to someone they trust first."
)


def test_default_grids_fit_the_model_and_the_quick_budget():
    quick, full = default_grid(30, quick=True), default_grid(30)
    assert quick.layers == (5, 10, 15, 20)
    assert len(quick.coarse_points(("sara", "actadd"))) == 24 and quick.refine == 2
    assert full.layers == (3, 6, 9, 12, 15, 18, 21, 24, 27)
    for n in (1, 2, 4, 18, 30, 80):
        for g in (default_grid(n, quick=True), default_grid(n)):
            assert g.layers and all(0 <= x < n for x in g.layers)
            assert list(g.layers) == sorted(set(g.layers))


def test_spread_is_even_and_distinct():
    assert spread(30, 4, 1 / 6, 2 / 3) == (5, 10, 15, 20)
    assert spread(4, 9, 0.1, 0.9) == (0, 1, 2, 3)
    assert spread(1, 4, 0.2, 0.8) == (0,)


def test_check_grid_normalises_blocks_and_strengths():
    g = check_grid(TuneGrid((-1, 3, 3, 0), (2.0, "1", 2), (4.0,), 1), 4, ("sara", "actadd"))
    assert g.layers == (0, 3) and g.sara_coeffs == (1.0, 2.0) and g.actadd_coeffs == (4.0,)


@pytest.mark.parametrize(
    ("grid", "methods", "cap", "message"),
    [
        (TuneGrid((4,), (1.0,), (4.0,)), ("sara",), None, "layer=4 is out of range"),
        (TuneGrid((), (1.0,), (4.0,)), ("sara",), None, "at least one layer"),
        (TuneGrid((1,), (101.0,), (4.0,)), ("sara",), None, "sara_coeff=101 is out of range"),
        (TuneGrid((1,), (1.0,), ("x",)), ("sara",), None, "actadd_coeff must be a number"),
        (TuneGrid((1,), (), (4.0,)), ("sara", "actadd"), None, "at least one strength"),
        (TuneGrid((0, 1, 2), (1.0, 2.0), (4.0,)), ("sara", "actadd"), 8, "the grid has 9 points"),
        (TuneGrid((1,), (1.0,), (4.0,), refine=9), ("sara",), None, "refine"),
        (TuneGrid((1,), (1.0,), (4.0,)), ("sara",), MAX_GRID_POINTS + 1, "max_points"),
    ],
)
def test_check_grid_refuses_bad_grids(grid, methods, cap, message):
    with pytest.raises(InputError, match=message):
        check_grid(grid, 4, methods, cap)


def test_an_empty_strength_list_is_fine_for_a_method_not_searched():
    assert check_grid(TuneGrid((1,), (1.0,), ()), 4, ("sara",)).actadd_coeffs == ()


def test_methods_and_ratio_are_checked():
    assert check_methods("actadd, sara") == ("sara", "actadd")
    assert check_methods(["actadd"]) == ("actadd",)
    for bad in ("", "steer", ["sara", "x"]):
        with pytest.raises(InputError):
            check_methods(bad)
    assert check_ratio("2") == 2.0
    for bad in (0.99, float("nan"), 101, "x"):
        with pytest.raises(InputError):
            check_ratio(bad)


def test_refine_lands_between_the_best_point_and_its_neighbours():
    got = refine_candidates((10, 2.0), (5, 10, 15, 20), (1.0, 2.0, 4.0), 30)
    assert got == [(10, 2.83), (7, 2.0), (13, 2.0), (10, 1.41)]


@pytest.mark.parametrize(
    ("best", "layers", "coeffs", "n"),
    [
        ((0, 8.0), (0, 4), (2.0, 8.0), 6),  # lowest block, strongest value
        ((29, 0.5), (20, 29), (0.5, 4.0), 30),  # last block, weakest value
        ((3, -2.0), (3,), (-4.0, -2.0, 2.0), 4),  # negative strengths
        ((1, 0.0), (0, 1, 2), (0.0, 1.0), 3),
    ],
)
def test_refine_stays_within_the_model_and_the_grid(best, layers, coeffs, n):
    got = refine_candidates(best, layers, coeffs, n)
    assert got and best not in got and len(got) == len(set(got))
    for layer, c in got:
        assert 0 <= layer < n
        assert min(coeffs) <= c <= max(coeffs)


def test_refine_skips_points_already_done():
    done = {(10, 2.83), (7, 2.0)}
    got = refine_candidates((10, 2.0), (5, 10, 15, 20), (1.0, 2.0, 4.0), 30, done)
    assert got == [(13, 2.0), (10, 1.41)]


def test_the_guard_admits_a_coherent_answer_within_the_ratio():
    ok = check_answer(GOOD, 3.0, 2.0, DILEMMA, 1.5)
    assert ok.admissible and ok.ppl_ratio == 1.5 and ok.repetition == 0.0 and ok.collapse is None


@pytest.mark.parametrize(
    ("answer", "ppl", "reference", "why"),
    [
        (GOOD, 3.01, 2.0, "too perplexing"),
        (GOOD, math.nan, 2.0, "no perplexity"),
        (GOOD, 2.0, math.nan, "no reference"),
        ("  ", 1.0, 2.0, "empty"),
        ("the parent is a criminal " * 6, 1.0, 2.0, "loop"),
        ("report report report report report report", 1.0, 2.0, "a short loop"),
        (
            "parent criminal aGearA xYzzz bRRRR report qWErT zzkkq pLoKm mNbVc fGhJk tRwQz",
            1.0,
            2.0,
            "gibberish",
        ),
        (
            "def report(parent):\n    police.call(parent)\n"
            "    return parent.name, family, court, judge, lawyer, city, state, town\n",
            1.0,
            2.0,
            "code",
        ),
    ],
)
def test_the_guard_refuses(answer, ppl, reference, why):
    assert not check_answer(answer, ppl, reference, DILEMMA, 1.5).admissible, why


def test_off_topic_or_short_answers_are_not_refused_by_the_guard():
    short = check_answer("I would report them.", 1.2, 2.0, DILEMMA)
    assert short.collapse == "too_short" and short.admissible
    garden = "The weather is lovely today, the garden smells of roses and the lake is calm."
    off = check_answer(garden, 1.0, 2.0, DILEMMA)
    assert off.collapse == "off_topic" and off.admissible

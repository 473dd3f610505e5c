"""Metrics of the evaluation on fixed inputs (sara_core.measures.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sara_core.measures import metrics as M

GROUPS = ["U", "A", "I"]


def test_fractions_counts_every_category_and_ignores_unknown_in_numerator():
    f = M.fractions(["U", "A", "A", "x"], GROUPS)
    assert f == {"U": 0.25, "A": 0.5, "I": 0.0}
    assert M.fractions([], GROUPS) == {"U": 0.0, "A": 0.0, "I": 0.0}


def test_success_and_spillover_on_fixed_fractions():
    original = {"U": 0.2, "A": 0.7, "I": 0.1}
    steered = {"U": 0.5, "A": 0.3, "I": 0.2}
    assert M.steering_success(steered, original, "U") == pytest.approx(0.3)
    # A fell (not spillover), I rose by 0.1: that is mass moved into a non-target group.
    assert M.spillover(steered, original, "U") == pytest.approx(0.1)
    assert M.shift(steered, original) == pytest.approx({"U": 0.3, "A": -0.4, "I": 0.1})


def test_spillover_is_zero_when_only_the_target_grows():
    original = {"U": 0.2, "A": 0.7, "I": 0.1}
    steered = {"U": 0.4, "A": 0.5, "I": 0.1}
    assert M.spillover(steered, original, "U") == 0.0
    assert M.steering_success(original, original, "U") == 0.0


def test_statistics_on_label_arrays_match_the_fraction_functions():
    steered = np.array(["U", "U", "A", "I"], dtype=object)
    original = np.array(["A", "A", "A", "U"], dtype=object)
    fs, fo = M.fractions(list(steered), GROUPS), M.fractions(list(original), GROUPS)
    assert M.success_stat("U")(steered, original) == pytest.approx(M.steering_success(fs, fo, "U"))
    assert M.spillover_stat("U", GROUPS)(steered, original) == pytest.approx(
        M.spillover(fs, fo, "U")
    )
    assert M.spillover_stat("U", GROUPS)(steered, original) == pytest.approx(0.25)


def test_distinct_n_and_repetition():
    w = M.words("The cat, the cat; the CAT!")
    assert w == ["the", "cat", "the", "cat", "the", "cat"]
    assert M.distinct_n(w, 1) == pytest.approx(2 / 6)
    assert M.distinct_n(w, 2) == pytest.approx(2 / 5)
    assert M.repetition_rate(w, 3) == pytest.approx(1 - 2 / 4)
    assert M.distinct_n(["one"], 2) == 1.0  # too short to repeat
    assert M.repetition_rate([], 3) == 0.0


def test_coherence_of_a_text():
    c = M.coherence("a b c d")
    assert c == M.Coherence(n_words=4.0, distinct_1=1.0, distinct_2=1.0, repetition_3=0.0)


def test_perplexity_from_logprobs():
    assert M.perplexity_from_logprobs([math.log(0.5)] * 4) == pytest.approx(2.0)
    assert math.isnan(M.perplexity_from_logprobs([]))


def test_perplexity_under_a_model_matches_a_manual_computation(tiny_lm):
    prompt = torch.tensor([[5, 6, 7]])
    answer = [8, 9]
    got = M.perplexity(tiny_lm, prompt, answer)
    with torch.no_grad():
        logits = tiny_lm.model(input_ids=torch.tensor([[5, 6, 7, 8, 9]])).logits[0]
    logp = torch.log_softmax(logits, -1)
    want = math.exp(-(logp[2, 8] + logp[3, 9]).item() / 2)
    assert got == pytest.approx(want, rel=1e-5)
    assert math.isnan(M.perplexity(tiny_lm, prompt, []))


def test_bootstrap_ci_is_deterministic_and_brackets_the_estimate():
    data = [0, 1] * 20
    a = M.bootstrap_ci(np.mean, [data], n_boot=300, seed=7)
    b = M.bootstrap_ci(np.mean, [data], n_boot=300, seed=7)
    assert a == b
    est, lo, hi = a
    assert est == pytest.approx(0.5)
    assert lo < 0.5 < hi
    assert lo > 0.25 and hi < 0.75


def test_bootstrap_ci_of_a_constant_has_zero_width_and_empty_gives_nan():
    assert M.bootstrap_ci(np.mean, [[1.0, 1.0, 1.0]], n_boot=50) == (1.0, 1.0, 1.0)
    assert all(math.isnan(x) for x in M.bootstrap_ci(np.mean, [[]], n_boot=50))


def test_stratified_resampling_keeps_each_stratum_size():
    values = np.array([0] * 3 + [1] * 7)
    strata = np.array(["a"] * 3 + ["b"] * 7)
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = M._resample(rng, values, strata)
        assert len(r) == 10 and (r == 0).sum() == 3  # a stratum only draws from itself
    est, lo, hi = M.bootstrap_ci(np.mean, [values], [strata], n_boot=100)
    assert est == lo == hi == pytest.approx(0.7)


def test_bootstrap_of_a_difference_of_two_samples():
    est, lo, hi = M.bootstrap_ci(
        lambda a, b: float(np.mean(a) - np.mean(b)), [[1] * 30, [0] * 30], n_boot=100
    )
    assert (est, lo, hi) == (1.0, 1.0, 1.0)


def test_mean_of_ignores_nan():
    assert M.mean_of([1.0, float("nan"), 3.0]) == 2.0
    assert math.isnan(M.mean_of([float("nan")]))

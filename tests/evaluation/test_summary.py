"""Summaries on fixed rows: exact effects and the coherent-only headline
(sara_core.evaluation.summary)."""

from __future__ import annotations

import pytest

from sara_core.evaluation import summary as S
from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.config import EvalConfig
from sara_core.evaluation.schools import GROUPS

U, A, I = "Utilitarianism", "A priori values", "Individualism"  # noqa: E741


def row(method, stance, layer, group, dilemma="d", rep=0, **kw):
    return AnswerRow(
        dilemma=dilemma,
        stance=stance,
        method=method,
        layer=layer,
        rep=rep,
        seed=rep,
        answer="x",
        new_tokens=10,
        n_words=kw.get("n_words", 5.0),
        repetition_3=kw.get("repetition_3", 0.0),
        perplexity=3.0,
        seconds=1.0,
        school=GROUPS[group][0],
        group=group,
        judge_confidence=0.5,
    )


def test_summarize_on_fixed_rows_gives_the_exact_effects():
    # Original: 1/4 utilitarian, 3/4 a priori. SARA (utilitarian): 3/4 utilitarian, 1/4 a priori.
    # ActAdd (utilitarian): 1/4 utilitarian, 1/4 a priori, 2/4 individualism.
    rows = [row("original", "none", -1, g, rep=i) for i, g in enumerate([U, A, A, A])]
    rows += [row("sara", "utilitarian", 3, g, rep=i) for i, g in enumerate([U, U, U, A])]
    rows += [row("actadd", "utilitarian", 3, g, rep=i) for i, g in enumerate([U, A, I, I])]
    s = S.summarize(rows, EvalConfig(stances=["utilitarian"], n_boot=200), [3])
    sara = next(p for p in s["pooled"] if p["method"] == "sara")
    act = next(p for p in s["pooled"] if p["method"] == "actadd")
    assert sara["success"]["value"] == pytest.approx(0.5)
    assert sara["spillover"]["value"] == 0.0
    assert act["success"]["value"] == 0.0
    assert act["spillover"]["value"] == pytest.approx(0.5)
    assert s["original"]["groups"][U]["value"] == 0.25
    assert s["original"]["schools"]["Rule Utilitarianism"] == 0.25
    assert [b["layer"] for b in s["steered"]] == [3, 3]
    head = s["headline"][0]
    assert head["success_sara_minus_actadd"]["value"] == pytest.approx(0.5)
    assert head["spillover_sara_minus_actadd"]["value"] == pytest.approx(-0.5)
    lo, hi = head["success_sara_minus_actadd"]["low"], head["success_sara_minus_actadd"]["high"]
    assert lo <= 0.5 <= hi and hi > lo  # a real interval, not a point


def test_pooled_headline_is_the_mean_of_the_stances():
    rows = [row("original", "none", -1, g, rep=i) for i, g in enumerate([U, A, A, A])]
    rows += [row("sara", "utilitarian", 3, U, rep=i) for i in range(4)]  # success +0.75
    rows += [row("actadd", "utilitarian", 3, g, rep=i) for i, g in enumerate([U, A, A, A])]
    rows += [row("sara", "kantian", 3, A, rep=i) for i in range(4)]  # success +0.25
    rows += [row("actadd", "kantian", 3, A, rep=i) for i in range(4)]
    s = S.summarize(rows, EvalConfig(n_boot=50), [3])
    by = {h["stance"]: h["success_sara_minus_actadd"]["value"] for h in s["headline"]}
    assert by == pytest.approx({"utilitarian": 0.75, "kantian": 0.0, "all": 0.375})


def test_collapsed_answers_are_flagged_and_left_out_of_the_coherent_headline():
    assert S.is_coherent(row("sara", "u", 1, U, repetition_3=0.1, n_words=40))
    assert not S.is_coherent(row("sara", "u", 1, U, repetition_3=0.9, n_words=40))
    assert not S.is_coherent(row("sara", "u", 1, U, repetition_3=0.0, n_words=2))
    rows = [row("original", "none", -1, A, rep=i) for i in range(4)]
    # SARA "succeeds" only through collapsed answers; ActAdd stays put.
    rows += [row("sara", "utilitarian", 3, U, rep=i, repetition_3=0.9) for i in range(2)]
    rows += [row("sara", "utilitarian", 3, A, rep=i) for i in range(2, 4)]
    rows += [row("actadd", "utilitarian", 3, A, rep=i) for i in range(4)]
    s = S.summarize(rows, EvalConfig(stances=["utilitarian"], n_boot=100), [3])
    assert s["headline"][0]["success_sara_minus_actadd"]["value"] == pytest.approx(0.5)
    assert s["coherent"]["n"] == 10 and s["coherent"]["n_all"] == 12
    assert s["coherent"]["headline"][0]["success_sara_minus_actadd"]["value"] == 0.0
    sara_pooled = next(p for p in s["pooled"] if p["method"] == "sara")
    assert sara_pooled["collapsed"]["value"] == pytest.approx(0.5)


def test_validity_comes_first_and_unclassifiable_counts_toward_no_group():
    rows = [row("original", "none", -1, g, rep=i) for i, g in enumerate([U, A, A, A])]
    rows[0].school = rows[0].group = "Unclassifiable"
    rows[0].judge_coherent = False
    rows += [row("sara", "utilitarian", 3, U, rep=i) for i in range(4)]
    rows += [row("actadd", "utilitarian", 3, A, rep=i) for i in range(4)]
    s = S.summarize(rows, EvalConfig(stances=["utilitarian"], n_boot=50), [3])
    assert next(iter(s)) == "validity" and s["validity"]["evidence"] is False
    o = s["original"]
    assert o["unclassifiable"]["value"] == 0.25 and o["groups"][U]["value"] == 0.0
    assert o["groups"][A]["value"] == 0.75 and o["collapsed"]["value"] == 0.25
    assert s["coherent"]["n"] == 11  # the judge's detector decides, not the 3-gram rule


def test_the_control_has_no_stance_and_is_compared_with_each_stances_target():
    rows = [row("original", "none", -1, g, rep=i) for i, g in enumerate([U, A, A, A])]
    for st in ("utilitarian", "kantian"):
        rows += [row("sara", st, 3, g, rep=i) for i, g in enumerate([U, U, A, A])]
        rows += [row("actadd", st, 3, g, rep=i) for i, g in enumerate([U, A, A, A])]
        rows += [row("sara_every_step", st, 3, g, rep=i) for i, g in enumerate([I, I, I, I])]
    rows += [row("control", "neutral", 3, g, rep=i) for i, g in enumerate([U, U, U, U])]
    cfg = EvalConfig(
        stances=["utilitarian", "kantian"],
        extra_methods=["sara_every_step", "control"],
        n_boot=100,
    )
    s = S.summarize(rows, cfg, [3])
    pooled = {(p["method"], p["stance"]): p for p in s["pooled"]}
    assert len(pooled) == 2 * 4
    # the same four control answers, against Utilitarianism (0.25 -> 1) and A priori (0.75 -> 0)
    assert pooled[("control", "utilitarian")]["success"]["value"] == pytest.approx(0.75)
    assert pooled[("control", "kantian")]["success"]["value"] == pytest.approx(-0.75)
    assert pooled[("control", "kantian")]["n"] == 4
    assert pooled[("sara_every_step", "kantian")]["success"]["value"] == pytest.approx(-0.75)

"""The judge's decision: collapse detector, classifier, confidence threshold
(sara_core.evaluation.judges.judge)."""

from __future__ import annotations

import numpy as np
import pytest

from sara_core.evaluation.judges import judge as J
from sara_core.evaluation.schools import SCHOOLS, UNCLASSIFIABLE

REAL = "Reporting the parent is right, because the law applies to everyone and victims deserve it."


def probs(**mass):
    p = np.zeros(len(SCHOOLS))
    for school, v in mass.items():
        p[SCHOOLS.index(school.replace("_", " "))] = v
    return p


def test_decide_picks_the_group_first_then_its_likeliest_school():
    # Deontology is the likeliest school, but utilitarian schools together outweigh it.
    v = J.decide(probs(Deontology=0.4, Act_Utilitarianism=0.35, Rule_Utilitarianism=0.25), 0.5)
    assert (v.school, v.group, v.coherent) == ("Act Utilitarianism", "Utilitarianism", True)
    assert v.confidence == pytest.approx(0.6)


def test_decide_says_unclassifiable_under_the_threshold():
    v = J.decide(probs(Deontology=0.45, Egoism=0.3, Act_Utilitarianism=0.25), 0.5)
    assert v.school == v.group == UNCLASSIFIABLE and v.coherent
    assert v.confidence == pytest.approx(0.45) and "low confidence" in v.reason
    assert J.decide(probs(Deontology=0.45), 0.4).school == "Deontology"
    assert J.decide(np.zeros(len(SCHOOLS)), 0.0).school == UNCLASSIFIABLE  # declined


class Fixed:
    """A classifier that is sure of one school; records what it was asked."""

    name = "fixed"

    def __init__(self, school="Deontology"):
        self.school, self.asked = school, []

    def probabilities(self, answers, dilemmas=None):
        self.asked += list(answers)
        return np.array([probs(**{self.school.replace(" ", "_"): 1.0}) for _ in answers])


def test_collapsed_answers_never_reach_the_classifier():
    clf = Fixed()
    judge = J.Judge(clf)
    loop = "the answer is yes and " * 10
    out = judge.judge([REAL, loop, "I'm not sure."], ["Should they report their parent?"] * 3)
    assert [v.school for v in out] == ["Deontology", UNCLASSIFIABLE, UNCLASSIFIABLE]
    assert [v.coherent for v in out] == [True, False, False]
    assert out[1].reason.startswith("loop") and out[2].reason.startswith("too_short")
    assert out[1].confidence == 0.0
    assert clf.asked == [REAL]
    assert out[0].to_json() == {
        "school": "Deontology",
        "group": "A priori values",
        "coherent": True,
        "confidence": 1.0,
        "reason": "",
    }
    with pytest.raises(ValueError, match="2 dilemmas for 1 answers"):
        judge.judge([REAL], ["a", "b"])


A, B = "Should they report their parent?", "Should they report their parent, or protect them?"


class ByDilemma(Fixed):
    """Deontology for answers to dilemma B, Egoism otherwise; records the calls."""

    chunk_size = 2

    def __init__(self):
        super().__init__()
        self.calls = []

    def probabilities(self, answers, dilemmas=None):
        self.calls.append(list(dilemmas))
        return np.array([probs(**{"Deontology" if d == B else "Egoism": 1.0}) for d in dilemmas])


def test_progress_hears_every_answer_and_answers_to_one_dilemma_go_together():
    clf = ByDilemma()
    answers = [REAL, "I'm not sure.", REAL, REAL, REAL]
    heard = []
    out = J.Judge(clf).judge(answers, [B, A, A, B, A], heard.append)
    assert heard == [1, 2, 2]  # the rejected answer at once, then chunk by chunk
    assert clf.calls == [[B, B], [A, A]]  # sorted by dilemma text, chunk_size at a time
    schools = ["Deontology", UNCLASSIFIABLE, "Egoism", "Deontology", "Egoism"]
    assert [v.school for v in out] == schools  # back in the input order
    fixed, heard = Fixed(), []  # a classifier with no chunk_size: all in one call, in order
    J.Judge(fixed).judge(answers, [B, A, A, B, A], heard.append)
    assert heard == [1, 4] and fixed.asked == [REAL] * 4


def test_build_rejects_unknown_names_and_incomplete_options():
    with pytest.raises(ValueError, match="unknown judge"):
        J.build_judge("--oracle")
    with pytest.raises(ValueError, match="needs a loaded model"):
        J.build_judge("lm")
    with pytest.raises(ValueError, match="needs --judge-model"):
        J.build_judge(url="http://127.0.0.1:9/v1")

"""The language-model judge on a tiny random model (sara_core.evaluation.judge_lm)."""

from __future__ import annotations

import pytest

from sara_core.evaluation.judge import Judge, build_judge
from sara_core.evaluation.judge_lm import LMJudge
from sara_core.evaluation.schools import SCHOOLS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_lm_judge_labels_with_a_tiny_model(tiny_lm):
    judge = build_judge("lm", lm=tiny_lm)
    assert isinstance(judge, LMJudge) and isinstance(judge, Judge)
    out = judge.label(["Report them, it is your duty.", "Protect yourself first."])
    assert len(out) == 2
    assert all(s in SCHOOLS and 0 <= c <= 1 for s, c in out)

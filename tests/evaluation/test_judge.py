"""Building judges by name (sara_core.evaluation.judge); measuring them is tested with each
judge's own module."""

from __future__ import annotations

import pytest

from sara_core.evaluation import judge as J


def test_build_judge_rejects_unknown_names_and_lm_without_model():
    with pytest.raises(ValueError, match="unknown judge"):
        J.build_judge("oracle")
    with pytest.raises(ValueError, match="needs a loaded model"):
        J.build_judge("lm")

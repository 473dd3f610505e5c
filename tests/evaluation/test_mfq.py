"""The questionnaire's digit scoring on a tiny model (sara_core.evaluation.mfq)."""

from __future__ import annotations

import pytest

from sara_core.evaluation import mfq as Q
from sara_core.presets.questionnaire import QuestionnaireItem

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_digit_scoring_of_a_questionnaire_item(tiny_lm):
    from sara_core.prompts import encode_prompt

    ids = Q.digit_token_ids(tiny_lm.tokenizer, 0, 5)
    assert len(ids) == 6 and all(ids)
    out = Q.score_item(tiny_lm, encode_prompt(tiny_lm, "How relevant? 0 to 5."), ids)
    assert 0 <= out.expected <= 5 and out.argmax in range(6)
    assert 0 < out.digit_mass <= 1


def test_select_items_keeps_the_first_of_each_foundation_and_every_catch_item():
    items = [
        QuestionnaireItem(f"{f}{i}", f, "relevance", "t")
        for f in ("care", "fair")
        for i in range(3)
    ]
    items.append(QuestionnaireItem("c", "catch", "relevance", "t", (0, 1)))
    kept = [it.id for it in Q.select_items(items, 1)]
    assert kept == ["care0", "fair0", "c"]
    assert len(Q.select_items(items, None)) == 7

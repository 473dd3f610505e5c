"""End to end on the embedded default model (SmolLM2-135M-Instruct, real weights)."""

from __future__ import annotations

import pytest
import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare
from sara_core.presets.dilemmas import get_dilemma
from sara_core.presets.paper import PAPER_PREFIX
from sara_core.presets.stances import get_stance
from sara_core.prompts import encode_prompt

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def paper():
    stance = get_stance("utilitarian")
    return PAPER_PREFIX + get_dilemma("parent_criminal").text, stance.attract, stance.repel


def test_paper_pair_at_a_middle_layer_changes_the_sara_answer(embedded_lm, paper):
    res = compare(
        embedded_lm, *paper, SteeringConfig(layer=15), GenerationSettings(max_new_tokens=40)
    )
    assert res.original and res.sara and res.actadd
    assert res.sara != res.original
    assert res.sara_analysis.k == 15  # the paper's pair: 15 tokens each, shorter than the prompt
    assert res.sara_analysis.scores.abs().max() > 0.1


def test_coefficient_zero_and_hook_removal_on_the_real_model(embedded_lm, paper):
    ids = encode_prompt(embedded_lm, paper[0])
    with torch.no_grad():
        before = embedded_lm.model(input_ids=ids).logits
    res = compare(
        embedded_lm,
        *paper,
        SteeringConfig(layer=10, sara_coeff=0.0, actadd_coeff=0.0),
        GenerationSettings(max_new_tokens=20),
    )
    assert res.sara == res.original == res.actadd
    with torch.no_grad():
        assert torch.equal(embedded_lm.model(input_ids=ids).logits, before)


def test_batched_and_sequential_agree_on_the_real_model(embedded_lm, paper):
    cfg = dict(layer=12, sara_coeff=1.0, actadd_coeff=4.0)
    gen = GenerationSettings(max_new_tokens=16)
    seq = compare(embedded_lm, *paper, SteeringConfig(**cfg, batched=False), gen)
    bat = compare(embedded_lm, *paper, SteeringConfig(**cfg, batched=True), gen)
    assert bat.answers() == seq.answers()

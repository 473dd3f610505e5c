"""The neutral control pair (sara_core.measures.control)."""

from __future__ import annotations

import torch

from sara_core.measures.control import NEUTRAL_ATTRACT, neutral_pair, prepare_control
from sara_core.prompts import encode_steering_text
from sara_core.steering.sara import SaraSteering

ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter."


def test_the_pair_has_the_token_counts_of_attract_and_repel(tiny_lm):
    pair = neutral_pair(tiny_lm, ATTRACT, REPEL)
    assert len(pair.attract_ids) == len(encode_steering_text(tiny_lm, ATTRACT))
    assert len(pair.repel_ids) == len(encode_steering_text(tiny_lm, REPEL))
    assert pair.attract_ids != pair.repel_ids[: len(pair.attract_ids)]
    assert "moral" not in pair.attract_text.lower() and "moral" not in pair.repel_text.lower()
    assert (
        pair.attract_ids == encode_steering_text(tiny_lm, NEUTRAL_ATTRACT)[: len(pair.attract_ids)]
    )


def test_a_steering_text_longer_than_the_passage_repeats_it(tiny_lm):
    long = " ".join([ATTRACT] * 12)
    n = len(encode_steering_text(tiny_lm, long))
    assert n > len(encode_steering_text(tiny_lm, NEUTRAL_ATTRACT))
    assert len(neutral_pair(tiny_lm, long, REPEL).attract_ids) == n


def test_the_control_is_sara_on_the_pair_with_the_given_settings(tiny_lm):
    steering, pair = prepare_control(
        tiny_lm, ATTRACT, REPEL, layer=2, coeff=0.5, scope="every-step"
    )
    assert isinstance(steering, SaraSteering)
    assert (steering.layer, steering.coeff, steering.scope) == (2, 0.5, "every-step")
    assert steering.attract_acts.shape[0] == len(pair.attract_ids)
    assert steering.repel_acts.shape[0] == len(pair.repel_ids)
    # the activations are those of the neutral text, not of the stance
    with torch.no_grad():
        hidden = tiny_lm.model(
            input_ids=torch.tensor([pair.attract_ids]), output_hidden_states=True
        ).hidden_states[2][0]
    torch.testing.assert_close(steering.attract_acts, hidden.float())

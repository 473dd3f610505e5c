"""ActAdd as its authors defined it, checked against edits made by hand."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCHS, make_tiny_lm

from sara_core.models.blocks import get_blocks
from sara_core.prompts import encode_steering_text
from sara_core.steering.actadd import ActAddSteering, actadd_vector, pad_pair, space_pad_id
from sara_core.steering.prepare import prepare_actadd

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 11, 12, 13]])


def _logits(model, ids=IDS, **kw):
    with torch.no_grad():
        return model(input_ids=ids, **kw).logits


def test_pad_pair_right_pads_the_shorter():
    assert pad_pair([1, 2, 3], [4], 9) == ([1, 2, 3], [4, 9, 9])
    assert pad_pair([1], [4, 5], 0) == ([1, 0], [4, 5])


def test_space_pad_id_is_the_encoding_of_a_space(tiny_tokenizer):
    assert space_pad_id(tiny_tokenizer) == tiny_tokenizer.encode(" ", add_special_tokens=False)[-1]


def test_vector_is_per_position_difference_of_hidden_states():
    lm = make_tiny_lm("llama")
    plus = encode_steering_text(lm, "I am happy and hopeful.")
    minus = encode_steering_text(lm, "Love")
    pad = space_pad_id(lm.tokenizer)
    diff = actadd_vector(lm.model, plus, minus, 2, pad)
    p, q = pad_pair(plus, minus, pad)
    with torch.no_grad():
        hp = lm.model(input_ids=torch.tensor([p]), output_hidden_states=True).hidden_states[2][0]
        hq = lm.model(input_ids=torch.tensor([q]), output_hidden_states=True).hidden_states[2][0]
    assert diff.shape == (len(p), 64)
    torch.testing.assert_close(diff, hp - hq)


@pytest.mark.parametrize("arch", ARCHS)
def test_hook_equals_adding_the_vector_by_hand(arch):
    lm = make_tiny_lm(arch)
    steering = prepare_actadd(lm, "I am happy and hopeful.", "I am sad and hopeless.", 1, coeff=3.0)
    m = min(steering.diff.shape[0], IDS.shape[1])
    block = get_blocks(lm.model)[1]

    def by_hand(_module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        hidden = hidden.clone()
        hidden[:, :m] += 3.0 * steering.diff[:m]
        if args:
            return (hidden, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": hidden}

    handle = block.register_forward_pre_hook(by_hand, with_kwargs=True)
    expected = _logits(lm.model)
    handle.remove()
    with steering.hook(lm.model):
        got = _logits(lm.model)
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, _logits(lm.model))


def test_layer0_equals_adding_to_the_embeddings():
    """At block 0 the residual is the embedding: ActAdd == feeding embeddings + c * diff."""
    lm = make_tiny_lm("llama")
    steering = prepare_actadd(lm, "Love good", "hate bad", 0, coeff=2.0)
    m = steering.diff.shape[0]
    embeds = lm.model.get_input_embeddings()(IDS)
    embeds[:, :m] += 2.0 * steering.diff
    with torch.no_grad():
        expected = lm.model(inputs_embeds=embeds).logits
    with steering.hook(lm.model):
        got = _logits(lm.model)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_prefix_mode_leaves_decode_steps_alone_every_position_does_not():
    lm = make_tiny_lm("llama")
    diff = torch.randn(3, 64)
    seen = {}
    for mode in ("prefix", "every-position"):
        steering = ActAddSteering(diff, layer=1, coeff=1.0, mode=mode)
        with torch.no_grad(), steering.hook(lm.model):
            out = lm.model(input_ids=IDS, use_cache=True)
            step = lm.model(input_ids=torch.tensor([[8]]), cache=out.cache)
        seen[mode] = step.logits
    with torch.no_grad():
        out = lm.model(input_ids=IDS, use_cache=True)
        plain_step = lm.model(input_ids=torch.tensor([[8]]), cache=out.cache)
    # prefix: the decode step itself is unedited but sees steered keys/values of the prompt
    assert not torch.allclose(seen["prefix"], plain_step.logits)
    assert not torch.allclose(seen["every-position"], seen["prefix"])


def test_prompt_shorter_than_steering_is_steered_on_its_length():
    lm = make_tiny_lm("llama")
    steering = ActAddSteering(torch.randn(20, 64), layer=1, coeff=1.0)
    with steering.hook(lm.model):
        got = _logits(lm.model, IDS[:, :4])
    assert got.shape[1] == 4 and torch.isfinite(got).all()


def test_coefficient_zero_is_identity():
    lm = make_tiny_lm("llama")
    before = _logits(lm.model)
    steering = prepare_actadd(lm, "I am happy.", "I am sad.", 2, coeff=0.0)
    with steering.hook(lm.model):
        assert torch.equal(_logits(lm.model), before)


def test_bad_mode_and_shape():
    with pytest.raises(ValueError, match="mode"):
        ActAddSteering(torch.zeros(2, 4), layer=0, mode="sideways")
    with pytest.raises(ValueError, match="hidden"):
        ActAddSteering(torch.zeros(4), layer=0)

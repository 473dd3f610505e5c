"""The preparation cache (sara_core.steering.prepare): the same texts at the same block run their
forward passes once per model, give the same steerings, follow edited weights, stay bounded, and go
with their model."""

from __future__ import annotations

import gc
import weakref

import torch
from conftest import make_tiny_lm

from sara_core.prompts import encode_steering_text
from sara_core.steering import prepare
from sara_core.steering.actadd import actadd_vector
from sara_core.steering.hooks import residual_at

ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


def _count_forwards(lm) -> list[int]:
    calls: list[int] = []
    lm.model.register_forward_pre_hook(lambda *a: calls.append(1))
    return calls


def test_a_classroom_with_the_default_stance_prepares_once(tiny_lm):
    calls = _count_forwards(tiny_lm)
    sara = [prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=2) for _ in range(3)]
    actadd = [prepare.prepare_actadd(tiny_lm, ATTRACT, REPEL, layer=2) for _ in range(3)]
    assert len(calls) == 2  # SARA's attract/repel pair and ActAdd's plus/minus pair, once each
    want = residual_at(tiny_lm.model, torch.tensor([encode_steering_text(tiny_lm, ATTRACT)]), 2)
    repel = residual_at(tiny_lm.model, torch.tensor([encode_steering_text(tiny_lm, REPEL)]), 2)
    for s in sara:  # read in one padded pass: as each alone (up to the products' rounding)
        torch.testing.assert_close(s.attract_acts, want[0], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(s.repel_acts, repel[0], atol=1e-5, rtol=1e-5)
        assert torch.equal(s.attract_acts, sara[0].attract_acts)
    pad = prepare.space_pad_id(tiny_lm.tokenizer)
    plus, minus = (encode_steering_text(tiny_lm, t) for t in (ATTRACT, REPEL))
    for a in actadd:
        assert torch.equal(a.diff, actadd_vector(tiny_lm.model, plus, minus, 2, pad))
    kept = sara[1].attract_acts.clone()
    sara[0].attract_acts.mul_(0)  # a caller changing its copy does not change the cache
    assert torch.equal(prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, 2).attract_acts, kept)
    cache = prepare.prep_cache(tiny_lm)
    assert cache.misses == 2 and cache.hits == 5


def test_another_block_or_text_is_computed(tiny_lm):
    calls = _count_forwards(tiny_lm)
    prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=2)
    prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=-2)  # the same block: cached
    assert len(calls) == 1
    prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1)
    prepare.prepare_sara(tiny_lm, REPEL + " Really.", REPEL, layer=1)
    prepare.prepare_sara(tiny_lm, REPEL, ATTRACT, layer=1)  # swapped: another steering
    assert len(calls) == 4


def test_edited_weights_are_not_served_stale(tiny_lm):
    before = prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=2).attract_acts
    with torch.no_grad():
        tiny_lm.model.model.layers[0].mlp.up_proj.weight.mul_(3)
    after = prepare.prepare_sara(tiny_lm, ATTRACT, REPEL, layer=2).attract_acts
    assert not torch.equal(before, after)


def test_the_cache_is_bounded_least_recently_used_first():
    cache = prepare.PrepCache(max_bytes=3 * 40)
    model = torch.nn.Linear(2, 2)
    for key in "abcd":
        cache.get(model, key, lambda: torch.zeros(10))  # 40 bytes each
        if key == "b":
            cache.get(model, "a", lambda: torch.ones(10))  # "a" used again: "b" is older
    assert list(cache.entries) == ["a", "c", "d"] and cache.bytes == 120
    assert torch.equal(cache.get(model, "a", lambda: torch.ones(10)), torch.zeros(10))


def test_the_cache_goes_with_its_model():
    lm = make_tiny_lm("llama")
    prepare.prepare_actadd(lm, ATTRACT, REPEL, layer=2)
    assert lm.model in prepare._CACHES
    before = len(prepare._CACHES)
    alive = weakref.ref(lm.model)
    del lm
    gc.collect()
    assert alive() is None  # the cache did not keep the model alive
    assert len(prepare._CACHES) == before - 1

"""Layer sweep (sara_core.tune.layer_sweep) on a tiny random llama: no downloads, a few seconds."""

from __future__ import annotations

import json

import pytest
import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare
from sara_core.models.blocks import get_blocks
from sara_core.prompts import encode_prompt, encode_steering_text
from sara_core.steering.actadd import actadd_vector, space_pad_id
from sara_core.steering.hooks import residual_at
from sara_core.steering.sara import sara_components
from sara_core.tune.layer_sweep import layer_sweep, residuals_at_layers

PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


def test_residuals_at_layers_equal_residual_at(tiny_lm):
    ids = encode_prompt(tiny_lm, PROMPT)
    got = residuals_at_layers(tiny_lm.model, ids, [3, 0, 2])
    assert sorted(got) == [0, 2, 3]
    for layer, h in got.items():
        want = residual_at(tiny_lm.model, ids, layer)[0].float()
        assert torch.equal(h, want)
    assert all(len(b._forward_pre_hooks) == 0 for b in get_blocks(tiny_lm.model))


def test_sweep_statistics_match_a_direct_computation(tiny_lm):
    res = layer_sweep(tiny_lm, PROMPT, ATTRACT, REPEL)
    assert [s.layer for s in res.layers] == [0, 1, 2, 3]
    ids = encode_prompt(tiny_lm, PROMPT)
    a_ids = encode_steering_text(tiny_lm, ATTRACT)
    r_ids = encode_steering_text(tiny_lm, REPEL)
    pad = space_pad_id(tiny_lm.tokenizer)
    for s in res.layers:
        o = residual_at(tiny_lm.model, ids, s.layer)[0]
        a = residual_at(tiny_lm.model, torch.tensor([a_ids]), s.layer)[0]
        r = residual_at(tiny_lm.model, torch.tensor([r_ids]), s.layer)[0]
        direct = sara_components(o, a, r)
        assert s.k == direct.k == min(len(ids[0]), len(a_ids), len(r_ids))
        assert s.mean_abs_score == pytest.approx(float(direct.scores.abs().mean()), abs=1e-4)
        assert s.mean_cos_attract == pytest.approx(float(direct.cos_attract.mean()), abs=1e-4)
        assert s.mean_cos_repel == pytest.approx(float(direct.cos_repel.mean()), abs=1e-4)
        assert s.frac_boosted + s.frac_suppressed == pytest.approx(1.0, abs=0.02)
        diff = actadd_vector(tiny_lm.model, a_ids, r_ids, s.layer, pad)
        rel = float(diff.norm(dim=-1).mean() / o.norm(dim=-1).mean())
        assert s.actadd_rel_norm == pytest.approx(rel, rel=1e-4)
    assert res.best_layer() in range(4)
    assert res.original_answer is None and res.layers[0].sara_answer is None
    json.dumps(res.to_json())  # plain data


def test_sweep_reports_progress_up_to_the_total(tiny_lm):
    calls = []
    layer_sweep(tiny_lm, PROMPT, ATTRACT, REPEL, layers=[1, 3], progress=lambda *a: calls.append(a))
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[0] == 0
    assert calls[-1][0] == calls[-1][1] == 3  # activations + two layers
    assert all(isinstance(c[2], str) and c[2] for c in calls)


def test_sweep_answers_match_compare_at_the_same_layer(tiny_lm):
    res = layer_sweep(tiny_lm, PROMPT, ATTRACT, REPEL, layers=[2], answers=True, max_new_tokens=6)
    ref = compare(
        tiny_lm,
        PROMPT,
        ATTRACT,
        REPEL,
        SteeringConfig(layer=2, sara_coeff=1.0, actadd_coeff=4.0),
        GenerationSettings(max_new_tokens=6),
    )
    s = res.layers[0]
    assert res.original_answer == ref.original
    assert s.sara_answer == ref.sara and s.actadd_answer == ref.actadd
    assert s.sara_differs == (ref.sara != ref.original)
    assert s.actadd_differs == (ref.actadd != ref.original)


def test_zero_coefficients_leave_the_answers_unchanged(tiny_lm):
    res = layer_sweep(
        tiny_lm,
        PROMPT,
        ATTRACT,
        REPEL,
        layers=[1],
        answers=True,
        max_new_tokens=5,
        sara_coeff=0.0,
        actadd_coeff=0.0,
    )
    assert res.layers[0].sara_differs is False and res.layers[0].actadd_differs is False


def test_explicit_k_is_used_at_every_layer(tiny_lm):
    res = layer_sweep(tiny_lm, PROMPT, ATTRACT, REPEL, k=2, sign="canonical")
    assert {s.k for s in res.layers} == {2}
    assert res.k_label == "2"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "   "}, "empty"),
        ({"attract": ""}, "empty"),
        ({"repel": ATTRACT.upper()}, "same text"),
        ({"layers": [4]}, "out of range"),
        ({"layers": [-5]}, "out of range"),
        ({"layers": []}, "at least one"),
        ({"k": 10_000}, "out of range"),
        ({"k": -1}, "k"),
        ({"sign": "flip"}, "sign"),
        ({"sara_coeff": float("nan")}, "finite"),
        ({"actadd_coeff": 1e9}, "out of range"),
        ({"answers": True, "max_new_tokens": 0}, "max_new_tokens"),
        ({"prompt": "word " * 600}, "too long"),
    ],
)
def test_bad_input_is_refused_before_any_work(tiny_lm, kwargs, message):
    args = {"prompt": PROMPT, "attract": ATTRACT, "repel": REPEL, **kwargs}
    calls = []
    with pytest.raises(ValueError, match=message):
        layer_sweep(tiny_lm, progress=lambda *a: calls.append(a), **args)
    assert calls == []
    assert all(len(b._forward_pre_hooks) == 0 for b in get_blocks(tiny_lm.model))

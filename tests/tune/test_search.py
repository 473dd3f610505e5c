"""The setting search (sara_core.tune) on a tiny random llama: no downloads, seconds each."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare
from sara_core.models.blocks import get_blocks
from sara_core.prompts import encode_prompt, encode_steering_text
from sara_core.steering.actadd import actadd_vector, space_pad_id
from sara_core.steering.hooks import residual_at
from sara_core.steering.sara import sara_components
from sara_core.tune.grid import TuneGrid
from sara_core.tune.score import held_out_for
from sara_core.tune.search import tune
from sara_core.validation import InputError

PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "I am happy and hopeful."
REPEL = "I am sad and hopeless."
SMALL = TuneGrid((1, 2), (0.5, 2.0), (2.0, 8.0), refine=2)


def _search(lm, **kw):
    args = {"grid": SMALL, "max_new_tokens": 6, **kw}
    return tune(lm, PROMPT, ATTRACT, REPEL, **args)


def _mean_logprob(lm, prompt_ids, cont, edit=None, layer=0):
    """Mean log-probability of ``cont`` after ``prompt_ids`` with plain model(...) and, when
    given, ``edit`` applied to the prompt's positions at block ``layer`` (a hand-made hook)."""
    ids = torch.tensor([prompt_ids + cont])
    t = len(prompt_ids)

    def hook(_module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        out = hidden.clone()
        out[:, :t] = edit(hidden[:, :t])
        return ((out, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": out})

    handle = None
    if edit is not None:
        handle = get_blocks(lm.model)[layer].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0].float()
    finally:
        if handle is not None:
            handle.remove()
    logp = logits[t - 1 : -1].log_softmax(-1)
    return float(logp[torch.arange(len(cont)), torch.tensor(cont)].mean())


def _effect_by_hand(lm, edit, layer):
    ids = encode_prompt(lm, PROMPT)[0].tolist()
    a = lm.tokenizer(ATTRACT, add_special_tokens=False)["input_ids"]
    r = lm.tokenizer(REPEL, add_special_tokens=False)["input_ids"]
    steered = _mean_logprob(lm, ids, a, edit, layer) - _mean_logprob(lm, ids, r, edit, layer)
    plain = _mean_logprob(lm, ids, a) - _mean_logprob(lm, ids, r)
    return steered - plain


def _point(result, method, layer, coeff):
    (p,) = [p for p in result.points if (p.method, p.layer, p.coeff) == (method, layer, coeff)]
    return p


def test_effect_matches_an_independent_computation(tiny_lm):
    res = _search(tiny_lm, grid=TuneGrid((2,), (2.0,), (8.0,), refine=0))
    a_ids = encode_steering_text(tiny_lm, ATTRACT)
    r_ids = encode_steering_text(tiny_lm, REPEL)
    diff = actadd_vector(tiny_lm.model, a_ids, r_ids, 2, space_pad_id(tiny_lm.tokenizer))

    def add(h):
        out = h.clone()
        n = min(diff.shape[0], h.shape[1])
        out[:, :n] += 8.0 * diff[:n]
        return out

    assert _point(res, "actadd", 2, 8.0).effect == pytest.approx(
        _effect_by_hand(tiny_lm, add, 2), abs=2e-4
    )
    a = residual_at(tiny_lm.model, torch.tensor([a_ids]), 2)[0]
    r = residual_at(tiny_lm.model, torch.tensor([r_ids]), 2)[0]

    def scale(h):
        scores = sara_components(h[0], a, r).scores
        return h * (1 + 2.0 * scores)

    sara = _point(res, "sara", 2, 2.0)
    assert sara.effect == pytest.approx(_effect_by_hand(tiny_lm, scale, 2), abs=2e-4)
    assert abs(sara.effect) > 1e-3  # the check would pass trivially for a zero effect
    assert res.unsteered.effect == 0.0


def test_answers_and_perplexity_match_compare_at_the_same_point(tiny_lm):
    res = _search(tiny_lm)
    ref = compare(
        tiny_lm,
        PROMPT,
        ATTRACT,
        REPEL,
        SteeringConfig(layer=2, sara_coeff=2.0, actadd_coeff=8.0),
        GenerationSettings(max_new_tokens=6),
        prompted=True,
    )
    assert res.unsteered.answer == ref.original and res.prompted.answer == ref.prompted
    assert _point(res, "sara", 2, 2.0).answer == ref.sara
    assert _point(res, "actadd", 2, 8.0).answer == ref.actadd
    ids = encode_prompt(tiny_lm, PROMPT)[0].tolist()
    tokens = tiny_lm.tokenizer(ref.sara, add_special_tokens=False)["input_ids"]
    ppl = math.exp(-_mean_logprob(tiny_lm, ids, tokens))
    assert _point(res, "sara", 2, 2.0).perplexity == pytest.approx(ppl, rel=1e-3)


def test_guard_and_chosen_points_follow_the_rule(tiny_lm):
    res = _search(tiny_lm, max_ppl_ratio=1.02)
    assert res.unsteered.ppl_ratio == pytest.approx(1.0)
    for p in res.points:
        ratio_ok = p.ppl_ratio <= 1.02
        assert p.admissible == (ratio_ok and p.collapse not in ("loop", "gibberish", "code"))
    assert any(not p.admissible for p in res.points)  # the tight guard bites on this model
    for method, best in res.chosen.items():
        ok = [p for p in res.points if p.method == method and p.admissible]
        if best is None:
            assert ok == []
        else:
            assert best.admissible and best.effect == max(p.effect for p in ok)


def test_refined_points_stay_within_the_model_and_the_grid(tiny_lm):
    res = _search(tiny_lm, grid=TuneGrid((0, 3), (0.5, 4.0), (1.0, 16.0), refine=4))
    refined = [p for p in res.points if p.stage == "refine"]
    assert refined  # something was refined
    for p in refined:
        assert 0 <= p.layer < tiny_lm.n_layers
        lo, hi = (0.5, 4.0) if p.method == "sara" else (1.0, 16.0)
        assert lo <= p.coeff <= hi
    keys = [(p.method, p.layer, p.coeff) for p in res.points]
    assert len(keys) == len(set(keys))


def test_a_cap_trims_the_refinement(tiny_lm):
    res = _search(tiny_lm, max_points=8)
    assert len(res.points) == 8 and all(p.stage == "coarse" for p in res.points)


def _count_passes(lm, after: threading.Event) -> list[int]:
    """Count the model's forward passes made once ``after`` is set."""
    count = [0]

    def hook(_module, _args):
        count[0] += after.is_set()

    get_blocks(lm.model)[0].register_forward_pre_hook(hook)
    return count


def test_stop_between_chunks_returns_the_points_finished_so_far(tiny_lm):
    stop = threading.Event()
    grid = TuneGrid((0, 1, 2, 3), (0.5, 1.0, 2.0), (2.0, 4.0, 8.0), refine=2)
    passes = _count_passes(tiny_lm, stop)

    def progress(done, total, desc):
        if desc.startswith("coarse"):
            stop.set()

    res = _search(tiny_lm, grid=grid, rows_per_chunk=4, progress=progress, stop=stop)
    assert res.stopped and len(res.points) == 4
    assert all(p.answer and math.isfinite(p.effect) for p in res.points)
    assert res.to_json()["stopped"] is True
    assert passes[0] == 0  # nothing ran after the stop


def test_stop_during_a_chunk_drops_its_unfinished_points(tiny_lm):
    stop = threading.Event()
    armed = threading.Event()
    calls = [0]

    def hook(_module, _args):  # set the stop on the third pass of the first chunk's decode
        if armed.is_set():
            calls[0] += 1
            if calls[0] == 3:
                stop.set()

    get_blocks(tiny_lm.model)[0].register_forward_pre_hook(hook)

    def progress(done, total, desc):
        if desc == "baselines":
            armed.set()

    res = _search(tiny_lm, progress=progress, stop=stop)
    assert res.stopped and res.points == [] and res.unsteered is not None


def test_stop_before_the_start_returns_nothing(tiny_lm):
    stop = threading.Event()
    stop.set()
    res = _search(tiny_lm, stop=stop)
    assert res.stopped and res.points == [] and res.unsteered is None
    assert res.to_json()["chosen"] == {"sara": None, "actadd": None}


def test_progress_reaches_its_total(tiny_lm):
    calls = []
    _search(tiny_lm, rows_per_chunk=3, progress=lambda *a: calls.append(a))
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[0] == 0
    assert calls[-1][0] == calls[-1][1]


def test_json_has_every_key_and_plain_values(tiny_lm):
    res = _search(tiny_lm, held_out=held_out_for("optimistic", 2), methods="actadd", quick=True)
    data = json.loads(json.dumps(res.to_json(), allow_nan=False))
    assert {"grid", "chosen", "prompted", "unsteered", "timing", "settings"} <= set(data)
    row = {"method", "layer", "coeff", "effect", "perplexity", "ppl_ratio", "repetition"}
    assert all(row | {"admissible", "held_out_effect"} <= set(r) for r in data["grid"])
    assert {r["method"] for r in data["grid"]} == {"actadd"} and set(data["chosen"]) == {"actadd"}
    assert {"effect", "perplexity", "held_out_effect"} <= set(data["prompted"])
    assert data["unsteered"]["held_out_effect"] == 0.0
    assert data["timing"]["points"] == len(data["grid"]) and data["timing"]["total_s"] > 0
    chosen = data["chosen"]["actadd"]
    assert chosen is not None and chosen["held_out_effect"] is not None
    # quick: the held-out probe scores the chosen points only
    others = [r for r in data["grid"] if r["admissible"] and r != chosen]
    assert others and all(r["held_out_effect"] is None for r in others)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prompt": "   "}, "empty"),
        ({"attract": ""}, "empty"),
        ({"repel": ATTRACT.upper()}, "same text"),
        ({"grid": TuneGrid((4,), (1.0,), (4.0,))}, "layer=4 is out of range"),
        ({"grid": TuneGrid((-5,), (1.0,), (4.0,))}, "out of range"),
        ({"grid": TuneGrid((), (1.0,), (4.0,))}, "at least one layer"),
        ({"grid": TuneGrid((1,), (float("nan"),), (4.0,))}, "finite"),
        ({"grid": TuneGrid((1,), (1.0,), (1e9,))}, "actadd_coeff=1e\\+09 is out of range"),
        ({"methods": "sara,steer"}, "method must be one of"),
        ({"methods": ""}, "at least one method"),
        ({"max_points": 3}, "the grid has 8 points"),
        ({"max_ppl_ratio": 0.5}, "max_ppl_ratio"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"prompt": "word " * 600}, "too long"),
    ],
)
def test_bad_input_is_refused_before_any_work(tiny_lm, kwargs, message):
    args = {"prompt": PROMPT, "attract": ATTRACT, "repel": REPEL, "grid": SMALL, **kwargs}
    calls = []
    with pytest.raises(InputError, match=message):
        tune(tiny_lm, progress=lambda *a: calls.append(a), **args)
    assert calls == []


def test_a_bad_block_is_refused_with_compare_s_message(tiny_lm):
    with pytest.raises(InputError) as ours:
        _search(tiny_lm, grid=TuneGrid((7,), (1.0,), (4.0,)))
    with pytest.raises(InputError) as theirs:
        compare(tiny_lm, PROMPT, ATTRACT, REPEL, SteeringConfig(layer=7))
    assert str(ours.value) == str(theirs.value)


def test_ranks_search_their_share_of_the_chunks_and_all_get_every_point():
    from dataclasses import asdict

    from conftest import make_tiny_lm
    from thread_shards import run_ranks

    models = [make_tiny_lm() for _ in range(2)]  # one copy per rank, built in this thread
    grid = TuneGrid((1, 2), (2.0,), (8.0,), refine=1)

    def points(result):
        return [json.dumps(asdict(p)) for p in result.points]  # NaN compares equal as text

    alone = _search(models[0], grid=grid, rows_per_chunk=2)
    assert len(alone.points) > 4 and {p.stage for p in alone.points} == {"coarse", "refine"}
    results = run_ranks(
        2, lambda shard: _search(models[shard.rank], grid=grid, rows_per_chunk=2, shard=shard)
    )
    for got in results:
        assert points(got) == points(alone)
        assert got.timing["processes"] == 2

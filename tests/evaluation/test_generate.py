"""Batched generation of the evaluation's answers (sara_core.evaluation.generate)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.evaluation.config import EvalConfig, seed_for
from sara_core.evaluation.generate import generate_answers, plan_answers
from sara_core.measures.metrics import answer_logprobs, perplexity_from_logprobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LAYERS = [1, 3]


def config(**kw) -> EvalConfig:
    base = EvalConfig(
        dilemmas=["parent_criminal", "lie_to_protect"],
        reps=2,
        baseline_reps=2,
        max_new_tokens=6,
        extra_methods=["sara_every_step", "control"],
    )
    return replace(base, **kw)


def key(row):
    return (row.dilemma, row.stance, row.method, row.layer, row.rep)


def test_the_plan_has_every_method_once_per_stance_layer_dilemma_and_rep(tiny_lm):
    plan = plan_answers(tiny_lm, config(), LAYERS)
    rows = [p.row for p in plan]
    # 2 dilemmas x 2 originals + 2 stances x 2 layers x 2 dilemmas x 2 reps x 3 methods
    # + the control: 2 layers x 2 dilemmas x 2 reps
    assert len(rows) == 4 + 48 + 8
    assert len({key(r) for r in rows}) == len(rows)
    control = [r for r in rows if r.method == "control"]
    assert {r.stance for r in control} == {"neutral"} and {r.layer for r in control} == set(LAYERS)
    for r in rows:  # every method of repetition r of dilemma i shares its seed
        i = ["parent_criminal", "lie_to_protect"].index(r.dilemma)
        assert r.seed == seed_for(1234, i, r.rep)
    scopes = {p.row.method: getattr(p.steering, "scope", None) for p in plan}
    assert scopes["sara"] == "prompt" and scopes["sara_every_step"] == "every-step"
    assert plan_answers(tiny_lm, config(extra_methods=[]), LAYERS)[-1].row.method == "actadd"


@pytest.mark.parametrize("greedy", [True, False], ids=["greedy", "sampled"])
def test_batched_answers_equal_the_answers_generated_one_at_a_time(tiny_lm, greedy):
    cfg = config(greedy=greedy, dilemmas=["parent_criminal"])
    alone = generate_answers(tiny_lm, replace(cfg, batch_size=1), LAYERS, progress=False)
    batched = generate_answers(tiny_lm, replace(cfg, batch_size=7), LAYERS, progress=False)
    assert [key(r) for r in alone] == [key(r) for r in batched]
    assert [r.answer for r in batched] == [r.answer for r in alone]
    assert [r.new_tokens for r in batched] == [r.new_tokens for r in alone]
    assert [r.perplexity for r in batched] == pytest.approx([r.perplexity for r in alone], rel=1e-4)
    texts = {r.answer for r in batched}
    assert len(texts) > 3  # the methods and seeds really gave different answers


def test_a_seed_gives_the_same_sampled_answer_whatever_shares_its_batch(tiny_lm):
    cfg = config(dilemmas=["parent_criminal"], extra_methods=[], reps=1, baseline_reps=3)
    first = generate_answers(tiny_lm, replace(cfg, batch_size=3), [1], progress=False)
    shuffled = generate_answers(tiny_lm, replace(cfg, batch_size=2), [1], progress=False)
    assert [r.answer for r in first] == [r.answer for r in shuffled]
    originals = [r.answer for r in first if r.method == "original"]
    assert len(set(originals)) > 1  # three seeds, not one answer copied
    other_seed = generate_answers(tiny_lm, replace(cfg, seed=99, batch_size=3), [1], False)
    assert [r.answer for r in other_seed] != [r.answer for r in first]


def test_perplexity_is_the_answers_under_the_unsteered_model(tiny_lm):
    cfg = config(dilemmas=["parent_criminal"], greedy=True, reps=1, baseline_reps=1)
    plan = plan_answers(tiny_lm, cfg, [1])
    rows = generate_answers(tiny_lm, cfg, [1], progress=False)
    steered = 0
    for p, r in zip(plan, rows, strict=True):
        alone = Row(p.prompt, (p.steering,) if p.steering else (), max_new_tokens=6)
        decode_rows(tiny_lm, [alone])  # the same answer, generated on its own
        assert r.new_tokens == len(alone.tokens)
        if not alone.tokens:
            continue
        logprobs = answer_logprobs(tiny_lm, torch.tensor([p.prompt]), alone.tokens)
        assert r.perplexity == pytest.approx(perplexity_from_logprobs(logprobs), rel=1e-4)
        steered += p.steering is not None
    assert steered > 3

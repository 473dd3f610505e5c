"""What tune measures (sara_core.tune.score): steerings per point, preferences, held-out probes."""

from __future__ import annotations

import pytest
import torch

from sara_core.config import SteeringConfig
from sara_core.engine.decoding import score_continuations
from sara_core.presets.choice import ChoiceBank, ChoiceItem
from sara_core.presets.stances import load_stances
from sara_core.prompts import SteeringTexts, encode_prompt
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.prepare import prepare_actadd, prepare_sara
from sara_core.steering.sara import SaraSteering
from sara_core.tune.score import (
    HeldOut,
    Probe,
    SteeringFactory,
    continuation_ids,
    held_out_for,
    preference,
    preferences,
)

ATTRACT = "I am happy and hopeful."
REPEL = "I am sad and hopeless today."


def test_factory_steerings_equal_the_ones_compare_prepares(tiny_lm):
    config = SteeringConfig(k=2, sign="canonical", scope="every-step", actadd_mode="prefix")
    factory = SteeringFactory(tiny_lm, SteeringTexts("q", ATTRACT, REPEL), config)
    for layer in (0, 3):
        sara = factory.make("sara", layer, 1.5)
        ref = prepare_sara(tiny_lm, ATTRACT, REPEL, layer, 1.5, 2, "canonical", "every-step")
        assert isinstance(sara, SaraSteering)
        assert torch.equal(sara.attract_acts, ref.attract_acts)
        assert torch.equal(sara.repel_acts, ref.repel_acts)
        assert (sara.layer, sara.coeff, sara.k, sara.sign, sara.scope) == (
            layer,
            1.5,
            2,
            "canonical",
            "every-step",
        )
        actadd = factory.make("actadd", layer, 6.0)
        want = prepare_actadd(tiny_lm, ATTRACT, REPEL, layer, 6.0)
        assert isinstance(actadd, ActAddSteering)
        assert torch.equal(actadd.diff, want.diff) and actadd.coeff == 6.0


def test_preference_is_a_difference_of_mean_log_likelihoods():
    assert preference([-1.0, -3.0], [-1.0]) == pytest.approx(-1.0)
    assert preferences([[-1.0], [-2.0], [-4.0, -2.0], [-1.0]]) == pytest.approx([1.0, -2.0])


def test_probe_items_score_both_texts_after_one_prompt(tiny_lm):
    ids = encode_prompt(tiny_lm, "How was your day?")[0].tolist()
    probe = Probe(ids, continuation_ids(tiny_lm, ATTRACT), continuation_ids(tiny_lm, REPEL))
    items = probe.items()
    assert [it.continuation for it in items] == [probe.toward, probe.away]
    assert all(it.prompt_ids == ids and it.steerings == () for it in items)
    scored = score_continuations(tiny_lm, items)
    assert [len(s) for s in scored] == [len(probe.toward), len(probe.away)]


def _bank(act: bool) -> ChoiceBank:
    items = [
        ChoiceItem(
            f"i{n}",
            f"question {n}?",
            {"good": f"yes {n}", "bad": f"no {n}"},
            ("good" if n < 4 else "bad") if act else "",
        )
        for n in range(8)
    ]
    return ChoiceBank("test", "", ("good", "bad"), items, {"optimistic": "good"})


def test_held_out_items_alternate_between_the_poles_acts():
    held = held_out_for("Optimistic", 4, [_bank(act=True)])
    assert held is not None and held.pole == "good"
    assert held.questions == ("question 0?", "question 4?", "question 1?", "question 5?")
    assert held.toward == ("yes 0", "yes 4", "yes 1", "yes 5")
    assert held.away == ("no 0", "no 4", "no 1", "no 5")
    plain = held_out_for("optimistic", 3, [_bank(act=False)])
    assert plain is not None and plain.questions == ("question 0?", "question 1?", "question 2?")


def test_held_out_needs_a_bank_that_names_the_stance():
    assert held_out_for("kantian", 4, [_bank(act=True)]) is None
    assert held_out_for(None, 4) is None and held_out_for("optimistic", 0) is None


def test_every_bundled_stance_a_bank_names_gets_held_out_texts_without_its_words():
    for stance in ("utilitarian", "kantian", "optimistic", "pessimistic"):
        held = held_out_for(stance, 6)
        assert isinstance(held, HeldOut) and len(held.questions) == 6
        steering = {s.name: s for s in load_stances()}[stance]
        texts = " ".join(held.toward + held.away).casefold()
        for word in ("consequences", "duties", "regardless", "badly", "chance", "problem"):
            if word in f"{steering.attract} {steering.repel}".casefold():
                assert word not in texts


def test_held_out_probes_put_the_instruction_before_each_question(tiny_lm):
    held = HeldOut("b", "good", ("How was it?",), ("Lovely.",), ("Awful.",))
    plain, instructed = held.probes(tiny_lm)[0], held.probes(tiny_lm, "Be glad.")[0]
    assert plain.prompt == encode_prompt(tiny_lm, "How was it?")[0].tolist()
    assert instructed.prompt == encode_prompt(tiny_lm, "How was it?", "Be glad.")[0].tolist()
    assert plain.toward == instructed.toward == continuation_ids(tiny_lm, "Lovely.")
    assert "items of the 'b' bank" in held.describe()

"""The forced-choice measure (sara_core.measures.choice) and its three forms
(sara_core.measures.choice_forms), pinned against plain teacher forcing and formulas written out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sara_core.measures.choice import (
    AnswerScores,
    Condition,
    answer_scores,
    other_pole,
    p_toward,
    paired_shift,
    quick_items,
)
from sara_core.measures.choice_forms import (
    MIN_MATCHED,
    all_forms,
    form_shift,
    forms_json,
    matched,
    sensitivity,
)
from sara_core.presets.choice import ChoiceBank, ChoiceItem, get_choice_bank
from sara_core.steering.prepare import prepare_actadd, prepare_sara

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATTRACT = "I am happy and hopeful."
REPEL = "I am sad and hopeless."
INSTRUCTION = "Only consequences matter."


def bank() -> ChoiceBank:
    items = [
        ChoiceItem("a", "Should they report them?", {"yes": "Yes, report them.", "no": "No."}),
        ChoiceItem("b", "Hello world!", {"yes": "I am happy.", "no": "I am sad and hopeless."}),
        ChoiceItem("c", "The trolley is heading", {"yes": "good", "no": "bad bad"}),
    ]
    return ChoiceBank("t", "test", ("yes", "no"), items, {})


def chat_ids(lm, question: str, instruction: str | None = None) -> list[int]:
    """The prompt built by hand from the tokenizer's template (not through encode_prompt)."""
    content = question if instruction is None else f"{instruction}\n\n{question}"
    out = lm.tokenizer.apply_chat_template(
        [{"role": "user", "content": content}], add_generation_prompt=True, tokenize=False
    )
    return lm.tokenizer(out, add_special_tokens=False)["input_ids"]


def mean_logprob(lm, prompt: list[int], option: list[int], steering=None) -> float:
    """Mean log-probability of ``option`` after ``prompt``: one plain forward pass, or for SARA's
    prompt scope a steered prefill and an unsteered pass over the option with its cache."""
    model = lm.model
    with torch.no_grad():
        if steering is None or steering.__class__.__name__ == "ActAddSteering":
            ids = torch.tensor([prompt + option])
            if steering is None:
                logits = model(input_ids=ids).logits[0]
            else:  # prefix mode edits the first positions of the only pass: the prefill
                with steering.hook(model):
                    logits = model(input_ids=ids).logits[0]
            logits = logits[len(prompt) - 1 : -1]
        else:
            with steering.hook(model):
                first = model(input_ids=torch.tensor([prompt]), use_cache=True)
            rest = model(
                input_ids=torch.tensor([option[:-1]]), past_key_values=first.past_key_values
            )
            logits = torch.cat([first.logits[0, -1:], rest.logits[0]], dim=0)
    logp = torch.log_softmax(logits.float(), dim=-1)
    return float(logp[torch.arange(len(option)), torch.tensor(option)].mean())


def hand_scores(lm, b, steering, instruction):
    """Per item and pole ("yes", "no"): the answer's mean token log-likelihood after the chat
    prompt, from plain forward passes (:func:`mean_logprob`), and its token count: (n, 2) each."""
    tok = lm.tokenizer
    means, counts = [], []
    for it in b.items:
        prompt = chat_ids(lm, it.question, instruction)
        options = [tok(it.options[p], add_special_tokens=False)["input_ids"] for p in ("yes", "no")]
        means.append([mean_logprob(lm, prompt, o, steering) for o in options])
        counts.append([len(o) for o in options])
    return np.array(means), np.array(counts)


def four_conditions(lm):
    """Unsteered, prompted, ActAdd and SARA, and for each (name, steering, instruction)."""
    act = prepare_actadd(lm, ATTRACT, REPEL, layer=1, coeff=6.0)
    sara = prepare_sara(lm, ATTRACT, REPEL, layer=2, coeff=2.0)
    cases = [
        ("unsteered", None, None),
        ("prompted", None, INSTRUCTION),
        ("actadd", act, None),
        ("sara", sara, None),
    ]
    conds = [Condition(name, () if s is None else (s,), instruction=ins) for name, s, ins in cases]
    return conds, cases


def test_p_toward_equals_softmax_of_hand_computed_mean_loglikelihoods(tiny_lm):
    b = bank()
    conds, cases = four_conditions(tiny_lm)
    got = p_toward(tiny_lm, b.items, "yes", "no", conds, max_rows=3)
    for cond, steering, instruction in cases:
        m, _ = hand_scores(tiny_lm, b, steering, instruction)
        want = np.exp(m[:, 0]) / (np.exp(m[:, 0]) + np.exp(m[:, 1]))
        np.testing.assert_allclose(got[cond], want, atol=1e-4, err_msg=cond)
    # the conditions really differ, so the check above compared four different things
    for cond in ("prompted", "actadd", "sara"):
        assert np.abs(got[cond] - got["unsteered"]).max() > 1e-4, cond


def test_paired_shift_is_the_mean_difference_with_a_seeded_percentile_interval():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.3, 0.7, 40)
    method = base + 0.1 + rng.normal(0, 0.05, 40)
    s = paired_shift(method, base, n_boot=2000, seed=3)
    assert s.mean == pytest.approx(float(np.mean(method - base)))
    assert s.low < s.mean < s.high and s.n == 40
    assert s.excludes_zero_upward
    assert paired_shift(method, base, n_boot=2000, seed=3) == s  # seeded
    # the interval is about the mean's standard error wide (1.96 * sd / sqrt(n) each side)
    half = 1.96 * np.std(method - base) / np.sqrt(40)
    assert (s.high - s.low) / 2 == pytest.approx(half, rel=0.15)
    flat = paired_shift(base + 0.2, base)
    assert (flat.low, flat.mean, flat.high) == pytest.approx((0.2, 0.2, 0.2))
    assert not paired_shift(base, base + 0.01).excludes_zero_upward
    assert paired_shift(np.array([]), np.array([])).n == 0


def test_shift_json_has_mean_ci_and_n():
    s = paired_shift(np.array([0.6, 0.7]), np.array([0.5, 0.5]), n_boot=100)
    assert set(s.to_json()) == {"mean", "ci", "n"} and len(s.to_json()["ci"]) == 2


def test_quick_items_are_balanced_on_act_and_fixed():
    moral = get_choice_bank("moral")
    quick = quick_items(moral, 16)
    assert len(quick) == 16
    assert sum(it.act == "consequences" for it in quick) == 8
    assert quick == quick_items(moral, 16)
    sentiment = get_choice_bank("sentiment")
    assert quick_items(sentiment, 16) == sentiment.items[:16]


def test_other_pole_refuses_a_pole_the_bank_does_not_have():
    assert other_pole(bank(), "yes") == "no" and other_pole(bank(), "no") == "yes"
    with pytest.raises(ValueError, match="not a pole"):
        other_pole(bank(), "maybe")


def test_ranks_score_their_share_of_the_batches_and_all_get_the_whole_result():
    from conftest import make_tiny_lm
    from thread_shards import run_ranks

    models = [make_tiny_lm() for _ in range(3)]  # one copy per rank, built in this thread
    b = bank()
    sara = prepare_sara(models[0], ATTRACT, REPEL, layer=2, coeff=4.0)
    conds = [Condition("unsteered"), Condition("prompted", instruction=INSTRUCTION)]
    conds.append(Condition("sara", (sara,)))
    alone = p_toward(models[0], b.items, "yes", "no", conds, max_rows=4)
    for world in (2, 3):
        results = run_ranks(
            world,
            lambda shard: p_toward(
                models[shard.rank], b.items, "yes", "no", conds, max_rows=4, shard=shard
            ),
        )
        for got in results:
            assert set(got) == set(alone)
            for name in alone:
                np.testing.assert_array_equal(got[name], alone[name], err_msg=name)


def test_answer_scores_are_the_hand_summed_loglikelihoods_and_token_counts(tiny_lm):
    b = bank()
    conds, cases = four_conditions(tiny_lm)
    got = answer_scores(tiny_lm, b.items, "yes", "no", conds, max_rows=3)
    for name, steering, instruction in cases:
        means, counts = hand_scores(tiny_lm, b, steering, instruction)
        sums = means * counts
        np.testing.assert_allclose(got[name].sums, sums, atol=2e-4, err_msg=name)
        np.testing.assert_array_equal(got[name].counts, counts, err_msg=name)
        want_logodds = [s[0] - s[1] for s in sums]
        np.testing.assert_allclose(got[name].log_odds(), want_logodds, atol=2e-4, err_msg=name)
    # the bank's answers differ in length, so the sum and mean forms are not the same numbers
    base = got["unsteered"]
    assert np.abs(base.p_sum() - base.p_mean()).max() > 1e-3


def scores(sums: list[list[float]], counts: list[list[int]]) -> AnswerScores:
    return AnswerScores(np.array(sums, dtype=float), np.array(counts, dtype=float))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_each_form_is_its_formula_written_out():
    rng = np.random.default_rng(5)
    n = 14
    counts = [[int(rng.integers(3, 9)), int(rng.integers(3, 9))] for _ in range(n)]
    counts[:MIN_MATCHED] = [[5, 5]] * 6 + [[6, 5]] * 4  # ten length-matched items, the rest not
    counts[MIN_MATCHED:] = [[3, 8], [8, 3], [4, 6], [9, 4]]  # [4, 6]: 2 apart, not matched
    base_s = [[float(rng.normal(-2, 1) * a), float(rng.normal(-2, 1) * b)] for a, b in counts]
    meth_s = [[s[0] + float(rng.normal(0.5, 0.3)), s[1]] for s in base_s]
    base, meth = scores(base_s, counts), scores(meth_s, counts)

    def mean_p(s: list[float], c: list[int]) -> float:
        return sigmoid(s[0] / c[0] - s[1] / c[1])

    d_mean = [mean_p(m, c) - mean_p(b, c) for m, b, c in zip(meth_s, base_s, counts, strict=True)]
    d_logodds = [(m[0] - m[1]) - (b[0] - b[1]) for m, b in zip(meth_s, base_s, strict=True)]
    d_sum = [
        sigmoid(m[0] - m[1]) - sigmoid(b[0] - b[1])
        for m, b, c in zip(meth_s, base_s, counts, strict=True)
        if abs(c[0] - c[1]) <= 1
    ]
    assert len(d_sum) == MIN_MATCHED
    for form, want in (("mean", d_mean), ("logodds", d_logodds), ("sum", d_sum)):
        got = form_shift(form, meth, base, n_boot=500, seed=2)
        assert got is not None and got.n == len(want), form
        assert got.mean == pytest.approx(float(np.mean(want)), abs=1e-12), form
        # the same paired bootstrap as the mean form, on the form's own per-item differences
        again = paired_shift(np.array(want), np.zeros(len(want)), n_boot=500, seed=2)
        assert (got.low, got.high) == pytest.approx((again.low, again.high), abs=1e-12), form
    assert matched(base).tolist() == [True] * MIN_MATCHED + [False] * 4


def test_the_sum_form_needs_enough_length_matched_items():
    counts = [[3, 8]] * 20 + [[4, 4]] * (MIN_MATCHED - 1)
    s = scores([[-3.0, -9.0]] * len(counts), counts)
    assert form_shift("sum", s, s) is None
    assert form_shift("logodds", s, s) is not None
    with pytest.raises(ValueError, match="unknown form"):
        form_shift("median", s, s)


def test_forms_json_and_sensitivity():
    s = scores([[-3.0, -4.0]] * 12, [[4, 4]] * 12)
    up = scores([[-2.0, -4.0]] * 12, [[4, 4]] * 12)
    forms = all_forms({"unsteered": s, "m": up}, [("prompted", "m")], n_boot=100)
    assert set(forms) == {"mean", "sum", "logodds"}
    block = forms_json(forms, 12)
    assert block["logodds"]["unit"] == "nats" and block["sum"]["n_matched"] == 12
    assert block["logodds"]["prompted"]["mean"] == pytest.approx(1.0)
    shift = paired_shift(np.array([0.2, 0.4, 0.3, 0.5]), np.zeros(4), n_boot=500)
    assert sensitivity(shift) == pytest.approx(shift.low / (shift.high - shift.low))
    assert math.isnan(sensitivity(None))

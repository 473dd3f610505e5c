"""The decode loop (sara_core.engine.decoding): checked against transformers' own generate, against
lone runs of every row, and against step-by-step decoding for teacher-forced scoring."""

from __future__ import annotations

import threading
import time

import peak
import pytest
import torch
from conftest import ARCHS, make_tiny_lm

from sara_core.engine.decoding import Continuation, decode_rows, score_continuations
from sara_core.engine.row import EOS, LENGTH, STOPPED, TIMEOUT, Row, Sampling, eos_ids
from sara_core.prompts import encode_prompt
from sara_core.steering.prepare import prepare_actadd, prepare_sara

TEXTS = [
    "Should they report them to the authorities?",
    "Hello world! I am happy and hopeful. Love hate good bad yes no report protect.",
    "no",
]
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


def prompts(lm) -> list[list[int]]:
    return [lm.tokenizer(t)["input_ids"] for t in TEXTS]


def hf_greedy(lm, ids: list[int], n: int) -> list[int]:
    """transformers' own greedy generate, cut at EOS: the independent reference."""
    out = lm.model.generate(
        torch.tensor([ids]),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long),
        max_new_tokens=n,
        do_sample=False,
        pad_token_id=lm.tokenizer.pad_token_id,
        temperature=None,
        top_p=None,
        top_k=None,
    )
    new = out[0, len(ids) :].tolist()
    eos = eos_ids(lm)
    return next((new[:i] for i, t in enumerate(new) if t in eos), new)


@pytest.mark.parametrize("arch", ARCHS)
def test_greedy_rows_match_transformers_generate_on_every_architecture(arch, one_torch_thread):
    lm = make_tiny_lm(arch)
    rows = [Row(p, max_new_tokens=10) for p in prompts(lm)]
    decode_rows(lm, rows)
    for p, row in zip(prompts(lm), rows, strict=True):
        assert row.tokens == hf_greedy(lm, p, 10)
        assert row.finish in (EOS, LENGTH)


def test_left_padded_steered_rows_match_their_lone_runs(tiny_lm, one_torch_thread):
    """Rows of different lengths, each with its own steering, answer as they would alone; SARA
    sees the same activations (padding never enters its SVD)."""
    sara = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1, coeff=2.0)
    actadd = prepare_actadd(tiny_lm, ATTRACT, REPEL, layer=2, coeff=6.0)
    both = (prepare_sara(tiny_lm, ATTRACT, REPEL, layer=3, coeff=-1.0), actadd)
    ids = prompts(tiny_lm)
    specs = [(ids[0], (sara,)), (ids[1], (actadd,)), (ids[2], ()), (ids[1], both)]
    batch = [Row(p, s, max_new_tokens=8) for p, s in specs]
    decode_rows(tiny_lm, batch)
    batched_scores = None
    for (p, s), row in zip(specs, batch, strict=True):
        if s == (sara,):
            batched_scores = sara.last_result.scores.clone()
        lone = Row(p, s, max_new_tokens=8)
        decode_rows(tiny_lm, [lone])
        assert lone.tokens == row.tokens
        if s == (sara,):
            torch.testing.assert_close(sara.last_result.scores, batched_scores, rtol=0, atol=1e-4)
    # and the steered rows really differ from the unsteered one on the same prompt
    plain = Row(ids[0], max_new_tokens=8)
    decode_rows(tiny_lm, [plain])
    assert plain.tokens != batch[0].tokens


def test_actadd_lands_on_the_first_real_positions_of_a_padded_row(tiny_lm):
    """The padded row's edit equals the lone row's edit: positions count from its first token."""
    actadd = prepare_actadd(tiny_lm, ATTRACT, REPEL, layer=1, coeff=4.0)
    seen: list[torch.Tensor] = []
    original = actadd.edit

    def spy(hidden, prefill):
        out = original(hidden, prefill)
        if prefill:
            seen.append((out - hidden).clone())
        return out

    actadd.edit = spy  # type: ignore[method-assign]
    short, long = prompts(tiny_lm)[2], prompts(tiny_lm)[1]
    decode_rows(tiny_lm, [Row(long, max_new_tokens=1), Row(short, (actadd,), max_new_tokens=1)])
    decode_rows(tiny_lm, [Row(short, (actadd,), max_new_tokens=1)])
    assert seen[0].shape == seen[1].shape == (1, len(short), 64)
    torch.testing.assert_close(seen[0], seen[1])


def test_finished_and_stopped_rows_leave_without_disturbing_the_others(tiny_lm):
    ids = prompts(tiny_lm)
    stop = threading.Event()
    rows = [
        Row(ids[0], max_new_tokens=3),
        Row(ids[1], max_new_tokens=12, min_new_tokens=12),
        Row(ids[2], max_new_tokens=12, min_new_tokens=12, stop=stop),
    ]
    steps = []

    def on_step(rs):
        steps.append([len(r.tokens) for r in rs])
        if len(rs[2].tokens) == 5:
            stop.set()

    decode_rows(tiny_lm, rows, on_step)
    assert [len(r.tokens) for r in rows] == [3, 12, 5]
    assert [r.finish for r in rows] == [LENGTH, LENGTH, STOPPED]
    assert len(steps) >= 12
    lone = Row(ids[1], max_new_tokens=12, min_new_tokens=12)
    decode_rows(tiny_lm, [lone])
    assert lone.tokens == rows[1].tokens


def test_a_deadline_ends_a_row_as_timeout(tiny_lm):
    row = Row(prompts(tiny_lm)[0], max_new_tokens=50, min_new_tokens=50)

    def slow(rs):
        time.sleep(0.02)

    row.deadline = time.monotonic() + 0.1
    decode_rows(tiny_lm, [row], slow)
    assert row.finish == TIMEOUT and 0 < len(row.tokens) < 50


def test_sampling_is_reproducible_per_row_whatever_shares_the_batch(tiny_lm):
    ids = prompts(tiny_lm)
    sample = Sampling(temperature=1.5, top_p=0.9, seed=11)
    alone = Row(ids[0], max_new_tokens=10, sampling=sample)
    decode_rows(tiny_lm, [alone])
    crowd = [
        Row(ids[1], max_new_tokens=4, sampling=Sampling(seed=3)),
        Row(ids[0], max_new_tokens=10, sampling=sample),
    ]
    decode_rows(tiny_lm, crowd)
    assert crowd[1].tokens == alone.tokens
    other = Row(ids[0], max_new_tokens=10, sampling=Sampling(temperature=1.5, top_p=0.9, seed=12))
    decode_rows(tiny_lm, [other])
    assert other.tokens != alone.tokens


def test_min_new_tokens_holds_back_eos(tiny_lm):
    row = Row(prompts(tiny_lm)[0], max_new_tokens=20, min_new_tokens=20)
    decode_rows(tiny_lm, [row])
    assert len(row.tokens) == 20 and not set(row.tokens) & eos_ids(tiny_lm)


def _stepwise_logprobs(lm, prompt_ids, continuation, steerings) -> list[float]:
    """Reference: feed the continuation one token per forward pass, as generation does."""
    from contextlib import ExitStack

    from transformers import DynamicCache

    out = []
    cache = DynamicCache(config=lm.model.config)
    with torch.no_grad(), ExitStack() as stack:
        for s in steerings:
            stack.enter_context(s.hook(lm.model))
        logits = lm.model(input_ids=torch.tensor([prompt_ids]), cache=cache).logits[0, -1]
        for tok in continuation:
            out.append(float(logits.float().log_softmax(-1)[tok]))
            logits = lm.model(input_ids=torch.tensor([[tok]]), cache=cache).logits[0, -1]
    return out


@pytest.mark.parametrize(
    "make",
    [
        lambda lm: (),
        lambda lm: (prepare_sara(lm, ATTRACT, REPEL, layer=1, coeff=2.0),),
        lambda lm: (prepare_sara(lm, ATTRACT, REPEL, layer=1, coeff=1.0, scope="every-step"),),
        lambda lm: (prepare_actadd(lm, ATTRACT, REPEL, layer=2, coeff=5.0),),
        lambda lm: (prepare_actadd(lm, ATTRACT, REPEL, layer=2, coeff=2.0, mode="every-position"),),
    ],
    ids=["none", "sara-prompt", "sara-every-step", "actadd-prefix", "actadd-every-position"],
)
def test_teacher_forced_scores_equal_step_by_step_decoding(tiny_lm, make):
    steerings = make(tiny_lm)
    prompt = encode_prompt(tiny_lm, TEXTS[0])[0].tolist()
    conts = [tiny_lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS[1:]]
    items = [Continuation(prompt, c, steerings) for c in conts]
    items.append(Continuation(encode_prompt(tiny_lm, TEXTS[2])[0].tolist(), conts[0], steerings))
    got = score_continuations(tiny_lm, items)
    for item, scores in zip(items, got, strict=True):
        want = _stepwise_logprobs(tiny_lm, item.prompt_ids, item.continuation, steerings)
        assert len(scores) == len(item.continuation)
        torch.testing.assert_close(torch.tensor(scores), torch.tensor(want), atol=1e-4, rtol=1e-4)


def test_every_step_scoring_differs_from_prompt_scope(tiny_lm):
    """The check above could pass if decode steps were never steered: show that they are."""
    prompt = encode_prompt(tiny_lm, TEXTS[0])[0].tolist()
    cont = tiny_lm.tokenizer(TEXTS[1], add_special_tokens=False)["input_ids"]
    scores = {}
    for scope in ("prompt", "every-step"):
        s = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1, coeff=1.0, scope=scope)
        scores[scope] = score_continuations(tiny_lm, [Continuation(prompt, cont, (s,))])[0]
    assert scores["prompt"][0] == pytest.approx(scores["every-step"][0], abs=1e-5)
    assert max(abs(a - b) for a, b in zip(*scores.values(), strict=True)) > 1e-3


def test_empty_input_is_refused(tiny_lm):
    with pytest.raises(ValueError, match="at least one"):
        decode_rows(tiny_lm, [Row([], max_new_tokens=2)])
    with pytest.raises(ValueError, match="at least one"):
        score_continuations(tiny_lm, [Continuation([1, 2], [])])


@pytest.mark.skipif(not peak.available(), reason="needs Linux's /proc/self/clear_refs")
def test_scoring_holds_its_logits_budget_with_a_256k_vocabulary(monkeypatch, one_torch_thread):
    """Teacher forcing reads every continuation token's logits at once: batches are cut to the
    budget, and the log-probabilities are taken without copying the whole tensor."""
    from conftest import big_vocab_lm

    import sara_core.engine.decoding as decoding

    lm = big_vocab_lm()
    budget = 128 * 2**20  # one row of 30 tokens: 31 MB of logits, 92 MB with the head's copies
    monkeypatch.setattr(decoding, "SCORE_LOGITS_BYTES", budget)
    prompt = lm.tokenizer("Should they report them or protect them?").input_ids
    items = [Continuation(prompt, list(range(10 + i, 40 + i))) for i in range(6)]
    one = score_continuations(lm, items[:1])  # warm up, and the lone reference
    with peak.peak_growth() as got:
        scores = score_continuations(lm, items)
    assert got["bytes"] <= 1.5 * budget, f"{got['bytes'] / 2**20:.0f} MB for {budget >> 20} MB"
    assert scores[0] == pytest.approx(one[0], abs=1e-5)
    reference = torch.log_softmax(
        lm.model(input_ids=torch.tensor([prompt + items[0].continuation[:-1]])).logits[0], -1
    )[len(prompt) - 1 :].gather(-1, torch.tensor(items[0].continuation)[:, None])[:, 0]
    assert scores[0] == pytest.approx(reference.tolist(), abs=1e-4)

"""Three-way generation on a tiny random model: identity at coefficient 0, no leaking hooks,
streaming, sampling reproducibility, concurrency, and refusal of bad input."""

from __future__ import annotations

import threading

import pytest
import torch
from conftest import make_tiny_lm

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare, generate, stream_compare
from sara_core.prompts import encode_prompt
from sara_core.steering.prepare import PreparedSteerings, prepare_sara
from sara_core.steering.sara import SaraSteering

PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."
GREEDY = GenerationSettings(max_new_tokens=12)


def _pre_hooks(model) -> int:
    return sum(len(m._forward_pre_hooks) for m in model.modules())


def test_coefficient_zero_gives_the_original_answer(tiny_lm):
    cfg = SteeringConfig(layer=2, sara_coeff=0.0, actadd_coeff=0.0)
    res = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY)
    assert res.original
    assert res.sara == res.original
    assert res.actadd == res.original


def test_steering_changes_answers_and_leaves_model_untouched(tiny_lm):
    ids = encode_prompt(tiny_lm, PROMPT)
    with torch.no_grad():
        before = tiny_lm.model(input_ids=ids).logits
    cfg = SteeringConfig(layer=1, sara_coeff=4.0, actadd_coeff=8.0)
    res = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY)
    assert res.sara != res.original
    assert res.actadd != res.original
    assert _pre_hooks(tiny_lm.model) == 0
    with torch.no_grad():
        assert torch.equal(tiny_lm.model(input_ids=ids).logits, before)
    assert set(res.to_json()) == {"original", "sara", "actadd", "settings", "timing"}
    assert res.settings["layer"] == 1 and res.settings["k_used"] == res.sara_analysis.k
    assert res.timing["new_tokens"] == {"original": 12, "sara": 12, "actadd": 12}


def test_sara_hook_steers_the_prompt_with_scores_of_its_own_activations(tiny_lm):
    """The block input becomes A_o * (1 + c*s), s computed on those same activations A_o."""
    from sara_core.steering.hooks import residual_at

    ids = encode_prompt(tiny_lm, PROMPT)
    steering = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=2, coeff=1.5)
    original = residual_at(tiny_lm.model, ids, 2)
    scores = steering.analyse(original[0]).scores
    captured = {}
    block = tiny_lm.model.model.layers[2]
    with steering.hook(tiny_lm.model), torch.no_grad():
        # registered after the steering hook, so it sees the block input as edited
        handle = block.register_forward_pre_hook(
            lambda _m, args: captured.setdefault("h", args[0].detach().clone())
        )
        tiny_lm.model(input_ids=ids)
        handle.remove()
    torch.testing.assert_close(steering.last_result.scores, scores)
    torch.testing.assert_close(captured["h"], original * (1 + 1.5 * scores))


def test_batched_rows_match_sequential_answers(tiny_lm):
    base = dict(layer=2, sara_coeff=2.0, actadd_coeff=6.0)
    seq = compare(tiny_lm, PROMPT, ATTRACT, REPEL, SteeringConfig(**base, batched=False), GREEDY)
    bat = compare(tiny_lm, PROMPT, ATTRACT, REPEL, SteeringConfig(**base, batched=True), GREEDY)
    assert bat.timing["batched"] and not seq.timing["batched"]
    assert bat.answers() == seq.answers()


def test_every_step_scope_also_steers_generated_tokens(tiny_lm):
    ids = encode_prompt(tiny_lm, PROMPT)
    calls = {"prompt": 0, "every-step": 0}
    for scope in calls:
        steering = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1, coeff=1.0, scope=scope)
        original = steering._steer

        def counting(hidden, record, scope=scope, original=original):
            calls[scope] += 1
            return original(hidden, record)

        steering._steer = counting
        generate(tiny_lm, ids, GenerationSettings(max_new_tokens=5, min_new_tokens=5), (steering,))
    assert calls == {"prompt": 1, "every-step": 5}


def test_sampling_reproduces_with_a_seed(tiny_lm):
    s = GenerationSettings(max_new_tokens=10, do_sample=True, temperature=1.5, top_p=0.95, seed=7)
    cfg = SteeringConfig(layer=1)
    a = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, s)
    b = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, s)
    assert a.answers() == b.answers()
    other = compare(
        tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GenerationSettings(**{**vars(s), "seed": 8})
    )
    assert other.answers() != a.answers()


def test_stream_yields_growing_partials_and_the_same_final_answers(tiny_lm):
    cfg = SteeringConfig(layer=2, sara_coeff=2.0)
    updates = list(stream_compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY))
    final = updates[-1]
    assert final.result is not None and final.status == "done"
    partial_originals = [u.original for u in updates if u.status == "generating"]
    assert len(partial_originals) >= 12
    assert all(final.original.startswith(p.strip()) for p in partial_originals if p)
    assert final.result.answers() == compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY).answers()


def test_closing_the_stream_early_stops_and_releases_the_model(tiny_lm):
    cfg = SteeringConfig(layer=2)
    stream = stream_compare(
        tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GenerationSettings(max_new_tokens=200)
    )
    for update in stream:
        if update.original:
            break
    stream.close()
    # the worker stops at the next token and frees the lock: a new request completes normally
    res = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY)
    assert res.original
    assert _pre_hooks(tiny_lm.model) == 0


def test_concurrent_callers_never_see_each_others_steering():
    lm = make_tiny_lm("llama")
    configs = [SteeringConfig(layer=1, sara_coeff=c, actadd_coeff=2 * c) for c in (0.0, 3.0, -3.0)]
    alone = [compare(lm, PROMPT, ATTRACT, REPEL, c, GREEDY).answers() for c in configs]
    results: dict[int, dict] = {}

    def run(i: int) -> None:
        results[i] = compare(lm, PROMPT, ATTRACT, REPEL, configs[i % 3], GREEDY).answers()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(results) == 6
    for i, answers in results.items():
        assert answers == alone[i % 3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"prompt": "   "}, "dilemma is empty"),
        ({"attract": ""}, "attract prompt is empty"),
        ({"repel": "\n\t"}, "repel prompt is empty"),
        ({"repel": ATTRACT.upper()}, "same text"),
        ({"prompt": "word " * 600}, "too long"),
        ({"config": SteeringConfig(layer=4)}, "out of range"),
        ({"config": SteeringConfig(layer=-9)}, "out of range"),
        ({"config": SteeringConfig(k=-1)}, "k"),
        ({"config": SteeringConfig(k=500)}, "k=500 is too large"),
        ({"config": SteeringConfig(sara_coeff=float("nan"))}, "finite"),
        ({"config": SteeringConfig(actadd_coeff=float("inf"))}, "finite"),
        ({"config": SteeringConfig(sara_coeff=1e9)}, "out of range"),
        ({"config": SteeringConfig(scope="always")}, "scope"),
        ({"settings": GenerationSettings(max_new_tokens=0)}, "max_new_tokens"),
        ({"settings": GenerationSettings(do_sample=True, temperature=0.0)}, "temperature"),
        ({"settings": GenerationSettings(do_sample=True, top_p=1.5)}, "top_p"),
    ],
)
def test_bad_input_is_refused_before_any_work(tiny_lm, kwargs, match):
    args = {"prompt": PROMPT, "attract": ATTRACT, "repel": REPEL, **kwargs}
    with pytest.raises(ValueError, match=match):
        compare(tiny_lm, args.pop("prompt"), args.pop("attract"), args.pop("repel"), **args)
    assert _pre_hooks(tiny_lm.model) == 0


def test_prepared_steerings_are_reused(tiny_lm):
    cfg = SteeringConfig(layer=2, sara_coeff=2.0, actadd_coeff=5.0)
    first = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY)
    again = list(
        stream_compare(
            tiny_lm,
            PROMPT,
            ATTRACT,
            REPEL,
            cfg,
            GREEDY,
            prepared=PreparedSteerings(first.sara_steering, first.actadd_steering),
        )
    )[-1].result
    assert again.answers() == first.answers()
    assert isinstance(first.sara_steering, SaraSteering)


def test_chat_models_get_the_template_base_models_the_raw_text():
    from sara_core.prompts import encode_steering_text

    chat, base = make_tiny_lm("llama", chat=True), make_tiny_lm("llama", chat=False)
    raw = base.tokenizer(PROMPT)["input_ids"]
    assert encode_prompt(base, PROMPT)[0].tolist() == raw
    templated = encode_prompt(chat, PROMPT)[0].tolist()
    assert len(templated) > len(raw)
    assert chat.tokenizer.decode(templated).startswith("<|user|>")
    assert chat.tokenizer.decode(templated).rstrip().endswith("<|assistant|>")
    # steering texts are never templated, for chat and base models alike
    assert encode_steering_text(chat, ATTRACT) == chat.tokenizer(ATTRACT)["input_ids"]


def test_prompted_answer_is_the_stance_written_into_the_prompt(tiny_lm):
    from sara_core.engine.decoding import decode_rows
    from sara_core.engine.row import Row
    from sara_core.prompts import decode

    cfg = SteeringConfig(layer=2)
    four = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY, prompted=True)
    three = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY)
    assert three.prompted is None and "prompted" not in three.answers()
    assert {k: four.answers()[k] for k in ("original", "sara", "actadd")} == three.answers()
    ids = encode_prompt(tiny_lm, PROMPT, instruction=ATTRACT)[0].tolist()
    assert tiny_lm.tokenizer.decode(ids).count(ATTRACT) == 1
    lone = Row(ids, max_new_tokens=GREEDY.max_new_tokens)
    decode_rows(tiny_lm, [lone])
    assert four.prompted == decode(tiny_lm, lone.tokens)
    assert four.timing["new_tokens"].keys() == {"original", "sara", "actadd", "prompted"}
    mine = compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY, prompted="Be brief.")
    assert mine.settings["instruction"] == "Be brief."


def test_prompted_answer_streams_beside_the_others(tiny_lm):
    cfg = SteeringConfig(layer=2)
    updates = list(stream_compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GREEDY, prompted=True))
    assert any(u.prompted for u in updates if u.status == "generating")
    assert updates[-1].prompted == updates[-1].result.prompted


def test_a_bad_instruction_is_refused_at_the_call(tiny_lm):
    with pytest.raises(ValueError, match="the instruction is empty"):
        compare(tiny_lm, PROMPT, ATTRACT, REPEL, prompted="   ")
    with pytest.raises(ValueError, match="the instruction is too long"):
        compare(tiny_lm, PROMPT, ATTRACT, REPEL, prompted="word " * 700)

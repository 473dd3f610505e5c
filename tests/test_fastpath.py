"""The lean llama decode step (sara_core.fastpath): same logits as transformers' forward, same
answers with and without it (steered and padded rows included), and it steps aside for
models and hooks it does not cover."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_lm

from sara_core import fastpath
from sara_core.decoding import Row, _forward, _new_cache, decode_rows, left_pad
from sara_core.generation import prepare_actadd, prepare_sara
from sara_core.threads import decode_threads, intra_op_threads

TEXTS = [
    "Should they report them to the authorities?",
    "Hello world! I am happy and hopeful. Love hate good bad yes no report protect.",
    "no",
]
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."


def _prompts(lm) -> list[list[int]]:
    return [lm.tokenizer(t)["input_ids"] for t in TEXTS]


def test_fast_steps_give_transformers_logits_on_a_padded_batch(tiny_lm):
    fast = fastpath.fast_llama(tiny_lm.model)
    assert fast is not None
    batch = left_pad(_prompts(tiny_lm), 0, torch.device("cpu"))
    with torch.no_grad():
        ref_cache, cache = _new_cache(tiny_lm), _new_cache(tiny_lm)
        logits = _forward(tiny_lm, batch.ids, batch.mask, batch.positions, ref_cache, True)
        _forward(tiny_lm, batch.ids, batch.mask, batch.positions, cache, True)
        state = fast.new_state(cache, batch.mask, 8, torch.float32)
        mask, positions = batch.mask, batch.positions[:, -1]
        tokens = logits[:, -1].argmax(-1)
        for _ in range(6):
            mask = torch.cat([mask, mask.new_ones((3, 1))], dim=1)
            positions = positions + 1
            want = _forward(tiny_lm, tokens[:, None], mask, positions[:, None], ref_cache, True)
            got = fast.step(state, tokens, positions)
            torch.testing.assert_close(got, want[:, -1], atol=1e-5, rtol=1e-5)
            tokens = want[:, -1].argmax(-1)


def _answers(lm, specs, enabled: bool, monkeypatch) -> list[list[int]]:
    monkeypatch.setattr(fastpath, "ENABLED", enabled)
    rows = [Row(p, s, max_new_tokens=10, min_new_tokens=3) for p, s in specs]
    decode_rows(lm, rows)
    return [r.tokens for r in rows]


def test_steered_rows_answer_the_same_with_and_without_the_fast_step(tiny_lm, monkeypatch):
    """Every steering that acts on decode steps goes through the hooks' edit at its block."""
    ids = _prompts(tiny_lm)
    every = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1, coeff=1.0, scope="every-step")
    caa = prepare_actadd(tiny_lm, ATTRACT, REPEL, layer=2, coeff=3.0, mode="every-position")
    prompt = prepare_sara(tiny_lm, ATTRACT, REPEL, layer=1, coeff=2.0)
    specs = [(ids[0], (every,)), (ids[1], (caa,)), (ids[2], ()), (ids[1], (prompt, caa))]
    calls = []
    step = fastpath.FastLlama.step
    monkeypatch.setattr(
        fastpath.FastLlama, "step", lambda self, *a, **k: calls.append(1) or step(self, *a, **k)
    )
    fast = _answers(tiny_lm, specs, True, monkeypatch)
    assert calls, "the tiny llama should decode through the fast step"
    slow = _answers(tiny_lm, specs, False, monkeypatch)
    assert fast == slow
    plain = _answers(tiny_lm, [(ids[0], ())], True, monkeypatch)
    assert plain[0] != fast[0]  # the every-step steering really acted on the fast steps


def test_a_foreign_hook_sends_decoding_through_the_model(tiny_lm, monkeypatch):
    """A hook the loop did not install must run: the fast step would skip it."""
    seen = []
    block = tiny_lm.model.model.layers[1]
    handle = block.register_forward_hook(lambda *a: seen.append(1))
    try:
        rows = [Row(_prompts(tiny_lm)[0], max_new_tokens=4, min_new_tokens=4)]
        decode_rows(tiny_lm, rows)
    finally:
        handle.remove()
    assert len(seen) == 4  # the prefill and three decode steps


@pytest.mark.parametrize("arch", ["gpt2", "qwen2", "gemma"])
def test_other_architectures_are_not_taken(arch):
    assert fastpath.fast_llama(make_tiny_lm(arch).model) is None


def test_float32_cpu_only(tiny_lm):
    assert fastpath.supported(tiny_lm.model)
    assert not fastpath.supported(make_tiny_lm("llama", dtype=torch.bfloat16).model)


def test_fused_weights_follow_a_changed_model(tiny_lm):
    first = fastpath.fast_llama(tiny_lm.model)
    assert fastpath.fast_llama(tiny_lm.model) is first
    layer = tiny_lm.model.model.layers[0].self_attn.q_proj
    layer.weight = torch.nn.Parameter(layer.weight.detach().clone())
    second = fastpath.fast_llama(tiny_lm.model)
    assert second is not first
    with torch.no_grad():  # an edit in place, as an ablation would do
        tiny_lm.model.model.layers[1].mlp.up_proj.weight.mul_(2)
    assert fastpath.fast_llama(tiny_lm.model) is not second


def test_the_model_still_saves_and_reloads_after_fast_decoding(tiny_lm, tmp_path):
    from sara_core.models import load_model

    decode_rows(tiny_lm, [Row(_prompts(tiny_lm)[0], max_new_tokens=3)])
    tiny_lm.model.save_pretrained(tmp_path)
    tiny_lm.tokenizer.save_pretrained(tmp_path)
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        want = tiny_lm.model(input_ids=ids).logits
        torch.testing.assert_close(load_model(str(tmp_path)).model(input_ids=ids).logits, want)


def test_small_cpu_batches_decode_on_one_thread(tiny_lm):
    assert decode_threads(tiny_lm, 3) == 1
    assert decode_threads(tiny_lm, 40) is None
    before = torch.get_num_threads()
    with intra_op_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before

"""The lean forward pass (sara_core.engine.cpu.lean_model): the logits of transformers' forward on
every architecture it takes (llama, qwen2, gemma, gemma-2 with soft caps and a sliding window), for
the prompt and for decode steps over a batch whose rows joined at different lengths; and it
steps aside for models and hooks it does not cover."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_lm, make_tiny_tokenizer

from sara_core.engine.cpu import lean_model as fastpath
from sara_core.engine.cpu.kv_cache import KVState
from sara_core.engine.decoding import _forward, _new_cache, decode_rows, left_pad
from sara_core.engine.row import Row
from sara_core.engine.threads import decode_threads, intra_op_threads

TEXTS = [
    "Should they report them to the authorities?",
    "Hello world! I am happy and hopeful. Love hate good bad yes no report protect.",
    "no",
]


def _prompts(lm) -> list[list[int]]:
    return [lm.tokenizer(t)["input_ids"] for t in TEXTS]


def _windowed_gemma2():
    """gemma-2 with a 4-token sliding window (every other block), so the window really cuts."""
    import transformers as tf

    from sara_core.models.loading import LoadedModel

    tok = make_tiny_tokenizer()
    cfg = tf.Gemma2Config(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        sliding_window=4,
        query_pre_attn_scalar=24,
        attn_logit_softcapping=2.0,  # low enough to bend the scores of a tiny model
        final_logit_softcapping=3.0,
        max_position_embeddings=256,
        eos_token_id=0,
        pad_token_id=0,
        bos_token_id=1,
    )
    torch.manual_seed(0)
    model = tf.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
    with torch.no_grad():  # random weights are too small for the caps to bend anything
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8)
            layer.self_attn.k_proj.weight.mul_(8)
        model.model.norm.weight.fill_(40.0)
    return LoadedModel(model=model, tokenizer=tok, name="tiny-gemma2-window", source="config")


def _qwen2_with_biases():
    """qwen2's q/k/v biases start at zero: random ones, so that they count."""
    lm = make_tiny_lm("qwen2")
    with torch.no_grad():
        for layer in lm.model.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_(0, 0.5)
    return lm


LMS = {
    "llama": lambda: make_tiny_lm("llama"),
    "qwen2": _qwen2_with_biases,
    "gemma": lambda: make_tiny_lm("gemma"),
    "gemma2-window": _windowed_gemma2,
}


@pytest.mark.parametrize("name", list(LMS))
@pytest.mark.parametrize("copies", [True, False])
def test_lean_passes_give_transformers_logits(name, copies, monkeypatch):
    """Each prompt alone through the lean prefill, joined into one batch, then decode steps:
    the logits of transformers' forward on the left-padded batch, every step."""
    if not copies:  # a model over the copy limit uses its own weights through F.linear
        monkeypatch.setattr(fastpath, "COPY_LIMIT_BYTES", 0)
    lm = LMS[name]()
    lean = fastpath.lean_model(lm.model)
    assert lean is not None and (lean.blocks[0].qkv is not None) == copies
    prompts = _prompts(lm)
    batch = left_pad(prompts, 0, torch.device("cpu"))
    state = KVState(lean.n_layers, lean.n_kv, lean.head_dim, torch.float32)
    with torch.no_grad():
        cache = _new_cache(lm)
        want = _forward(lm, batch.ids, batch.mask, batch.positions, cache, False)
        firsts = []
        for p in prompts:  # one prompt at a time, unpadded, as the lean loop admits them
            kv: list = []
            h = lean.prefill(lean.embed_ids(torch.tensor(p))[None], 0, lean.n_layers, kv)
            torch.testing.assert_close(
                lean.logits(h[0]), want[len(firsts), -len(p) :], atol=5e-5, rtol=1e-5
            )
            firsts.append(lean.logits(h[:, -1]))
            state.join(kv, reserve=2)  # too little room on purpose: the buffer grows
        mask, positions = batch.mask, batch.positions[:, -1]
        tokens = want[:, -1].argmax(-1)
        for _ in range(7):  # past the window of 4 and past the reserved room
            mask = torch.cat([mask, mask.new_ones((3, 1))], dim=1)
            positions = positions + 1
            ref = _forward(lm, tokens[:, None], mask, positions[:, None], cache, True)[:, -1]
            got = lean.step(state, tokens, positions)
            torch.testing.assert_close(got, ref, atol=5e-5, rtol=1e-5)
            tokens = ref.argmax(-1)


def test_the_soft_caps_and_the_window_really_act():
    """The gemma-2 test above would pass without its caps and window if they never bit."""
    lm = _windowed_gemma2()
    lean = fastpath.lean_model(lm.model)
    assert lean is not None and lean.attn_cap == 2.0 and lean.final_cap == 3.0
    assert [b.window for b in lean.blocks] == [4, None, 4, None]
    ids = torch.tensor(_prompts(lm)[1])
    with torch.no_grad():
        base = lean.logits(lean.prefill(lean.embed_ids(ids)[None], 0, 4, [])[0])
        assert base.abs().max() < 3.0  # capped
        for attr, value in (("attn_cap", None), ("final_cap", None)):
            setattr(lean, attr, value)
            other = lean.logits(lean.prefill(lean.embed_ids(ids)[None], 0, 4, [])[0])
            assert not torch.allclose(other, base, atol=1e-4)
        for b in lean.blocks:
            b.window = None
        wide = lean.logits(lean.prefill(lean.embed_ids(ids)[None], 0, 4, [])[0])
        lean.attn_cap, lean.final_cap = 2.0, 3.0
        capped_wide = lean.logits(lean.prefill(lean.embed_ids(ids)[None], 0, 4, [])[0])
    assert not torch.allclose(capped_wide[6:], base[6:], atol=1e-4)  # the window cut
    assert torch.allclose(capped_wide[:4], base[:4])  # within the window: the same
    assert not torch.allclose(wide, base, atol=1e-4)


def test_a_foreign_hook_sends_decoding_through_the_model(tiny_lm):
    """A hook the loop did not install must run: the lean passes would skip it."""
    seen = []
    block = tiny_lm.model.model.layers[1]
    handle = block.register_forward_hook(lambda *a: seen.append(1))
    try:
        assert fastpath.lean_model(tiny_lm.model) is None
        rows = [Row(_prompts(tiny_lm)[0], max_new_tokens=4, min_new_tokens=4)]
        decode_rows(tiny_lm, rows)
    finally:
        handle.remove()
    assert len(seen) == 4  # the prefill and three decode steps
    assert fastpath.lean_model(tiny_lm.model) is not None


@pytest.mark.parametrize("arch", ["gpt2", "phi3", "gemma3", "mistral"])
def test_other_architectures_are_not_taken(arch):
    assert fastpath.lean_model(make_tiny_lm(arch).model) is None


def test_float32_cpu_only(tiny_lm):
    assert fastpath.supported(tiny_lm.model)
    assert not fastpath.supported(make_tiny_lm("llama", dtype=torch.bfloat16).model)


def test_weights_follow_a_changed_model(tiny_lm):
    first = fastpath.lean_model(tiny_lm.model)
    assert fastpath.lean_model(tiny_lm.model) is first
    layer = tiny_lm.model.model.layers[0].self_attn.q_proj
    layer.weight = torch.nn.Parameter(layer.weight.detach().clone())
    second = fastpath.lean_model(tiny_lm.model)
    assert second is not first
    with torch.no_grad():  # an edit in place, as an ablation would do
        tiny_lm.model.model.layers[1].mlp.up_proj.weight.mul_(2)
    assert fastpath.lean_model(tiny_lm.model) is not second


def test_the_model_still_saves_and_reloads_after_lean_decoding(tiny_lm, tmp_path):
    from sara_core.models.loading import load_model

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

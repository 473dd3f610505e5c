"""``--dtype int8`` (sara_core.models.int8): the blocks' linear layers, the token embedding and the
output layer stored as int8 rows with a float32 scale, read one tensor at a time; everything else
float32. Against
float32 on the same weights: close logits on tiny models (the quality bounds on Qwen 0.5B are in
tests/test_real_weights.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import make_tiny_lm

from sara_core.engine.cpu import lean_model as fastpath
from sara_core.engine.cpu.int8_kernels import dequantize
from sara_core.engine.cpu.int8_linear import Int8Embedding, Int8Linear
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.models.loading import load_model
from sara_core.steering.prepare import prepare_actadd, prepare_sara


def _saved(arch: str, folder: Path):
    tiny = make_tiny_lm(arch)
    with torch.no_grad():  # qwen2's q, k, v biases start at zero: give them values to carry
        for module in tiny.model.modules():
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.normal_(0.0, 0.5)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return tiny


def _kl(ref: torch.Tensor, got: torch.Tensor) -> float:
    p, q = ref.log_softmax(-1), got.log_softmax(-1)
    return float((p.exp() * (p - q)).sum(-1).mean())


@pytest.mark.parametrize("arch", ["llama", "qwen2", "gemma2", "gemma3"])
def test_int8_stores_the_blocks_and_head_in_int8_and_stays_close(arch, tmp_path):
    tiny = _saved(arch, tmp_path)
    lm = load_model(str(tmp_path), dtype="int8")
    blocks = lm.model.model.layers
    projections = [m for n, m in blocks[0].named_modules() if n.endswith("_proj")]
    assert len(projections) == 7 and all(isinstance(m, Int8Linear) for m in projections)
    assert isinstance(lm.model.lm_head, Int8Linear)
    assert isinstance(lm.model.model.embed_tokens, Int8Embedding)
    assert not any(p.ndim == 2 for p in lm.model.parameters())  # no float32 matrix is left
    assert lm.dtype == torch.float32 and lm.weight_dtype == torch.int8
    info = lm.describe()
    assert info["dtype"] == "int8" and "left float32" not in info["int8_note"]
    assert info["weight_bytes"] < 0.6 * tiny.weight_bytes
    ids = torch.tensor([[3, 4, 5, 6, 7, 8]])
    with torch.no_grad():
        ref, got = tiny.model(ids).logits, lm.model(ids).logits
    assert _kl(ref, got) < 1e-3
    torch.testing.assert_close(got, ref, atol=0.05 * float(ref.abs().max()), rtol=0)


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_the_int8_embedding_is_the_dequantized_rows_and_a_tied_head_shares_them(arch, tmp_path):
    tiny = _saved(arch, tmp_path)
    tied = tiny.model.lm_head.weight is tiny.model.model.embed_tokens.weight
    assert tied == (arch == "gemma3")  # both cases are covered
    lm = load_model(str(tmp_path), dtype="int8")
    embed, head = lm.model.model.embed_tokens, lm.model.lm_head
    ids = torch.tensor([[0, 5, 17, 5, 200]])
    want = torch.nn.functional.embedding(ids, dequantize(embed.weight_int8))
    scale = getattr(tiny.model.model.embed_tokens, "embed_scale", None)
    if scale is not None:  # Gemma 3 scales its embedding by sqrt(hidden size)
        want = want * scale
    with torch.no_grad():
        got, ref = embed(ids), tiny.model.model.embed_tokens(ids)
    torch.testing.assert_close(got, want, rtol=0, atol=0)
    torch.testing.assert_close(got, ref, atol=0.01 * float(ref.abs().max()), rtol=0)
    shares = head.qweight.data_ptr() == embed.qweight.data_ptr()
    assert shares == tied  # one int8 copy of a tied vocabulary, two of an untied one


def test_layers_the_kernels_do_not_cover_stay_float32_and_info_names_them(tmp_path):
    _saved("gpt2", tmp_path)  # GPT-2's Conv1D layers
    lm = load_model(str(tmp_path), dtype="int8")
    info = lm.describe()
    assert info["dtype"] == "int8"  # its output layer is int8
    assert "attn.c_attn" in info["int8_note"] and "mlp.c_fc" in info["int8_note"]
    with torch.no_grad():
        assert torch.isfinite(lm.model(torch.tensor([[3, 4, 5]])).logits).all()


def test_a_random_model_builds_in_int8(tmp_path):
    lm = load_model("random:smollm2-135m", dtype="int8")
    assert lm.weight_dtype == torch.int8 and isinstance(lm.model.lm_head, Int8Linear)
    assert not any(p.is_meta for p in lm.model.parameters())


def _specs(lm):
    attract = "Only consequences matter to make a moral decision."
    repel = "Only moral duties matter to make a moral decision."
    ids = lm.tokenizer("Should they report them to the authorities?")["input_ids"]
    sara = prepare_sara(lm, attract, repel, layer=2, coeff=2.0)
    actadd = prepare_actadd(lm, attract, repel, layer=2, coeff=4.0)
    other = lm.tokenizer("Hello world! I am happy.")["input_ids"]
    return [(ids, ()), (ids, (sara,)), (ids, (actadd,)), (other, ())]


def _decode(lm, specs, lean: bool, monkeypatch) -> list[list[int]]:
    monkeypatch.setattr(fastpath, "ENABLED", lean)
    rows = [Row(list(p), s, max_new_tokens=8, min_new_tokens=3) for p, s in specs]
    decode_rows(lm, rows)
    monkeypatch.setattr(fastpath, "ENABLED", True)
    return [r.tokens for r in rows]


@pytest.mark.parametrize("arch", ["llama", "gemma2"])
def test_the_lean_path_runs_int8_and_a_shared_batch_gives_the_lone_answers(
    arch, tmp_path, monkeypatch
):
    _saved(arch, tmp_path)
    lm = load_model(str(tmp_path), dtype="int8")
    assert fastpath.lean_model(lm.model) is not None
    specs = _specs(lm)
    shared = _decode(lm, specs, True, monkeypatch)
    lone = [_decode(lm, [s], True, monkeypatch)[0] for s in specs]
    assert shared == lone
    # transformers' forward on the same int8 layers: a prompt of more than 12 rows in one
    # product takes BLAS instead of the decode kernel, another summation order, which may flip
    # a near-tie of a tiny random model late in an answer; the first tokens agree.
    through_transformers = [_decode(lm, [s], False, monkeypatch)[0] for s in specs]
    assert [t[:4] for t in through_transformers] == [t[:4] for t in lone]


def test_a_weight_is_read_and_quantized_a_few_rows_at_a_time(tmp_path, monkeypatch):
    from sara_core.models import int8

    _saved("qwen2", tmp_path)
    whole = load_model(str(tmp_path), dtype="int8")
    reads: list[int] = []
    real = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda w: reads.append(w.shape[0]) or real(w))
    monkeypatch.setattr(int8, "CHUNK_FLOATS", 64 * 3)  # 3 rows of 64 inputs per read
    parts = load_model(str(tmp_path), dtype="int8")
    assert max(reads) == 3
    mine = dict(parts.model.named_buffers())
    for name, buffer in whole.model.named_buffers():
        assert torch.equal(buffer, mine[name]), name


def test_records_name_int8_not_the_float32_it_computes_in(tmp_path):
    from sara_core.evaluation.answers import answer_settings
    from sara_core.evaluation.config import EvalConfig

    _saved("llama", tmp_path)
    lm = load_model(str(tmp_path), dtype="int8")
    assert lm.dtype == torch.float32 and lm.dtype_label == "int8"
    # what an evaluation store keeps: a float32 run and an int8 run must not pass as one
    assert answer_settings(lm, EvalConfig(), [1])["dtype"] == "int8"
    assert load_model(str(tmp_path)).dtype_label == "float32"

"""A checkpoint loaded in another dtype on the CPU: read one tensor at a time (pread), the same
model as transformers' own load, bit for bit, and a peak of the converted weights, not the file
plus the weights."""

from __future__ import annotations

import pytest
import torch
from conftest import ARCHS, make_tiny_lm, make_tiny_tokenizer
from peak import available, peak_growth

from sara_core.models import loading as models, weights
from sara_core.models.loading import load_model


def save(lm, folder, dtype=torch.bfloat16, shard: str | None = None):
    lm.model.to(dtype).save_pretrained(folder, max_shard_size=shard or "5GB")
    lm.tokenizer.save_pretrained(folder)
    return folder


def reference(folder, dtype=torch.float32):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).eval()


def same_model(ours, theirs) -> None:
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    ids = torch.tensor([[1, 5, 9, 13, 2]])
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, theirs(ids).logits)


def spy(monkeypatch) -> list:
    calls: list = []
    real = weights.load_converting

    def recording(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(weights, "load_converting", recording)
    return calls


@pytest.mark.parametrize("arch", ["llama", "gemma", "gemma2", "qwen2"])
def test_a_bfloat16_folder_loads_in_float32_as_transformers_loads_it(arch, tmp_path, monkeypatch):
    assert arch in ARCHS
    folder = save(make_tiny_lm(arch), tmp_path)
    calls = spy(monkeypatch)
    lm = load_model(str(folder), dtype="float32")
    assert len(calls) == 1 and lm.dtype == torch.float32
    same_model(lm.model, reference(folder))
    if lm.model.config.tie_word_embeddings:  # Gemma ties its head to its embedding
        head, embed = lm.model.get_output_embeddings(), lm.model.get_input_embeddings()
        assert head.weight.data_ptr() == embed.weight.data_ptr()
    expected = reference(folder).generation_config.to_dict()
    assert lm.model.generation_config.to_dict() == expected


def test_a_sharded_checkpoint_reads_every_shard(tmp_path, monkeypatch):
    folder = save(make_tiny_lm("llama"), tmp_path, shard="40KB")
    files = weights.safetensors_files(folder)
    assert len(files) > 2 and (folder / weights.INDEX).is_file()
    calls = spy(monkeypatch)
    lm = load_model(str(folder), dtype="float32")
    assert calls == [files]
    same_model(lm.model, reference(folder))


def test_no_conversion_keeps_transformers_own_load(tmp_path, monkeypatch):
    """A float32 folder loaded in float32 maps the file as it is (nothing to convert)."""
    folder = save(make_tiny_lm("llama"), tmp_path, dtype=torch.float32)
    calls = spy(monkeypatch)
    load_model(str(folder), dtype="float32")
    assert calls == []
    assert weights.file_dtypes(weights.safetensors_files(folder)) == {torch.float32}


def test_a_hub_model_stored_in_another_dtype_is_fetched_then_read_by_pread(tmp_path, monkeypatch):
    import huggingface_hub

    folder = save(make_tiny_lm("llama"), tmp_path)
    asked: list = []

    def fake_download(repo_id, allow_patterns=None, **_kw):
        asked.append((repo_id, tuple(allow_patterns or ())))
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    config = reference(folder).config
    cpu = torch.device("cpu")
    config.dtype = torch.bfloat16
    assert models._weights_folder("owner/model", config, torch.float32, cpu) == folder
    assert asked == [("owner/model", (weights.INDEX, "model*.safetensors"))]
    for stored, device in ((torch.float32, cpu), (torch.bfloat16, torch.device("meta"))):
        config.dtype = stored
        assert models._weights_folder("owner/model", config, torch.float32, device) is None
    assert len(asked) == 1  # neither the same dtype nor another device fetches anything


@pytest.mark.skipif(not available(), reason="needs Linux's /proc/self/clear_refs")
def test_converting_holds_the_weights_once_not_the_file_as_well(tmp_path, monkeypatch):
    """100 M parameters (400 MB in float32) from a 200 MB bfloat16 file: the load's peak is
    the float32 weights and little more. Through transformers' memory map it would be both
    (about 600 MB): break ``weights.converts`` to return [] and this fails."""
    from transformers import AutoModelForCausalLM, LlamaConfig

    tok = make_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=512,
        intermediate_size=2048,
        num_hidden_layers=24,
        num_attention_heads=8,
        num_key_value_heads=8,
        max_position_embeddings=256,
    )
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    del model
    with peak_growth() as got:
        lm = load_model(str(tmp_path), dtype="float32")
    weights_bytes = params * 4
    assert lm.weight_bytes == weights_bytes
    assert got["bytes"] < 1.15 * weights_bytes, f"{got['bytes'] / 1e6:.0f} MB"

"""Model loading: embedded model cache (first load, cached load, corrupt cache), local folders,
hub ids offline, device and dtype choice."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from conftest import make_tiny_lm

from sara_core.models import cache, embedded, gguf_convert, gguf_models, loading as models
from sara_core.models.errors import ModelLoadError
from sara_core.models.loading import load_model


def test_the_library_never_reads_sara_model(monkeypatch):
    """Settings come from the environment at the entry point (CLI, app), not in the library."""
    monkeypatch.setenv("SARA_MODEL", "/no/such/folder")
    loaded = []
    monkeypatch.setattr(
        models, "_load_pretrained", lambda src, *a, **k: loaded.append(src) or 1 / 0
    )
    monkeypatch.setattr(gguf_models, "convert_or_fail", lambda *a, **k: None)  # no rebuild
    with pytest.raises(ZeroDivisionError):
        models.load_model(None)
    assert "no/such" not in str(loaded[0])


def test_the_cli_reads_sara_model_once_at_its_entry_point(monkeypatch):
    from sara_core import cli

    monkeypatch.setenv("SARA_MODEL", "/no/such/folder")
    seen = []
    monkeypatch.setattr(cli, "_load_model", lambda args: seen.append(args.model) or exit(3))
    with pytest.raises(SystemExit):
        cli.main(["info"])
    assert seen == ["/no/such/folder"]


def test_cache_dir_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    assert cache.cache_dir() == tmp_path


def test_local_folder_loads_and_describes_itself(tmp_path):
    tiny = make_tiny_lm("qwen2")
    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    lm = load_model(str(tmp_path))
    info = lm.describe()
    assert info["layers"] == 4 and info["hidden_size"] == 64
    assert info["device"] == "cpu" and info["dtype"] == "float32"
    assert info["chat_template"] is True and lm.source == "local"
    ids = torch.tensor([[3, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(lm.model(input_ids=ids).logits, tiny.model(input_ids=ids).logits)


def test_unreachable_hub_id_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="nobody/no-such-model is not in the local Hugging"):
        load_model("nobody/no-such-model")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """One real conversion of the embedded GGUF (about 30 s on a 2-core CPU), shared by the cache
    tests below: they test the cache's logic, and where that logic converts again they copy this
    folder instead of dequantizing the same file once more."""
    root = tmp_path_factory.mktemp("sara-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SARA_CACHE_DIR", str(root))
        lm = load_model()
        entry = embedded.embedded_cache_path()
    return lm, entry


def copying_converter(source, calls):
    """A stand-in for ``gguf_convert._write``: fills the conversion's temp folder by copying
    ``source`` (convert_gguf then swaps it in whole, as for a real conversion)."""

    def convert(gguf, tmp, *_args):
        calls.append(gguf)
        shutil.copytree(source, tmp, dirs_exist_ok=True)  # copy2: the marker's mtimes match

    return convert


def logits(lm, ids=(1, 2, 3, 4)):
    with torch.no_grad():
        return lm.model(input_ids=torch.tensor([list(ids)])).logits


@pytest.mark.e2e
def test_embedded_model_converts_once_then_loads_from_cache_and_heals(
    converted, tmp_path, monkeypatch
):
    first, source = converted
    assert first.source == "gguf" and first.n_layers == 30 and first.hidden_size == 576
    assert first.is_chat and gguf_convert.cache_is_complete(source)
    monkeypatch.setenv("SARA_CACHE_DIR", str(source.parent))
    second = load_model()
    assert second.source == "cache"
    torch.testing.assert_close(logits(second), logits(first))
    # damage the weights of a copy: detected, rebuilt, and the load still succeeds
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    entry = embedded.embedded_cache_path()
    shutil.copytree(source, entry)
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    calls = []
    monkeypatch.setattr(gguf_convert, "_write", copying_converter(source, calls))
    healed = load_model()
    assert calls == [embedded.embedded_gguf_path()] and healed.source == "gguf"
    torch.testing.assert_close(logits(healed), logits(first))
    assert not list(tmp_path.glob("*.tmp-*"))  # no half-written folders left behind


@pytest.mark.e2e
def test_a_corrupt_config_behind_a_valid_marker_takes_the_rebuild_path(
    converted, tmp_path, monkeypatch
):
    """The marker checks the weights only: a broken config.json must still heal (the except
    branch of load_model, which the truncation test above never reaches)."""
    first, source = converted
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    entry = embedded.embedded_cache_path()
    shutil.copytree(source, entry)
    (entry / "config.json").write_text("{ this is not json")
    assert gguf_convert.cache_is_complete(entry)  # the marker still vouches for the weights
    calls = []
    monkeypatch.setattr(gguf_convert, "_write", copying_converter(source, calls))
    healed = load_model()
    assert calls == [embedded.embedded_gguf_path()] and healed.source == "gguf"
    torch.testing.assert_close(logits(healed, (1, 2, 3)), logits(first, (1, 2, 3)))
    assert json.loads((entry / "config.json").read_text())["num_hidden_layers"] == 30


@pytest.mark.e2e
def test_a_full_disk_during_conversion_leaves_no_partial_cache(converted, tmp_path, monkeypatch):
    """The real conversion code, its GGUF read replaced by the converted folder (the same
    weights, without dequantizing them again)."""
    import errno

    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

    _, source = converted
    for auto in (AutoModelForCausalLM, AutoTokenizer):
        real_load = auto.from_pretrained

        def from_source(src, *args, _real=real_load, gguf_file=None, **kwargs):
            return _real(source if gguf_file else src, *args, **kwargs)

        monkeypatch.setattr(auto, "from_pretrained", from_source)
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    real_save = PreTrainedModel.save_pretrained

    def full_disk(self, folder, *args, **kwargs):
        real_save(self, folder, *args, **kwargs)  # write part of it, then run out of space
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full_disk)
    with pytest.raises(ModelLoadError, match="the disk is full.*SARA_CACHE_DIR"):
        load_model()
    assert [p.name for p in tmp_path.iterdir()] == [gguf_convert.HASHES_FILE]  # no folder
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", real_save)
    assert load_model().source == "gguf"  # with space again, the next load works

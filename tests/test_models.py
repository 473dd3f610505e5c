"""Model loading: embedded model cache (first load, cached load, corrupt cache), local folders,
hub ids offline, device and dtype choice."""

from __future__ import annotations

import json
import os

import pytest
import torch
from conftest import make_tiny_lm

from sara_core import embedded, models
from sara_core.models import ModelLoadError, load_model


def test_the_library_never_reads_sara_model(monkeypatch):
    """Settings come from the environment at the entry point (CLI, app), not in the library."""
    monkeypatch.setenv("SARA_MODEL", "/no/such/folder")
    loaded = []
    monkeypatch.setattr(
        models, "_load_pretrained", lambda src, *a, **k: loaded.append(src) or 1 / 0
    )
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
    assert embedded.cache_dir() == tmp_path


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


def test_incomplete_cache_is_not_trusted(tmp_path):
    folder = tmp_path / "entry"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x" * 100)
    assert not embedded._cache_is_complete(folder)  # no marker: a conversion that died midway
    (folder / embedded._COMPLETE_MARKER).write_text(json.dumps({"size": 100, "sha256": "0" * 64}))
    assert not embedded._cache_is_complete(folder)  # checksum mismatch
    (folder / embedded._COMPLETE_MARKER).write_text("{not json")
    assert not embedded._cache_is_complete(folder)
    weights = folder / "model.safetensors"
    good = {"size": 100, "sha256": embedded._file_sha256(weights)}
    (folder / embedded._COMPLETE_MARKER).write_text(json.dumps(good))
    assert embedded._cache_is_complete(folder)  # checksum verified
    stale = {**good, "mtime_ns": weights.stat().st_mtime_ns, "sha256": "0" * 64}
    (folder / embedded._COMPLETE_MARKER).write_text(json.dumps(stale))
    assert embedded._cache_is_complete(folder)  # untouched since written: no need to hash
    weights.write_bytes(b"y" * 100)  # same size, rewritten: mtime moves, the checksum decides
    os.utime(weights, ns=(0, stale["mtime_ns"] + 10**9))
    assert not embedded._cache_is_complete(folder)


@pytest.mark.e2e
def test_embedded_model_converts_once_then_loads_from_cache_and_heals(tmp_path, monkeypatch):
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    first = load_model()
    assert first.source == "gguf" and first.n_layers == 30 and first.hidden_size == 576
    assert first.is_chat
    entry = embedded.embedded_cache_path()
    assert embedded._cache_is_complete(entry)
    second = load_model()
    assert second.source == "cache"
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        expected = first.model(input_ids=ids).logits
        torch.testing.assert_close(second.model(input_ids=ids).logits, expected)
    # damage the weights: detected, rebuilt, and the load still succeeds
    weights = entry / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    healed = load_model()
    assert healed.source == "gguf"
    with torch.no_grad():
        torch.testing.assert_close(healed.model(input_ids=ids).logits, expected)
    assert not list(tmp_path.glob("*.tmp-*"))  # no half-written folders left behind


@pytest.mark.e2e
def test_a_corrupt_config_behind_a_valid_marker_takes_the_rebuild_path(tmp_path, monkeypatch):
    """The marker checks the weights only: a broken config.json must still heal (the except
    branch of load_model, which the truncation test above never reaches)."""
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    first = load_model()
    entry = embedded.embedded_cache_path()
    (entry / "config.json").write_text("{ this is not json")
    assert embedded._cache_is_complete(entry)  # the marker still vouches for the weights
    converted = []
    real = embedded._convert_embedded
    monkeypatch.setattr(embedded, "_convert_embedded", lambda *a: converted.append(1) or real(*a))
    healed = load_model()
    assert converted == [1] and healed.source == "gguf"
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        torch.testing.assert_close(
            healed.model(input_ids=ids).logits, first.model(input_ids=ids).logits
        )
    assert json.loads((entry / "config.json").read_text())["num_hidden_layers"] == 30


@pytest.mark.e2e
def test_a_full_disk_during_conversion_leaves_no_partial_cache(tmp_path, monkeypatch):
    import errno

    from transformers import PreTrainedModel

    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))
    real_save = PreTrainedModel.save_pretrained

    def full_disk(self, folder, *args, **kwargs):
        real_save(self, folder, *args, **kwargs)  # write part of it, then run out of space
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", full_disk)
    with pytest.raises(ModelLoadError, match="the disk is full.*SARA_CACHE_DIR"):
        load_model()
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no marker
    monkeypatch.setattr(PreTrainedModel, "save_pretrained", real_save)
    assert load_model().source == "gguf"  # with space again, the next load works

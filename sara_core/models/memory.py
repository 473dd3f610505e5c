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
while it fits, bfloat16 when float32 would not. On a CPU without bf16 instructions (most
laptops) bfloat16 products run slower than float32 (docs/benchmark.md has the measurement), so
half precision on a CPU buys memory, not speed.
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
}
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")
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
    """A dtype from its name; None for ``auto`` or nothing. ValueError names the choices."""
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
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        raise DeviceError(
            f"dtype {dtype_name(dtype)} is not supported; use float32, bfloat16 or float16"
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


def estimate(params: int, dtype: torch.dtype) -> Estimate:
    """The weights and the peak of a comparison for ``params`` parameters in ``dtype``."""
    weights = params * dtype.itemsize
    return Estimate(params, dtype, weights, int(weights * PEAK_SCALE + PEAK_EXTRA_BYTES))


def parameter_count(config: Any) -> int:
    """The parameters a causal LM of ``config`` holds, counted on the meta device (exact, tied
    weights once, no memory used)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.tie_weights()
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


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
    device: torch.device, params: int, available: int, requested: torch.dtype | None
) -> torch.dtype:
    """The dtype to load in: ``requested`` if given (checked against the device), else the
    policy in the module docstring."""
    if requested is not None:
        check_dtype(requested, device)
        return requested
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    if estimate(params, torch.float32).peak_bytes <= available:
        return torch.float32
    return torch.bfloat16


def check_fits(name: str, need: Estimate, available: int, device: torch.device) -> None:
    """Refuse, in one line, a model whose estimated peak exceeds the memory available."""
    if need.peak_bytes <= available:
        return
    where = "free GPU memory" if device.type == "cuda" else "available memory"
    smaller = (
        " even in bfloat16"
        if need.dtype != torch.float32
        else "; --dtype bfloat16 would halve the weights"
    )
    raise DoesNotFitError(
        f"{name} does not fit: it needs {need.describe()}, and {gb(available)} of {where} "
        f"is left{smaller}. Free memory, pick a smaller model, or set SARA_MEMORY_MB if this "
        "figure is wrong"
    )

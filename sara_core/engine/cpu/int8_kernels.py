"""Products with int8 weights (one float32 scale per output row): decode rows and prefill tiles.

Why not torch's int8 op: ``torch.ops.aten._weight_int8pack_mm`` ran 4 times slower than the
float32 product for one row on this project's 2-core AVX2 CPU (docs/benchmark.md, "int8"), so
int8 weights would have cost speed, not bought it. Here:

- a decode of 1 to :data:`MAX_ROWS` rows reads each int8 weight row once, widens it to float32
  in registers and multiplies it by up to 4 input rows at a time, the output rows split over
  the cores (numba ``prange``); the scale multiplies each sum once at the end;
- more rows (a prompt) unpack a tile of weight rows to float32 (the same widening, in parallel)
  and hand it to BLAS (``torch.mm``), so a prompt runs at float32's speed plus the unpacking;
  the scales multiply the sums afterwards, as in the decode kernels.

numba compiles both once per machine (``cache=True``). Its thread pool is the ``workqueue``
layer, not OpenMP: on the shared 2-core machine an OpenMP region waited a scheduler time slice
for its second thread whenever other work held a core (16 ms for a 0.4 ms product), while the
workqueue's threads take the work when they run. That layer must not be entered from two
threads at once, so calls are serialized by a lock (two products at once would only share the
same cores anyway).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import torch

log = logging.getLogger(__name__)

MAX_ROWS = 12
"""Products of up to this many rows read the int8 weights directly; more rows unpack tiles."""
TILE_FLOATS = 1 << 24
"""Floats in one unpacked prefill tile (64 MB, reused): a whole matrix of a 1.5B model in one
BLAS call; smaller tiles ran slower (more calls, smaller products; docs/benchmark.md)."""

PARALLEL_MIN = 1 << 20
"""Products over fewer weights run on the calling thread: waking the pool costs more than the
second core brings there (a 576 x 576 product: 69 us on one thread, 91 to 127 us on two)."""

_KERNELS: dict[str, Any] = {}
_COMPILE = threading.Lock()
_CALL = threading.Lock()
_TILE: list[torch.Tensor] = [torch.empty(0)]  # the prefill's tile, reused (under _CALL)


@dataclass(frozen=True)
class QWeight:
    """An (out, in) weight as int8 rows ``q`` and one float32 ``scale`` per row: w ~ q * scale."""

    q: torch.Tensor
    scale: torch.Tensor

    @property
    def shape(self) -> torch.Size:
        return self.q.shape


def quantize(weight: torch.Tensor) -> QWeight:
    """Symmetric absmax per output row: scale = max |w| / 127, q = round(w / scale), in one
    pass over a float32 weight (numba, no temporaries); other dtypes are widened first."""
    w = weight.detach().to(torch.float32).contiguous()
    n, k = w.shape
    q = torch.empty(n, k, dtype=torch.int8)
    scale = torch.empty(n, dtype=torch.float32)
    with _CALL:
        _compile()["quantize"](w.numpy(), q.numpy(), scale.numpy())
    return QWeight(q, scale)


def dequantize(weight: QWeight) -> torch.Tensor:
    """The float32 weight the int8 one stands for."""
    return weight.q.to(torch.float32) * weight.scale[:, None]


def _compile() -> dict[str, Any]:
    """The numba kernels of :mod:`int8_numba` (imported on first use; numba is a dependency)."""
    with _COMPILE:
        if _KERNELS:
            return _KERNELS
        import numba

        config: Any = numba.config
        if config.THREADING_LAYER == "default":  # not chosen by the user (environment)
            config.THREADING_LAYER = "workqueue"
        from sara_core.engine.cpu import int8_numba as nb

        _KERNELS.update(rows=nb.rows, one=nb.one, unpack=nb.unpack, quantize=nb.quantize)
        return _KERNELS


def warm_up() -> None:
    """Load (or compile) the kernels in a background thread, as kernels.warm_up does."""
    if not _KERNELS and not _COMPILE.locked():
        threading.Thread(target=_compile, name="sara-int8-kernels", daemon=True).start()


def _decode(x2: torch.Tensor, weight: QWeight, kernels: dict[str, Any]) -> torch.Tensor:
    """(rows, in) float32 -> (rows, out), reading the int8 weights once."""
    import numpy as np

    rows, k = x2.shape
    n = weight.q.shape[0]
    q, scale = weight.q.numpy(), weight.scale.numpy()
    if rows == 1:
        out1 = np.empty(n, dtype=np.float32)
        kernels["one"](x2[0].numpy(), q, scale, out1)
        return torch.from_numpy(out1)[None]
    padded = (rows + 3) // 4 * 4
    xs = np.zeros((padded, k), dtype=np.float32)
    xs[:rows] = x2.numpy()
    out = np.empty((padded, n), dtype=np.float32)
    kernels["rows"](xs, q, scale, out)
    return torch.from_numpy(out[:rows])


def _prefill(x2: torch.Tensor, weight: QWeight, kernels: dict[str, Any]) -> torch.Tensor:
    """(rows, in) float32 -> (rows, out) through BLAS, a tile of unpacked weight rows at once."""
    n, k = weight.q.shape
    out_t = torch.empty(n, x2.shape[0], dtype=torch.float32)  # row tiles are contiguous here
    step = max(64, TILE_FLOATS // k)
    if _TILE[0].numel() < min(step, n) * k:
        _TILE[0] = torch.empty(step * k, dtype=torch.float32)
    tile = _TILE[0][: min(step, n) * k].view(-1, k)
    q = weight.q.numpy()
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        part = tile[: hi - lo]
        kernels["unpack"](q, lo, hi, part.numpy())
        torch.mm(part, x2.t(), out=out_t[lo:hi])
    out_t *= weight.scale[:, None]  # as the decode kernels do: each sum times its row's scale
    return out_t.t()


def linear(x: torch.Tensor, weight: QWeight, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, dequantize(weight), bias)`` for float32 x (..., in) on the CPU."""
    k = x.shape[-1]
    x2 = x.detach().reshape(-1, k).to(torch.float32).contiguous()
    kernels = _compile()
    import numba

    with _CALL:
        small = weight.q.numel() < PARALLEL_MIN
        config: Any = numba.config
        numba.set_num_threads(1 if small else config.NUMBA_NUM_THREADS)
        if x2.shape[0] <= MAX_ROWS:
            y = _decode(x2, weight, kernels)
        else:
            y = _prefill(x2, weight, kernels)
    y = y.reshape(*x.shape[:-1], weight.q.shape[0])
    return y if bias is None else y + bias

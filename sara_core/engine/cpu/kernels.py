"""A matrix product for a few rows (2 to 12): every weight read once, from the model's own layout.

Why hand-written: a decode step of a compare (3 or 4 rows) multiplies a few rows by every weight
matrix. On this project's 2-core AMD CPU, MKL (torch) and OpenBLAS (numpy) both run such a
product at a third to a half of the bandwidth of the one-row product (they pack the weights
first, and MKL takes its generic path on AMD), and BLIS (the ``blis`` package) was slower still
(docs/benchmark.md, "Small batches"). This kernel streams each weight row once and multiplies
it by 4 input rows held in registers (2 output columns at a time on wide inputs); numba, a
library from the registries, compiles it (once per machine: ``cache=True``). It reads the
weights of a few rows more than twice as fast as MKL (docs/benchmark.md); 1 row stays with MKL,
which is faster there, and so do batches over :data:`MAX_ROWS`, where MKL catches up.

The sums run in another order than MKL's (about 1e-6 relative), so a row's logits in a batch of
3 differ from its lone logits by that much, as with any batch shape change of MKL.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

MIN_ROWS, MAX_ROWS = 2, 12
"""Products of this many rows take the kernel (measured: it wins from 2 to about 12 rows)."""

ENABLED = True
"""Set False to leave every product to torch (tests, before/after timings)."""

_KERNELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def _compile() -> dict[str, Any] | None:
    """The numba kernels (imported on first use: numba takes half a second to import)."""
    with _LOCK:
        if "narrow" in _KERNELS or "failed" in _KERNELS:
            return _KERNELS if "narrow" in _KERNELS else None
        try:
            import numpy as np
            from numba import njit
        except ImportError as exc:  # pragma: no cover - numba is a dependency
            log.warning("numba is not installed (%s): small batches use torch's products", exc)
            _KERNELS["failed"] = True
            return None

        @njit(fastmath=True, nogil=True, cache=True)
        def narrow(x: Any, w: Any, out: Any) -> None:  # pragma: no cover - compiled
            # out (m, n) = x (m, k) @ w (n, k)^T; m a multiple of 4
            m, k = x.shape
            n = w.shape[0]
            for j in range(n):
                for r in range(0, m, 4):
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    for i in range(k):
                        wi = w[j, i]
                        a0 += x[r, i] * wi
                        a1 += x[r + 1, i] * wi
                        a2 += x[r + 2, i] * wi
                        a3 += x[r + 3, i] * wi
                    out[r, j] = a0
                    out[r + 1, j] = a1
                    out[r + 2, j] = a2
                    out[r + 3, j] = a3

        @njit(fastmath=True, nogil=True, cache=True)
        def wide(x: Any, w: Any, out: Any) -> None:  # pragma: no cover - compiled
            # the same, two output columns per pass (inputs of 2048 and more); n even
            m, k = x.shape
            n = w.shape[0]
            for jj in range(n // 2):
                j = 2 * jj
                for r in range(0, m, 4):
                    a0 = np.float32(0.0)
                    a1 = np.float32(0.0)
                    a2 = np.float32(0.0)
                    a3 = np.float32(0.0)
                    b0 = np.float32(0.0)
                    b1 = np.float32(0.0)
                    b2 = np.float32(0.0)
                    b3 = np.float32(0.0)
                    for i in range(k):
                        wi = w[j, i]
                        vi = w[j + 1, i]
                        x0 = x[r, i]
                        x1 = x[r + 1, i]
                        x2 = x[r + 2, i]
                        x3 = x[r + 3, i]
                        a0 += x0 * wi
                        a1 += x1 * wi
                        a2 += x2 * wi
                        a3 += x3 * wi
                        b0 += x0 * vi
                        b1 += x1 * vi
                        b2 += x2 * vi
                        b3 += x3 * vi
                    out[r, j] = a0
                    out[r + 1, j] = a1
                    out[r + 2, j] = a2
                    out[r + 3, j] = a3
                    out[r, j + 1] = b0
                    out[r + 1, j + 1] = b1
                    out[r + 2, j + 1] = b2
                    out[r + 3, j + 1] = b3

        _KERNELS.update(narrow=narrow, wide=wide)
        return _KERNELS


def warm_up() -> None:
    """Import numba and load (or compile) the kernels in a background thread, so that a first
    decode pays it while its prompt runs (seconds; longer the first time ever, when it compiles)."""
    if ENABLED and not _KERNELS and not _LOCK.locked():
        threading.Thread(target=_compile, name="sara-kernels", daemon=True).start()


def applies(rows: int, weight: torch.Tensor) -> bool:
    """Whether a product of ``rows`` rows by ``weight`` (out, in) takes the kernel."""
    return (
        ENABLED
        and MIN_ROWS <= rows <= MAX_ROWS
        and weight.dtype == torch.float32
        and weight.device.type == "cpu"
        and weight.is_contiguous()
    )


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for x (..., in), through the kernel when it applies."""
    rows = x.numel() // x.shape[-1]
    kernels = _compile() if applies(rows, weight) else None
    if kernels is None:
        return F.linear(x, weight, bias)
    import numpy as np

    n, k = weight.shape
    padded = (rows + 3) // 4 * 4
    xs = np.zeros((padded, k), dtype=np.float32)
    xs[:rows] = x.reshape(rows, k).numpy()
    out = np.empty((padded, n), dtype=np.float32)
    w = weight.detach().numpy()
    run: Callable[..., None] = kernels["wide"] if k >= 2048 and n % 2 == 0 else kernels["narrow"]
    run(xs, w, out)
    y = torch.from_numpy(out[:rows]).reshape(*x.shape[:-1], n)
    return y if bias is None else y + bias

"""The compiled kernels behind :mod:`int8_kernels` (numba, ``cache=True``: compiled once per
machine). Imported only when a product first runs, since numba takes a while to import.

They live at module level, not in a function: a kernel that closes over another object (the
prefetch below) is compiled again in every process, where a global one loads from the cache.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import binding, ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

PREFETCH_BYTES = 1 << 14
"""How far ahead of the weight row being summed the decode kernels ask for the bytes of a later
row (16 KB): streamed from memory, one core read int8 rows of 1536 at 6 GB/s without it and 8 to
9 GB/s with it (docs/benchmark.md, "int8"); the hardware prefetcher stops at page boundaries."""

# opaque pointers since LLVM 15 (numba 0.68 uses 20+), typed ones before
_PREFETCH = "llvm.prefetch.p0" if binding.llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx: Any, array: Any, index: Any) -> Any:
    """``prefetch(array, index)``: LLVM's prefetch of the byte at ``array[index]`` (read, kept in
    every cache level). numba has no such call; LLVM makes it a no-op where the CPU has none."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        where = cgutils.get_item_pointer(
            context, builder, array_type, view, [args[1]], wraparound=False
        )
        byte = builder.bitcast(where, ir.IntType(8).as_pointer())
        i32 = ir.IntType(32)
        kind = ir.FunctionType(ir.VoidType(), [byte.type, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, kind, _PREFETCH)
        # read (0), keep in every level (3), data cache (1)
        builder.call(fn, [byte, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return types.void(array, index), codegen


@njit(inline="always", nogil=True)
def ask_ahead(flat: Any, start: int, k: int) -> None:  # pragma: no cover - compiled
    # ask for one row's worth of bytes PREFETCH_BYTES past the start of row ``start``
    lo = start + PREFETCH_BYTES
    hi = min(lo + k, flat.shape[0])
    for c in range(lo, hi, 64):
        prefetch(flat, c)  # type: ignore[call-arg]  # typed by numba, not mypy


@njit(parallel=True, fastmath=True, nogil=True, cache=True)
def rows(x: Any, q: Any, scale: Any, out: Any) -> None:  # pragma: no cover - compiled
    # out (m, n) = (x (m, k) @ q (n, k)^T) * scale; m a multiple of 4. The input rows
    # are taken as 1-d slices: with 2-d indexing LLVM leaves the loop scalar.
    m, k = x.shape
    n = q.shape[0]
    flat = q.reshape(n * k)
    for j in prange(n):
        ask_ahead(flat, j * k, k)
        qj = q[j]
        s = scale[j]
        for r in range(0, m, 4):
            x0, x1, x2, x3 = x[r], x[r + 1], x[r + 2], x[r + 3]
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            a2 = np.float32(0.0)
            a3 = np.float32(0.0)
            for i in range(k):
                w = np.float32(qj[i])
                a0 += x0[i] * w
                a1 += x1[i] * w
                a2 += x2[i] * w
                a3 += x3[i] * w
            out[r, j] = a0 * s
            out[r + 1, j] = a1 * s
            out[r + 2, j] = a2 * s
            out[r + 3, j] = a3 * s


@njit(parallel=True, fastmath=True, nogil=True, cache=True)
def one(x: Any, q: Any, scale: Any, out: Any) -> None:  # pragma: no cover - compiled
    # out (n,) = (q (n, k) @ x (k,)) * scale
    k = x.shape[0]
    n = q.shape[0]
    flat = q.reshape(n * k)
    for j in prange(n):
        ask_ahead(flat, j * k, k)
        qj = q[j]
        a = np.float32(0.0)
        for i in range(k):
            a += x[i] * np.float32(qj[i])
        out[j] = a * scale[j]


@njit(parallel=True, fastmath=True, nogil=True, cache=True)
def unpack(q: Any, lo: int, hi: int, out: Any) -> None:  # pragma: no cover - compiled
    # out (hi - lo, k) = q[lo:hi] as float32 (the scales multiply the product's rows)
    k = q.shape[1]
    for j in prange(hi - lo):
        qj = q[lo + j]
        oj = out[j]
        for i in range(k):
            oj[i] = np.float32(qj[i])


@njit(parallel=True, nogil=True, cache=True)
def quantize(w: Any, q: Any, scale: Any) -> None:  # pragma: no cover - compiled
    # per row: scale = max |w| / 127, q = round(w / scale) (ties to even)
    n, k = w.shape
    for j in prange(n):
        wj = w[j]
        top = np.float32(0.0)
        for i in range(k):
            top = max(top, abs(wj[i]))
        s = max(top, np.float32(1e-30)) / np.float32(127.0)
        inv = np.float32(1.0) / s
        qj = q[j]
        for i in range(k):
            qj[i] = np.int8(min(127.0, max(-127.0, np.rint(wj[i] * inv))))
        scale[j] = s

"""The hardware's limit for decoding: the bytes of weights a step reads over the memory bandwidth.

A decode step of a small batch reads every weight once and does little arithmetic per byte, so
its floor is ``weight bytes / bandwidth``. The bandwidth is measured here, in the same run as
the figures it bounds: a matrix-vector product over about 512 MB of float32 (far larger than any
cache), with one intra-op thread and with torch's default, the faster of the two counting.
It runs in a child process (``python -m sara_core.bench.limits``), so its 512 MB never count in
the benchmark's own peak memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from sara_core.engine.threads import intra_op_threads


def weight_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers, a tensor shared by two modules (tied
    weights) counted once: what one decode step reads."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for t in [*model.parameters(), *model.buffers()]:
        key = (t.data_ptr(), t.numel())
        if key not in seen:
            seen.add(key)
            total += t.numel() * t.element_size()
    return total


def step_bytes(model: torch.nn.Module) -> int:
    """What one decode step reads: :func:`weight_bytes` less an input embedding that is not also
    the output layer (a step reads one row of it). It matters most for a large vocabulary: the
    real Qwen2.5 1.5B's untied embedding is 0.93 GB in float32, 0.23 GB in int8."""
    total = weight_bytes(model)
    get_in = getattr(model, "get_input_embeddings", None)
    get_out = getattr(model, "get_output_embeddings", None)
    if get_in is None or get_out is None:
        return total
    embed, head = get_in(), get_out()
    own = [embed.weight] if isinstance(getattr(embed, "weight", None), torch.Tensor) else []
    own += [
        t for t in (getattr(embed, "qweight", None), getattr(embed, "scale", None)) if t is not None
    ]
    shared = {t.data_ptr() for t in head.parameters()} | {t.data_ptr() for t in head.buffers()}
    return total - sum(t.numel() * t.element_size() for t in own if t.data_ptr() not in shared)


def gemv_bandwidth(mb: int = 512, repeats: int = 7) -> dict[str, Any]:
    """GB/s of ``torch.mv`` over an ``mb`` MB float32 matrix, per thread setting; the median
    of ``repeats`` products after one warm-up. ``best_gb_s`` is the faster setting's."""
    cols = 8192
    rows = max(1, mb * (1 << 20) // (4 * cols))
    matrix = torch.randn(rows, cols)
    vector = torch.randn(cols)
    nbytes = matrix.numel() * matrix.element_size()
    out: dict[str, Any] = {"matrix_mb": nbytes / (1 << 20)}
    default = torch.get_num_threads()
    for threads in sorted({1, default}):
        with intra_op_threads(threads):
            torch.mv(matrix, vector)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                torch.mv(matrix, vector)
                times.append(time.perf_counter() - t0)
        out[f"threads_{threads}_gb_s"] = nbytes / statistics.median(times) / 1e9
    out["best_gb_s"] = max(v for k, v in out.items() if k.startswith("threads_"))
    del matrix
    return out


def gemv_bandwidth_child(mb: int = 512, timeout: float = 300) -> dict[str, Any]:
    """:func:`gemv_bandwidth` in a fresh process (same interpreter and environment)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "sara_core.bench.limits", str(mb)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the bandwidth child failed: {tail[0]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bandwidth_limit(model: torch.nn.Module, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The decode speed limit of one row: the best measured bandwidth of ``runs`` (outside load
    only ever lowers it) over the bytes a step reads (:func:`step_bytes`)."""
    best = max(r["best_gb_s"] for r in runs)
    nbytes = step_bytes(model)
    return {
        "gb_s": best,
        "runs": runs,
        "weight_mb": nbytes / (1 << 20),
        "limit_tok_s": best * 1e9 / nbytes,
    }


if __name__ == "__main__":
    print(json.dumps(gemv_bandwidth(int(sys.argv[1]) if len(sys.argv) > 1 else 512)))

"""Intra-op threads for decoding on CPU: how many, and setting them for one thread's work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from sara_core.models.loading import LoadedModel

SMALL_BATCH_ROWS = 4
"""Batches up to this many rows decode on one intra-op thread (see :func:`decode_threads`)."""


def decode_threads(lm: LoadedModel, rows: int) -> int | None:
    """Intra-op threads for the decode steps of ``rows`` rows: one on CPU for a few rows.

    A step of a few rows is a chain of about 150 small memory-bound products. With more than one
    thread each is an OpenMP parallel region, and on this project's 2-core CPU the regions'
    hand-offs cost more than the second core brings: idle threads that sleep (the app's
    OMP_WAIT_POLICY=PASSIVE) wake too slowly, threads that spin take the CPU from everything
    else, and in any thread but the first, libgomp stops spinning as soon as a second thread
    team exists, which is why decoding in a worker thread used to be slower (docs/benchmark.md has
    the measurement). One thread decodes at the same speed in any thread. Larger batches are
    compute-bound and keep torch's setting (None).
    """
    if lm.device.type != "cpu" or rows > SMALL_BATCH_ROWS:
        return None
    return 1


@contextmanager
def intra_op_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads in this thread (None: unchanged)."""
    before = torch.get_num_threads()
    if n is None or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

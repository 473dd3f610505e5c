"""Progress bars of the evaluation (tqdm on stderr, so stdout stays clean for results)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tqdm import tqdm

    from sara_core.distributed import Shard

POLL_S = 1.0


def progress_bar(
    total: int, desc: str, enabled: bool, unit: str = "answer", initial: int = 0
) -> tqdm:
    """A tqdm bar over ``total`` steps (``initial`` already done); silent when not ``enabled``."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, initial=initial
    )


@contextmanager
def shared_progress(
    shard: Shard, total: int, initial: int, desc: str, enabled: bool
) -> Iterator[Callable[[int], None]]:
    """One bar on the main process for the work of every process.

    Yields ``counted(n)``, which each process calls as it finishes ``n`` units. The bar starts
    at ``initial`` (resumed work, left out of the rate and the estimate); with several
    processes a thread on the main process reads the count of all of them every second.
    """
    shard.begin()
    bar = progress_bar(total, desc, enabled and shard.main, initial=initial)
    stop = threading.Event()

    def refresh() -> None:
        now = min(total, initial + shard.done())
        if now > bar.n:
            bar.update(now - bar.n)

    def poll() -> None:
        while not stop.wait(POLL_S):
            try:
                refresh()
            except Exception:  # noqa: BLE001 - the bar must never stop the run
                return

    watcher = None
    if shard.world > 1 and shard.main and enabled:
        watcher = threading.Thread(target=poll, name="progress", daemon=True)
        watcher.start()

    def counted(n: int) -> None:
        shard.add_done(n)
        if watcher is None:
            refresh()

    try:
        yield counted
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)
        refresh()
    finally:
        stop.set()
        bar.close()

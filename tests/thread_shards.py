"""Several ranks of a sharded run inside one test process: one thread per rank, with the
collective steps of sara_core.distributed.Shard done through shared memory instead of gloo.

The commands' own sharding logic (which rank takes which batch, gathering, agreeing, waiting)
runs unchanged; only the transport is replaced, so these tests take seconds. The real launches
(torchrun, gloo, the launcher's store) are tested end to end in
tests/evaluation/test_sharded_run.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sara_core.distributed import Launch, PeerLost, Shard

T = TypeVar("T")
TIMEOUT_S = 120.0


class _Hub:
    def __init__(self, world: int):
        self.world = world
        self.cond = threading.Condition()
        self.slots: dict[tuple[int, int], Any] = {}  # (call number, rank) -> object
        self.failed = False  # a rank raised: the others' collectives fail too
        self.counts: dict[int, int] = {}
        self.lock = threading.Lock()

    def fail(self) -> None:
        with self.cond:
            self.failed = True
            self.cond.notify_all()


class ThreadShard(Shard):
    """A Shard whose collectives meet other threads' at a barrier."""

    hub: _Hub
    calls: int = 0

    def all_gather(self, obj: Any) -> list[Any]:
        self.calls += 1
        hub, keys = self.hub, [(self.calls, r) for r in range(self.hub.world)]
        with hub.cond:
            hub.slots[(self.calls, self.rank)] = obj
            hub.cond.notify_all()
            hub.cond.wait_for(lambda: all(k in hub.slots for k in keys) or hub.failed, TIMEOUT_S)
            if not all(k in hub.slots for k in keys):
                raise PeerLost("another rank stopped")
            return [hub.slots[k] for k in keys]

    def gather(self, obj: Any) -> list[Any] | None:
        out = self.all_gather(obj)
        return out if self.main else None

    def broadcast(self, obj: Any) -> Any:
        return self.all_gather(obj)[0]

    def add_done(self, n: int) -> None:
        with self.hub.lock:
            self.hub.counts[self._round] = self.hub.counts.get(self._round, 0) + n

    def done(self) -> int:
        with self.hub.lock:
            return self.hub.counts.get(self._round, 0)

    def wait_all(self, total: int, on_progress: Callable[[int], None] | None = None) -> None:
        end = time.monotonic() + TIMEOUT_S
        while self.done() < total:
            if time.monotonic() > end or self.hub.failed:
                raise PeerLost("the other ranks did not finish")
            time.sleep(0.01)


def run_ranks(world: int, work: Callable[[Shard], T]) -> list[T | BaseException]:
    """``work(shard)`` on ``world`` threads, one per rank; each rank's result or exception."""
    hub = _Hub(world)
    results: list[Any] = [None] * world

    def one(rank: int) -> None:
        shard = ThreadShard(Launch(rank=rank, world=world), device="cpu")
        shard.hub = hub
        try:
            results[rank] = work(shard)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            results[rank] = exc
            hub.fail()

    threads = [threading.Thread(target=one, args=(r,)) for r in range(world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=TIMEOUT_S)
    return results

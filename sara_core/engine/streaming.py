"""Run work in a worker thread and iterate over what it reports: the one streaming helper.

Compare, sweep and search all stream the same way: the work runs in a daemon thread and hands
updates to a queue; the caller iterates. Closing the iterator (or leaving the ``for`` loop, or a
client disconnecting, which closes the generator above it) sets the stop event, so the work ends
at its next check. Every wait on the queue has a timeout.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator
from typing import Generic, TypeVar

U = TypeVar("U")
R = TypeVar("R")

Emit = Callable[[U], None]


class StreamTimeout(TimeoutError):
    """The work reported nothing for longer than the stream allows."""


_DONE = object()


class ThreadStream(Generic[U, R]):
    """``work(emit, stop) -> result`` in a worker thread; iterate for the emitted updates.

    After the iteration ends, :attr:`result` holds the work's return value; an exception raised
    by the work is re-raised in the iterating thread. ``idle_timeout`` bounds the wait for each
    update and ``timeout`` the whole run: either raises :class:`StreamTimeout` and stops the work.
    """

    def __init__(
        self,
        work: Callable[[Emit[U], threading.Event], R],
        *,
        name: str = "sara-stream",
        stop: threading.Event | None = None,
        idle_timeout: float | None = None,
        timeout: float | None = None,
    ):
        self.stop = stop or threading.Event()
        self.result: R | None = None
        self.idle_timeout = idle_timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self._queue: queue.Queue = queue.Queue()
        self._work = work
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False

    def _run(self) -> None:
        try:
            result = self._work(self._queue.put, self.stop)
            self._queue.put((_DONE, result))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, re-raised there
            self._queue.put((_DONE, exc))

    def _wait(self) -> float | None:
        waits = [self.idle_timeout] if self.idle_timeout is not None else []
        if self.deadline is not None:
            waits.append(max(0.0, self.deadline - time.monotonic()))
        return min(waits) if waits else None

    def __iter__(self) -> Generator[U, None, None]:
        if not self._started:
            self._started = True
            self._thread.start()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=self._wait())
                except queue.Empty:
                    raise StreamTimeout("the work took too long and was stopped") from None
                if isinstance(item, tuple) and len(item) == 2 and item[0] is _DONE:
                    if isinstance(item[1], BaseException):
                        raise item[1]
                    self.result = item[1]
                    return
                yield item
        finally:
            self.stop.set()

    def then_result(self) -> Generator[U | R, None, None]:
        """The updates, then the work's result if it returned one: one generator for callers
        that hand the stream on without this object (the sweep and the search, on ZeroGPU too).
        Closing it early stops the work, as closing the iteration does."""
        yield from self
        if self.result is not None:
            yield self.result

    def close(self) -> None:
        """Stop the work at its next check."""
        self.stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the worker thread to end; True if it has."""
        if self._started:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True


def stream_in_thread(
    work: Callable[[Emit[U], threading.Event], R],
    *,
    name: str = "sara-stream",
    stop: threading.Event | None = None,
    idle_timeout: float | None = None,
    timeout: float | None = None,
) -> ThreadStream[U, R]:
    """Start streaming ``work``; see :class:`ThreadStream`."""
    return ThreadStream(work, name=name, stop=stop, idle_timeout=idle_timeout, timeout=timeout)

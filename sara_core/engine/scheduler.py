"""Cross-request batching: requests that arrive while the model is busy share its next generation.

One scheduler thread per loaded model owns every decode on it. A request is a :class:`Job`: how
many rows it needs, a ``prepare`` callback that builds those rows (its steerings need forward
passes, so it runs in the scheduler's thread, under the model's lock), and an ``on_step``
callback for its streamed tokens. Jobs that wait while a batch runs, or that arrive within
``window_s`` of the first, are prepared together and decoded as one batch
(:func:`sara_core.engine.decoding.decode_rows`): each row keeps its own steering, prompt length,
stop event and deadline, and leaves the batch when it is done. The batch is bounded in rows (by
memory) and the waiting line in jobs (a full line is refused at once).

A job made with ``joins=True`` (every compare) need not wait for the running batch to end: between
two decode steps the scheduler takes such jobs from the head of the line, as many as the row
limit leaves room for, prepares them and adds their rows to the running batch (their prompts
run, then they decode with the others). The line stays first come, first served: a job that
cannot join (too many rows, or ``joins=False``) waits for the next batch, and so do those behind
it. Only the lean decode loop takes joiners (:mod:`sara_core.engine.cpu.lean_decoder`); elsewhere
they wait, as before.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.models.loading import LoadedModel

log = logging.getLogger(__name__)


class QueueFullError(RuntimeError):
    """Too many requests are waiting for this model; the message says to try again."""


class QueueTimeoutError(TimeoutError):
    """A request waited longer than it may for its turn."""


@dataclass(eq=False)
class Job:
    """One request's share of a batch. ``rows`` and ``error`` are set by the scheduler."""

    n_rows: int
    prepare: Callable[[], Sequence[Row]]
    on_step: Callable[[Sequence[Row]], None] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    rows: list[Row] = field(default_factory=list)
    error: BaseException | None = None
    started: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.monotonic)
    batch_rows: int = 0  # rows of the batch it ran in (itself included), when it started
    joins: bool = False  # may join a batch that is already decoding


def kv_bytes_per_token(lm: LoadedModel) -> int:
    """Bytes of key/value cache one token of one row holds, across all blocks."""
    cfg: Any = getattr(lm.model.config, "text_config", None) or lm.model.config
    heads = int(getattr(cfg, "num_attention_heads", None) or getattr(cfg, "n_head", None) or 1)
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(cfg, "head_dim", None) or lm.hidden_size // heads)
    return 2 * lm.n_layers * kv_heads * head_dim * lm.dtype.itemsize


LOGIT_COPIES = 6
"""Float32 copies of a row's logits one decode step may hold at once: the head's output, the
previous step's, Gemma-2's soft-cap (a division, a tanh and a product). Measured: at most 4
with a 256,000-token vocabulary (tests/engine/test_scheduler.py); counted with a margin."""
SAMPLING_COPIES = 8
"""Copies of one row's logits that sampling holds (sorted values and int64 order, softmax,
cumulative sum, mask): one row at a time, so once per batch."""


def rows_for_memory(lm: LoadedModel, tokens_per_row: int, budget_bytes: int) -> int:
    """How many rows of ``tokens_per_row`` (prompt + answer) fit in ``budget_bytes`` of cache
    and logits (the two things that grow with the batch; with Gemma's 256k vocabulary a row's
    logits outweigh its cache)."""
    vocab = int(getattr(lm.model.config, "vocab_size", 0) or 50_000)
    per_row = kv_bytes_per_token(lm) * tokens_per_row + vocab * 4 * LOGIT_COPIES
    return max(1, (budget_bytes - vocab * 4 * SAMPLING_COPIES) // max(1, per_row))


class BatchScheduler:
    """Owns every generation on one model; see the module docstring."""

    def __init__(
        self,
        lm: LoadedModel,
        *,
        max_rows: int = 24,
        window_s: float = 0.03,
        max_waiting: int = 16,
        name: str = "sara-batch",
    ):
        self.lm = lm
        self.max_rows = max(1, max_rows)
        self.window_s = window_s
        self.max_waiting = max_waiting
        self._waiting: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self.batches = 0  # generations run so far (for tests and the bench)
        self.busy = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    # -- the caller's side ------------------------------------------------------------------

    def submit(self, job: Job) -> Job:
        """Queue a job; QueueFullError at once if ``max_waiting`` jobs are already waiting."""
        if job.n_rows > self.max_rows:
            raise ValueError(f"a job of {job.n_rows} rows exceeds the batch limit {self.max_rows}")
        with self._cond:
            if self._closed:
                raise RuntimeError("this model's scheduler is closed (the model was unloaded)")
            if len(self._waiting) >= self.max_waiting:
                raise QueueFullError(
                    f"{len(self._waiting)} requests are already waiting for this model: "
                    "try again in a moment"
                )
            self._waiting.append(job)
            self._cond.notify_all()
        return job

    def run(
        self,
        job: Job,
        queue_timeout: float | None = None,
        poll_s: float = 0.1,
        on_wait: Callable[[int], None] | None = None,
    ) -> Job:
        """Submit ``job`` and wait until it is done; raise what its preparation raised.

        ``queue_timeout`` bounds the wait for a place in a batch (then the job is withdrawn and
        QueueTimeoutError raised). Setting ``job.stop`` while it waits withdraws it at once.
        ``on_wait(ahead)`` is called about once a second while it waits, from the first second on
        (a heartbeat for the UI).
        """
        self.submit(job)
        limit = None if queue_timeout is None else job.submitted_at + queue_timeout
        last_beat = time.monotonic()  # the first beat after a second: a batch's window is no wait
        while not job.started.wait(poll_s):
            if on_wait is not None and time.monotonic() - last_beat >= 1.0:
                last_beat = time.monotonic()
                on_wait(self.ahead_of(job))
            late = limit is not None and time.monotonic() > limit
            if (job.stop.is_set() or late) and self._withdraw(job):
                if job.stop.is_set():
                    return job
                raise QueueTimeoutError(
                    f"the model stayed busy for {queue_timeout:g} s: try again shortly"
                )
        while not job.done.wait(poll_s):
            pass
        if job.error is not None:
            raise job.error
        return job

    def _withdraw(self, job: Job) -> bool:
        """Take a job out of the line if it has not started; True if it was withdrawn."""
        with self._cond:
            if job in self._waiting:
                self._waiting.remove(job)
                job.done.set()
                return True
        return False

    def ahead_of(self, job: Job) -> int:
        """Requests before ``job``: the waiting ones ahead of it, plus the batch running."""
        with self._cond:
            try:
                position = self._waiting.index(job)
            except ValueError:
                return 0
        return position + (1 if self.busy else 0)

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking jobs, end the waiting ones and the thread (when the model is unloaded)."""
        with self._cond:
            self._closed = True
            while self._waiting:
                job = self._waiting.popleft()
                job.error = RuntimeError("the model was unloaded")
                job.started.set()
                job.done.set()
            self._cond.notify_all()
        self._thread.join(timeout)

    # -- the scheduler's thread -------------------------------------------------------------

    def _next_batch(self) -> list[Job]:
        """Wait for a first job, then gather more for ``window_s`` or while rows remain."""
        with self._cond:
            while not self._waiting and not self._closed:
                self._cond.wait(0.5)
            if self._closed:
                return []
            batch = [self._waiting.popleft()]
            rows = batch[0].n_rows
            until = time.monotonic() + self.window_s
            while rows < self.max_rows:
                if self._waiting:
                    if rows + self._waiting[0].n_rows > self.max_rows:
                        break
                    job = self._waiting.popleft()
                    batch.append(job)
                    rows += job.n_rows
                    continue
                left = until - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            self.busy = True
            try:
                self._run_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - a failed batch fails its jobs only
                log.exception("a batch failed")
                for job in batch:
                    if job.error is None and not job.done.is_set():
                        job.error = exc
            finally:
                self.busy = False
                for job in batch:
                    job.started.set()
                    job.done.set()

    def _joiners(self, free_rows: int) -> list[Job]:
        """Jobs from the head of the line that may join the running batch and fit in it."""
        out: list[Job] = []
        with self._cond:
            while self._waiting and self._waiting[0].joins:
                if self._waiting[0].n_rows > free_rows:
                    break
                job = self._waiting.popleft()
                free_rows -= job.n_rows
                out.append(job)
        return out

    def _run_batch(self, batch: list[Job]) -> None:
        with self.lm.lock:
            live: list[Job] = []

            def start(jobs: Sequence[Job]) -> list[Row]:
                """Prepare ``jobs``; a failing preparation fails its own job only."""
                rows: list[Row] = []
                for job in jobs:
                    job.started.set()
                    if job.stop.is_set():
                        continue
                    try:
                        job.rows = list(job.prepare())
                        live.append(job)
                        rows += job.rows
                    except Exception as exc:  # noqa: BLE001 - reported to that request alone
                        job.error = exc
                return rows

            rows = start(batch)
            for job in live:
                job.batch_rows = len(rows)
            if not rows:
                return
            self.batches += 1

            def join(active_rows: int) -> list[Row]:
                jobs = self._joiners(self.max_rows - active_rows)
                batch.extend(jobs)  # the loop marks them done with the batch
                added = start(jobs)
                for job in jobs:
                    job.batch_rows = active_rows + len(added)
                return added

            def on_step(_all: Sequence[Row]) -> None:
                for job in live:
                    if job.done.is_set():
                        continue
                    if job.on_step is not None and not job.stop.is_set():
                        try:
                            job.on_step(job.rows)
                        except Exception:  # noqa: BLE001 - a broken listener stops its own rows
                            log.exception("a streaming callback failed; stopping its request")
                            job.stop.set()
                    if all(row.done for row in job.rows):
                        job.done.set()  # its answers are whole: it need not wait for the batch

            decode_rows(self.lm, rows, on_step, join=join)

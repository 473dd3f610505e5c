"""The model cache: every model loaded once, in the background, and shared by every session.

Each loaded model gets one :class:`~sara_core.engine.scheduler.BatchScheduler` (created on its first
comparison), which owns every generation on it: requests that arrive together share a batch.
An evicted model's scheduler is closed and its references dropped, so its memory is freed. A
failed load is retried only after a growing pause, and what a visitor sees of the failure never
holds raw exception text (the full trace goes to the server log under a reference).

ZeroGPU runs the GPU functions in a worker process, so their arguments must be picklable: they
name a model by (manager id, model name) and look it up here with :func:`model_for`; there the
manager is made without batching (a process-local scheduler cannot serve another process).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from sara_core.engine.scheduler import BatchScheduler, rows_for_memory
from sara_core.models.errors import LoadRefused, ModelBusyError, ModelLoadError, ModelTooLargeError
from sara_core.models.hub_errors import hub_reason
from sara_core.models.loading import LoadedModel, load_model
from sara_core.models.names import canonical
from sara_core.validation import MAX_PROMPT_TOKENS
from sara_lab.hub import ModelRefused

log = logging.getLogger("sara_lab")

Loader = Callable[[str], LoadedModel]
Policy = Callable[[str], None]  # raises ModelRefused for a model that may not be loaded

RETRY_FIRST_S = 5.0  # a failed load is retried after 5 s, then 10, 20, ... up to RETRY_MAX_S
RETRY_MAX_S = 300.0
ROWS_PER_REQUEST = 4  # original, SARA, ActAdd and the prompted answer

_MANAGERS: weakref.WeakValueDictionary[str, ModelManager] = weakref.WeakValueDictionary()


class LoadFailed(ModelLoadError):
    """A model could not be loaded; the message is safe to show (no raw exception text)."""


def model_for(manager_id: str, model_name: str) -> LoadedModel:
    """The model ``model_name`` of the manager ``manager_id`` (loading it if needed)."""
    return _MANAGERS[manager_id].get(model_name)


def manager_for(manager_id: str) -> ModelManager:
    """The manager ``manager_id`` (for functions that take names, not objects)."""
    return _MANAGERS[manager_id]


@dataclass(frozen=True)
class Batching:
    """How each model's scheduler is sized: rows bounded by ``max_rows`` and by the memory a
    batch of rows of ``tokens_per_row`` tokens needs; ``max_waiting`` requests may wait."""

    max_rows: int = 32
    memory_bytes: int = 2 << 30
    tokens_per_row: int = MAX_PROMPT_TOKENS + 512
    max_waiting: int = 16
    window_s: float = 0.03

    def scheduler(self, lm: LoadedModel) -> BatchScheduler:
        rows = min(self.max_rows, rows_for_memory(lm, self.tokens_per_row, self.memory_bytes))
        rows = max(ROWS_PER_REQUEST, rows)
        log.info("batching up to %d rows on %s", rows, lm.name)
        return BatchScheduler(
            lm,
            max_rows=rows,
            window_s=self.window_s,
            max_waiting=self.max_waiting,
            name=f"sara-batch-{lm.name}",
        )


@dataclass
class _Failure:
    message: str
    attempts: int
    retry_at: float


def _close_all(schedulers: dict[str, BatchScheduler]) -> None:
    for scheduler in list(schedulers.values()):
        scheduler.close(timeout=1.0)
    schedulers.clear()


class ModelManager:
    """Loads models once and keeps the most recent few in memory (the default one always).

    ``get(name)`` blocks until the model is ready (or ``timeout`` passes); the first request for
    the default model usually finds it already loading in the background (``start``).
    """

    def __init__(
        self,
        loader: Loader | None = None,
        default: str = "",
        capacity: int = 2,
        policy: Policy | None = None,
        batching: Batching | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._loader = loader or load_model
        self._policy = policy
        self.batching = batching
        self.default = canonical(default)
        self.capacity = max(2, capacity)
        self._clock = clock
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._schedulers: dict[str, BatchScheduler] = {}
        self._failures: dict[str, _Failure] = {}
        self._lock = threading.Lock()  # guards the dicts
        self._load_lock = threading.Lock()  # one load at a time (memory)
        self._thread: threading.Thread | None = None
        self.id = uuid.uuid4().hex
        _MANAGERS[self.id] = self
        # a manager dropped without close() still ends its schedulers' threads
        self._finalizer = weakref.finalize(self, _close_all, self._schedulers)

    def start(self) -> None:
        """Load the default model in a background thread (the page shows that it is loading)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._load_quietly, name="sara-model-load", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background load started by :meth:`start` (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _load_quietly(self) -> None:
        # a failure is logged with its trace by get and shown on the page and the next request
        with contextlib.suppress(ModelLoadError):
            self.get(self.default)

    def loaded(self, name: str | None = None) -> LoadedModel | None:
        """The model if it is in memory now, else None (never waits)."""
        with self._lock:
            return self._models.get(canonical(name or self.default))

    def error(self, name: str | None = None) -> str | None:
        """Why the last load of ``name`` failed, if it did (a message safe to show)."""
        with self._lock:
            failure = self._failures.get(canonical(name or self.default))
            return failure.message if failure else None

    def get(self, name: str | None = None, timeout: float | None = None) -> LoadedModel:
        """The model called ``name`` (default: the default model), loading it if needed.

        Waits at most ``timeout`` seconds for another load to finish (ModelBusyError); a model
        that failed to load recently fails again at once (LoadFailed) until its retry time."""
        key = canonical(name or self.default)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        self._raise_if_failed_recently(key)
        if not self._load_lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            raise ModelBusyError(
                f"the model is still loading (waited {timeout:g} s): try again in a moment"
            )
        try:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            self._raise_if_failed_recently(key)
            lm = self._load(key)
            with self._lock:
                self._failures.pop(key, None)
                self._models[key] = lm
                victims = self._victims(keep=key)
        finally:
            self._load_lock.release()
        self._free(victims)
        return lm

    def _raise_if_failed_recently(self, key: str) -> None:
        with self._lock:
            failure = self._failures.get(key)
        if failure is not None and self._clock() < failure.retry_at:
            raise LoadFailed(failure.message)

    def _load(self, key: str) -> LoadedModel:
        """Check the policy and load; any failure is recorded (with its retry time) and raised
        as a LoadFailed whose message is safe to show."""
        try:
            if self._policy is not None:
                self._policy(key)
            try:
                return self._loader(key)
            except ModelTooLargeError:
                if not self._make_room(keep=key):
                    raise
                return self._loader(key)  # the models it evicted held the memory it needs
        except ModelRefused as exc:
            message = str(exc)
            log.warning("refused to load %r: %s", key, message)
        except LoadRefused as exc:  # our own one line (too large, unknown shape, bad device)
            message = str(exc)
            log.warning("%s", message)
        except Exception as exc:  # noqa: BLE001 - any failure becomes one safe message
            # the hub's reason (gated, unknown, no network) is one line read from the exception's
            # classes, never its text: safe to show, and the whole story
            reason = hub_reason(exc, key)
            if reason is not None:
                log.warning("could not load %r: %s", key, reason)
                message = reason
            else:
                ref = uuid.uuid4().hex[:8]
                log.error("loading %r failed (reference %s)", key, ref, exc_info=exc)
                message = (
                    f"could not load {key!r}: it could not be read as a causal language model "
                    f"(reference {ref})"
                )
        with self._lock:
            attempts = self._failures[key].attempts + 1 if key in self._failures else 1
            delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempts - 1))
            self._failures[key] = _Failure(message, attempts, self._clock() + delay)
        raise LoadFailed(message) from None

    def _make_room(self, keep: str) -> bool:
        """Unload every model but the default one (and ``keep``); whether any was unloaded."""
        with self._lock:
            victims = [
                (k, self._models.pop(k), self._schedulers.pop(k, None))
                for k in list(self._models)
                if k not in (self.default, keep)
            ]
        found = bool(victims)
        if found:
            log.info("unloading %d model(s) to make room for %s", len(victims), keep)
        self._free(victims)
        return found

    def _victims(self, keep: str) -> list[tuple[str, LoadedModel, BatchScheduler | None]]:
        """Take the least recently used models out beyond the capacity (hold ``_lock``)."""
        out = []
        while len(self._models) > self.capacity:
            victim = next(k for k in self._models if k != self.default and k != keep)
            out.append((victim, self._models.pop(victim), self._schedulers.pop(victim, None)))
        return out

    def _free(self, victims: list[tuple[str, LoadedModel, BatchScheduler | None]]) -> None:
        """End evicted models' schedulers and drop the last references to them (the list is
        emptied, so nothing here keeps them alive)."""
        if not victims:
            return
        while victims:
            name, lm, scheduler = victims.pop()
            if scheduler is not None:
                scheduler.close()
            del lm, scheduler
            log.info("unloaded %s to make room", name)
        gc.collect()

    def serve(
        self, name: str | None = None, timeout: float | None = None
    ) -> tuple[LoadedModel, BatchScheduler | None]:
        """The model and its scheduler (created on first use; None without batching)."""
        key = canonical(name or self.default)
        for _ in range(3):  # the model may be evicted between the two steps: load it again
            lm = self.get(key, timeout)
            if self.batching is None:
                return lm, None
            with self._lock:
                if self._models.get(key) is lm:
                    if key not in self._schedulers:
                        self._schedulers[key] = self.batching.scheduler(lm)
                    return lm, self._schedulers[key]
        raise ModelBusyError("the server is switching models often right now: try again")

    def is_serving(self, scheduler: BatchScheduler | None) -> bool:
        """Whether ``scheduler`` still belongs to a loaded model (False once it was evicted)."""
        with self._lock:
            return scheduler is None or any(s is scheduler for s in self._schedulers.values())

    def close(self) -> None:
        """Close every scheduler and drop every model (app shutdown, tests)."""
        with self._lock:
            self._models.clear()
        self._finalizer()
        gc.collect()

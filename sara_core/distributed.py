"""Runs sharded over processes: ``torchrun`` or ``accelerate launch`` start them, this splits work.

A launcher (``python -m torch.distributed.run``, ``torchrun``, ``accelerate launch``; one machine
or many, through their rendezvous) starts N copies of ``python -m sara_core ...`` with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`open_shard` joins them into one torch.distributed
group (gloo: the processes only exchange small Python objects, so no NCCL is needed even on
GPUs) and gives each process a :class:`Shard`: its rank, its device (``cuda:LOCAL_RANK`` on a GPU
machine, else the CPU) and the few collective steps the commands need: agree on the settings
(a hash checked at the start, so a file that differs between machines is refused), take every
N-th unit of work, count rows done on the launcher's key-value store (the main process's
progress bar), wait for the others without a collective timeout ticking, and gather results on
the main process. Plain ``python -m sara_core`` is a world of one: nothing is imported from
torch.distributed and every step is trivial.

Written on torch.distributed directly rather than accelerate's ``PartialState``, which wraps the
same calls: the waits here need their own timeouts and the launcher's store, which it hides.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from sara_core.validation import InputError, as_float, as_int

T = TypeVar("T")

DEFAULT_WAIT_S = 1800.0
"""Longest wait for another process to make any progress (SARA_DIST_TIMEOUT, seconds)."""
MAX_WORLD = 4096
POLL_S = 0.5


class QuietExit(Exception):  # noqa: N818 - not an error of this process
    """Stop this (non-main) process without a message: the main process says why, once."""

    code = 2


class PeerLost(RuntimeError):
    """A collective step failed: another process stopped (its own error says why)."""


@dataclass(frozen=True)
class Launch:
    """Where this process stands in a launch, read once from the environment at the entry point."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    force_cpu: bool = False  # ACCELERATE_USE_CPU / --cpu: stay on the CPU even with GPUs
    wait_s: float = DEFAULT_WAIT_S

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Launch:
        """The launch described by torchrun's (and accelerate's) variables; one process if unset."""
        world = as_int("WORLD_SIZE", env.get("WORLD_SIZE") or "1", 1, MAX_WORLD)
        rank = as_int("RANK", env.get("RANK") or "0", 0, world - 1)
        local = as_int("LOCAL_RANK", env.get("LOCAL_RANK") or "0", 0, MAX_WORLD - 1)
        cpu = (env.get("ACCELERATE_USE_CPU") or "").strip().lower() in ("1", "true", "yes")
        wait = env.get("SARA_DIST_TIMEOUT") or DEFAULT_WAIT_S
        return cls(rank, world, local, cpu, as_float("SARA_DIST_TIMEOUT", wait, 10.0, 7 * 86400))

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass
class Shard:
    """This process's part of a launch, and the collective steps (trivial in a world of one)."""

    launch: Launch = field(default_factory=Launch)
    device: str | None = None  # None: the model's automatic choice (one process)
    _store: Any = None
    _prefix: str = ""
    _round: int = 0
    _done_here: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rank(self) -> int:
        return self.launch.rank

    @property
    def world(self) -> int:
        return self.launch.world

    @property
    def main(self) -> bool:
        return self.launch.main

    @property
    def where(self) -> str:
        """'process 2 of 4' (empty in a world of one), to prefix messages."""
        return f"process {self.rank} of {self.world}" if self.world > 1 else ""

    def mine(self, units: Sequence[T]) -> list[T]:
        """Every world-th unit starting at this rank: units are dealt round-robin, so a unit's
        content never depends on the number of processes and loads stay balanced."""
        return list(units[self.rank :: self.world])

    # -- collectives ---------------------------------------------------------------------------

    def all_gather(self, obj: T) -> list[T]:
        """Every process's ``obj``, in rank order, on every process."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] = [None] * self.world
        with _peer_errors():
            dist.all_gather_object(out, obj)
        return out

    def gather(self, obj: T) -> list[T] | None:
        """Every process's ``obj`` in rank order on the main process; None on the others."""
        if self.world == 1:
            return [obj]
        import torch.distributed as dist

        out: list[Any] | None = [None] * self.world if self.main else None
        with _peer_errors():
            dist.gather_object(obj, out, dst=0)
        return out

    def broadcast(self, obj: T) -> T:
        """The main process's ``obj`` on every process."""
        if self.world == 1:
            return obj
        import torch.distributed as dist

        box: list[Any] = [obj]
        with _peer_errors():
            dist.broadcast_object_list(box, src=0)
        return box[0]

    def agree(self, settings: Mapping[str, Any], what: str = "the settings") -> str:
        """The settings' fingerprint, once every process has the same; else InputError on the
        main process (naming what differs) and QuietExit on the others."""
        mine = fingerprint(settings)
        if self.world == 1:
            return mine
        everyone = self.all_gather((mine, dict(settings)))
        message = disagreement([s for _, s in everyone], [f for f, _ in everyone], what)
        if message:
            if self.main:
                raise InputError(message)
            raise QuietExit(message)
        return mine

    def decide(self, check: Callable[[], T]) -> T:
        """Run ``check`` on the main process and share its result; an InputError (or OSError)
        it raises stops every process (the main one reports it, the others exit quietly)."""
        if self.world == 1:
            return check()
        outcome: tuple[bool, Any] = (True, None)
        if self.main:
            try:
                outcome = (True, check())
            except (InputError, OSError) as exc:
                outcome = (False, str(exc))
        ok, value = self.broadcast(outcome)
        if not ok:
            if self.main:
                raise InputError(value)
            raise QuietExit(value)
        return value

    # -- progress over all processes -------------------------------------------------------------

    def begin(self) -> None:
        """Start counting a new piece of work from 0 (every process calls it in the same order)."""
        with self._lock:
            self._round += 1
            self._done_here = 0

    def _key(self) -> str:
        return f"{self._prefix}{self._round}/done"

    def add_done(self, n: int) -> None:
        """Count ``n`` more units finished by this process (visible to the main process)."""
        with self._lock:
            self._done_here += n
        if self._store is not None and n:
            with _peer_errors():
                self._store.add(self._key(), n)

    def done(self) -> int:
        """Units finished by all processes so far (this process's own count without a store)."""
        if self._store is None:
            return self._done_here
        with _peer_errors():
            return int(self._store.add(self._key(), 0))

    def wait_all(self, total: int, on_progress: Callable[[int], None] | None = None) -> None:
        """Wait until ``total`` units are done by all processes (polling the store, so a process
        that finishes early waits without a collective timing out). A launcher stops this
        process when another fails; without one, no progress for ``wait_s`` is an error."""
        if self.world == 1 or self._store is None:
            return
        last, since = -1, time.monotonic()
        while True:
            done = self.done()
            if on_progress is not None:
                on_progress(done)
            if done >= total:
                return
            if done != last:
                last, since = done, time.monotonic()
            elif time.monotonic() - since > self.launch.wait_s:
                raise PeerLost(
                    f"{self.where}: no process finished any work for {self.launch.wait_s:g} s "
                    f"({done} of {total} done); set SARA_DIST_TIMEOUT to wait longer"
                )
            time.sleep(POLL_S)


def fingerprint(settings: Mapping[str, Any]) -> str:
    """A short hash of settings (canonical JSON: key order and float spelling do not matter)."""
    text = json.dumps(settings, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def differing(a: Mapping[str, Any], b: Mapping[str, Any], limit: int = 4) -> list[str]:
    """Names of the settings whose values differ between ``a`` and ``b`` (at most ``limit``)."""
    keys = sorted(set(a) | set(b))
    names = [k for k in keys if _canon(a.get(k)) != _canon(b.get(k))]
    return names[:limit] + (["..."] if len(names) > limit else [])


def disagreement(settings: Sequence[Mapping[str, Any]], prints: Sequence[str], what: str) -> str:
    """'' when every process has the same fingerprint, else one line naming who and what."""
    odd = [r for r, f in enumerate(prints) if f != prints[0]]
    if not odd:
        return ""
    names = ", ".join(differing(settings[0], settings[odd[0]])) or "their hash"
    return (
        f"the {len(prints)} processes do not agree on {what}: process {odd[0]} differs from "
        f"process 0 in {names}; give every process the same command and files"
    )


@contextmanager
def _peer_errors() -> Iterator[None]:
    """A failed collective step becomes PeerLost: the cause is another process's error."""
    try:
        yield
    except (RuntimeError, OSError, ConnectionError) as exc:
        if isinstance(exc, PeerLost):
            raise
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise PeerLost(f"another process stopped ({first}); its own error says why") from exc


def device_for(launch: Launch) -> str:
    """cuda:LOCAL_RANK on a GPU machine (one GPU per process), else the CPU."""
    import torch

    if launch.force_cpu or not torch.cuda.is_available():
        return "cpu"
    count = torch.cuda.device_count()
    if launch.local_rank >= count:
        raise InputError(
            f"process {launch.rank} needs GPU {launch.local_rank} but this machine has {count}: "
            f"start at most {count} processes per machine (--nproc_per_node {count})"
        )
    torch.cuda.set_device(launch.local_rank)
    return f"cuda:{launch.local_rank}"


@contextmanager
def open_shard(launch: Launch | None = None) -> Iterator[Shard]:
    """Join the launch's process group for the block (nothing to join for one process)."""
    launch = launch or Launch()
    if launch.world == 1:
        yield Shard(launch)
        return
    import torch.distributed as dist

    device = device_for(launch)
    owned = not dist.is_initialized()
    if owned:
        try:
            dist.init_process_group("gloo", timeout=timedelta(seconds=launch.wait_s))
        except (RuntimeError, ValueError) as exc:
            raise PeerLost(f"could not join the other processes: {exc}") from exc
    try:
        shard = Shard(launch, device)
        shard._store = _launcher_store()
        run_id = shard.broadcast(uuid.uuid4().hex[:12])  # a fresh key space per command
        shard._prefix = f"sara/{run_id}/"
        yield shard
    finally:
        if owned and dist.is_initialized():
            dist.destroy_process_group()


def _launcher_store() -> Any:
    """The launcher's key-value store (torchrun's TCPStore), or None where it is not exposed."""
    try:
        from torch.distributed import distributed_c10d

        return distributed_c10d._get_default_store()
    except (AttributeError, RuntimeError, ValueError):  # pragma: no cover - other torch builds
        return None


def say(shard: Shard | None, message: str) -> None:
    """A progress line on stderr from the main process only (the others stay quiet)."""
    if shard is None or shard.main:
        print(message, file=sys.stderr, flush=True)

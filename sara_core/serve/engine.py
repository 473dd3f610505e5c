"""One chat completion, from a checked request to its answer, through the model's scheduler.

:meth:`Engine.start` checks the request against the model (conversation length, steering) and
submits one decode row as a :class:`~sara_core.engine.scheduler.Job` of the model's
:class:`~sara_core.engine.scheduler.BatchScheduler`, so requests that arrive together share a batch
exactly as the app's comparisons do. The blocking ``scheduler.run`` waits in a worker thread;
the event loop reads the run's events (started, text deltas, done or error) from an asyncio
queue. Setting :attr:`Run.stop` (a client that went away) withdraws a waiting request or ends
its row at the next token. Every request has a deadline: its queue wait and its generation both
end there.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sara_core.engine.compare import settings_row
from sara_core.engine.row import EOS, LENGTH, TIMEOUT, Row
from sara_core.engine.scheduler import BatchScheduler, Job, QueueFullError, QueueTimeoutError
from sara_core.models.loading import LoadedModel
from sara_core.prompts import decode, encode_messages
from sara_core.serve.errors import ApiError, from_input_error
from sara_core.serve.schema import ChatRequest, Limits
from sara_core.serve.steering import Resolver, SteeringPlan
from sara_core.serve.text import TextStream, cut_at_stop
from sara_core.validation import InputError

log = logging.getLogger("sara_core.serve")


@dataclass
class Outcome:
    """A finished answer: its text, why it ended (OpenAI's words) and the token counts."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    row_finish: str | None = None  # the decode loop's reason (eos, length, timeout, stopped)
    seconds: float = 0.0


def finish_reason(row_finish: str | None, stopped_by_text: bool) -> str:
    """OpenAI's finish_reason: "stop" for end-of-sequence or a stop sequence, "length" for the
    token limit and for the time budget (the answer was cut, not finished)."""
    if stopped_by_text or row_finish == EOS:
        return "stop"
    if row_finish in (LENGTH, TIMEOUT):
        return "length"
    return "stop"


@dataclass
class Stats:
    """Counters the server keeps (read by /v1/models' neighbour /health and by tests)."""

    requests: int = 0
    completed: int = 0
    stopped: int = 0  # ended because the client went away
    timed_out: int = 0
    tokens: int = 0
    last: list[Outcome] = field(default_factory=list)  # the most recent outcomes (bounded)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, outcome: Outcome, client_gone: bool) -> None:
        with self.lock:
            self.completed += 1
            self.tokens += outcome.completion_tokens
            self.stopped += int(client_gone)
            self.timed_out += int(outcome.row_finish == TIMEOUT)
            self.last = [*self.last[-31:], outcome]

    def to_json(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "completed": self.completed,
                "stopped_by_client": self.stopped,
                "timed_out": self.timed_out,
                "completion_tokens": self.tokens,
            }


class Run:
    """One request in flight: its events arrive on :attr:`events` in the event loop."""

    def __init__(self, engine: Engine, chat: ChatRequest, plan: SteeringPlan, ids: list[int]):
        self.engine, self.chat, self.plan, self.ids = engine, chat, plan, ids
        self.loop = asyncio.get_running_loop()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.stop = threading.Event()
        self.client_gone = False
        self.t0 = time.monotonic()
        self.deadline = self.t0 + engine.limits.budget_s
        self.row: Row | None = None
        self.text = TextStream(chat.stop)
        self.live = chat.stream or bool(chat.stop)  # decode every step only when needed
        self.future: Any = None

    def _push(self, kind: str, value: Any = None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))
        except RuntimeError:  # the event loop is gone (server shutting down)
            self.stop.set()

    def _prepare(self) -> list[Row]:
        """In the scheduler's thread, under the model's lock: build the steering and the row."""
        steerings = self.engine.resolver.build(self.plan)
        self.row = settings_row(self.chat.settings, self.ids, steerings, self.stop, self.deadline)
        self._push("started")
        return [self.row]

    def _on_step(self, rows: Sequence[Row]) -> None:
        if not self.live or not rows:
            return
        delta = self.text.update(decode(self.engine.lm, list(rows[0].tokens)))
        if self.text.stopped:
            self.stop.set()  # a stop sequence: end the row at the next step
        if delta and self.chat.stream:
            self._push("delta", delta)

    def _work(self) -> None:
        """In a worker thread: wait for the scheduler, then hand the outcome to the loop."""
        try:
            job = Job(1, self._prepare, self._on_step, self.stop, joins=True)
            wait = max(0.0, self.deadline - time.monotonic())
            self.engine.scheduler.run(job, queue_timeout=wait)
            if self.row is None:  # withdrawn while waiting (the client went away)
                self._push("error", ApiError(499, "the client closed the request"))
                return
            self._push("done", self._outcome(self.row))
        except QueueFullError as exc:
            self._push("error", ApiError(503, str(exc), code="server_busy"))
        except QueueTimeoutError:
            msg = f"the model stayed busy past this request's {self.engine.limits.budget_s:g} s"
            self._push("error", ApiError(503, msg, code="server_busy"))
        except InputError as exc:
            self._push("error", from_input_error(exc))
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, logged there
            self._push("error", exc)

    def _outcome(self, row: Row) -> Outcome:
        text, cut = cut_at_stop(decode(self.engine.lm, list(row.tokens)), self.chat.stop)
        outcome = Outcome(
            text=text,
            finish_reason=finish_reason(row.finish, cut or self.text.stopped),
            prompt_tokens=len(self.ids),
            completion_tokens=len(row.tokens),
            row_finish=row.finish,
            seconds=time.monotonic() - self.t0,
        )
        self.engine.stats.record(outcome, self.client_gone)
        log.info(
            "answer: %d+%d tokens, %s, %.2f s, steering %s",
            outcome.prompt_tokens,
            outcome.completion_tokens,
            row.finish,
            outcome.seconds,
            self.plan.source or self.plan.method,
        )
        return outcome

    def cancel(self) -> None:
        """The client went away: stop the work at its next check."""
        if not self.stop.is_set():
            self.client_gone = True
            self.stop.set()


def model_context(lm: LoadedModel) -> int | None:
    """The model's context length in tokens, when its config says."""
    cfg: Any = getattr(lm.model.config, "text_config", None) or lm.model.config
    value = getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)
    return int(value) if value else None


class Engine:
    """The model, its scheduler and the steering resolver, shared by every request."""

    def __init__(
        self,
        lm: LoadedModel,
        scheduler: BatchScheduler,
        resolver: Resolver,
        limits: Limits,
        workers: int = 64,
    ):
        self.lm, self.scheduler, self.resolver, self.limits = lm, scheduler, resolver, limits
        self.stats = Stats()
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sara-serve")
        self._in_flight = 0
        self._count_lock = threading.Lock()

    def start(self, chat: ChatRequest) -> Run:
        """Check the request against the model and submit it (call it in the event loop)."""
        try:
            ids = encode_messages(self.lm, chat.messages)
        except InputError as exc:
            raise from_input_error(exc, "messages") from None
        if len(ids) > self.limits.max_prompt_tokens:
            raise ApiError(
                400,
                f"the conversation is {len(ids)} tokens; this server's limit is "
                f"{self.limits.max_prompt_tokens}",
                "messages",
                "context_length_exceeded",
            )
        context = model_context(self.lm)
        if context is not None and len(ids) + chat.settings.max_new_tokens > context:
            raise ApiError(
                400,
                f"the conversation ({len(ids)} tokens) and max_tokens "
                f"({chat.settings.max_new_tokens}) exceed the model's context of {context}",
                "messages",
                "context_length_exceeded",
            )
        plan = self.resolver.plan(chat.steering)
        self.resolver.check_prompt(plan, len(ids))
        with self._count_lock:
            if self._in_flight >= self.workers:
                raise ApiError(503, "too many requests in flight: try again shortly", None, "busy")
            self._in_flight += 1
        with self.stats.lock:
            self.stats.requests += 1
        run = Run(self, chat, plan, ids)
        run.future = self._pool.submit(self._guarded, run)
        return run

    def _guarded(self, run: Run) -> None:
        try:
            run._work()
        finally:
            with self._count_lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

"""Answer one prompt three ways (original, SARA, ActAdd), and optionally a fourth (prompted).

``compare`` returns the answers; ``stream_compare`` yields them as they grow, for the UI. The
answers are rows of one batch (:func:`sara_core.engine.decoding.decode_rows`), each steering editing
only its own row: faster than three generations one after another on a CPU too
(docs/benchmark.md), with token-identical greedy answers; ``SteeringConfig(batched=False)`` runs
them one by one. All forward passes hold the model's own lock, so concurrent callers never see each
other's hooks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass

import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.decoding import decode_rows
from sara_core.engine.planning import BuiltSteerings, ComparePlan, build_steerings, plan_compare
from sara_core.engine.results import CompareResult, CompareUpdate
from sara_core.engine.row import Row, Sampling, eos_ids
from sara_core.engine.scheduler import BatchScheduler, Job
from sara_core.engine.streaming import stream_in_thread
from sara_core.models.loading import LoadedModel
from sara_core.prompts import decode
from sara_core.steering.interface import Steering
from sara_core.steering.prepare import PreparedSteerings

__all__ = [
    "CompareRun",
    "Generated",
    "compare",
    "generate",
    "run_compare",
    "settings_row",
    "stream_compare",
]


def settings_row(
    settings: GenerationSettings,
    input_ids: Sequence[int],
    steerings: Sequence[Steering] = (),
    stop: threading.Event | None = None,
    deadline: float | None = None,
) -> Row:
    """A decode row for one answer under ``settings``."""
    sampling = None
    if settings.do_sample:
        sampling = Sampling(settings.temperature, settings.top_p, settings.seed)
    return Row(
        list(input_ids),
        tuple(steerings),
        max_new_tokens=settings.max_new_tokens,
        min_new_tokens=settings.min_new_tokens,
        sampling=sampling,
        stop=stop,
        deadline=deadline,
    )


@dataclass
class Generated:
    """New token ids per row (cut at end-of-sequence) and when the first one appeared."""

    tokens: list[list[int]]
    first_token_at: float | None


def generate(
    lm: LoadedModel,
    input_ids: torch.Tensor,
    settings: GenerationSettings,
    steerings: Sequence[Steering] = (),
    rows: Sequence[int | None] | None = None,
    on_step: Callable[[list[list[int]]], None] | None = None,
    stop: threading.Event | None = None,
) -> Generated:
    """Generate from ``input_ids`` (B, T) with ``steerings``; ``rows[i]`` is the batch row that
    steering i edits (None: every row)."""
    targets = list(rows) if rows is not None else [None] * len(steerings)
    batch = []
    for b in range(input_ids.shape[0]):
        mine = [s for s, r in zip(steerings, targets, strict=True) if r is None or r == b]
        batch.append(settings_row(settings, input_ids[b].tolist(), mine, stop))
    callback = None if on_step is None else (lambda rs: on_step([r.tokens for r in rs]))
    decode_rows(lm, batch, callback)
    firsts = [r.first_token_at for r in batch if r.first_token_at is not None]
    return Generated([list(r.tokens) for r in batch], min(firsts) if firsts else None)


class CompareRun:
    """One comparison, in three parts a scheduler can interleave with other requests:
    :meth:`prepare` builds the steerings and the rows, the decode loop fills them (calling
    :meth:`publish` after every step), and :meth:`result` assembles the answers."""

    def __init__(
        self,
        lm: LoadedModel,
        plan: ComparePlan,
        on_update: Callable[[CompareUpdate], None] | None,
        stop: threading.Event,
        budget_s: float | None = None,
    ):
        self.lm, self.plan, self.on_update, self.stop = lm, plan, on_update, stop
        self.budget_s = budget_s
        self.deadline: float | None = None
        self.rows: list[Row] = []
        self.built: BuiltSteerings | None = None
        self._eos = eos_ids(lm)
        self.t0 = time.perf_counter()
        self.t_prep = self.t_end = self.t0
        self.per_row_s: list[float] = []

    @property
    def n_rows(self) -> int:
        return len(self.plan.rows)

    def prepare(self) -> list[Row]:
        """Build both steerings (forward passes: call it holding the model's lock) and the rows."""
        if self.budget_s is not None:  # the generation budget starts when the work does
            self.deadline = time.monotonic() + self.budget_s
        if self.on_update is not None:
            self.on_update(CompareUpdate(status="preparing"))
        self.built = build_steerings(self.lm, self.plan)
        self.t_prep = time.perf_counter()
        ids = self.plan.input_ids[0].tolist()
        b = self.built
        specs: list[tuple[list[int], tuple[Steering, ...]]] = [
            (ids, ()),
            (ids, (b.sara,)),
            (ids, (b.actadd,)),
        ]
        if self.plan.prompted_ids is not None:
            specs.append((self.plan.prompted_ids[0].tolist(), ()))
        self.rows = [
            settings_row(self.plan.settings, p, steerings, self.stop, self.deadline)
            for p, steerings in specs
        ]
        return self.rows

    def publish(self, _rows: Sequence[Row] = ()) -> None:
        """Hand the partial answers to ``on_update``."""
        if self.on_update is not None:
            texts = [
                decode(self.lm, [t for t in r.tokens if t not in self._eos]) for r in self.rows
            ]
            prompted = texts[3] if len(texts) > 3 else ""
            update = CompareUpdate(texts[0], texts[1], texts[2], "generating", prompted=prompted)
            self.on_update(update)

    def execute(self) -> None:
        """Prepare and decode in this thread (no scheduler)."""
        with self.lm.lock:
            self.prepare()
            if self.plan.config.batched is not False:
                decode_rows(self.lm, self.rows, self.publish)
            else:
                for row in self.rows:
                    t_row = time.perf_counter()
                    decode_rows(self.lm, [row], self.publish)
                    self.per_row_s.append(time.perf_counter() - t_row)
                    if self.stop.is_set():
                        break

    def result(self) -> CompareResult:
        """The answers and their timing, once the rows are done."""
        if self.built is None:
            raise RuntimeError("the comparison never started (stopped while waiting?)")
        self.t_end = time.perf_counter()
        rows, built, plan = self.rows, self.built, self.plan
        answers = [decode(self.lm, r.tokens) for r in rows]
        new_tokens = [len(r.tokens) for r in rows]
        firsts = [r.first_token_at for r in rows if r.first_token_at is not None]
        gen_s = self.t_end - self.t_prep
        batched = plan.config.batched is not False
        per_row = self.per_row_s or [gen_s] * len(rows)
        names = plan.rows
        timing = {
            "sara_prep_s": built.sara_s,
            "actadd_prep_s": built.actadd_s,
            "generate_s": gen_s,
            "per_answer_s": dict(zip(names, per_row, strict=False)),
            "first_token_s": (min(firsts) - self.t0) if firsts else None,
            "total_s": self.t_end - self.t0,
            "new_tokens": dict(zip(names, new_tokens, strict=True)),
            "tokens_per_s": sum(new_tokens) / gen_s if gen_s > 0 else None,
            "batched": batched,
            "finish": dict(zip(names, [r.finish for r in rows], strict=True)),
        }
        sara = built.sara
        settings = {
            "model": self.lm.name,
            "prompt_tokens": int(plan.input_ids.shape[1]),
            **asdict(plan.config),
            "layer": plan.layer,
            "k_used": sara.last_result.k if sara.last_result else None,
            **asdict(plan.settings),
            "instruction": plan.instruction,
        }
        return CompareResult(
            answers[0],
            answers[1],
            answers[2],
            settings=settings,
            timing=timing,
            sara_analysis=sara.last_result,
            sara_steering=sara,
            actadd_steering=built.actadd,
            prompted=answers[3] if len(answers) > 3 else None,
        )


def run_compare(
    lm: LoadedModel,
    plan: ComparePlan,
    on_update: Callable[[CompareUpdate], None] | None = None,
    stop: threading.Event | None = None,
    scheduler: BatchScheduler | None = None,
    queue_timeout: float | None = None,
    budget_s: float | None = None,
) -> CompareResult:
    """Run a planned comparison: in this thread, or as a job of ``scheduler`` (sharing a batch
    with other requests, after waiting at most ``queue_timeout`` seconds for a place). The
    answers end after ``budget_s`` seconds of work (finish reason "timeout")."""
    run = CompareRun(lm, plan, on_update, stop or threading.Event(), budget_s)
    if scheduler is None:
        run.execute()
    else:

        def waiting(ahead: int) -> None:
            if on_update is not None:
                on_update(CompareUpdate(status=f"waiting: {ahead} request(s) ahead"))

        job = Job(run.n_rows, run.prepare, run.publish, run.stop, joins=True)
        scheduler.run(job, queue_timeout, on_wait=waiting)
    return run.result()


def stream_compare(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    config: SteeringConfig | None = None,
    settings: GenerationSettings | None = None,
    *,
    prepared: PreparedSteerings | None = None,
    prompted: bool | str = False,
    scheduler: BatchScheduler | None = None,
    queue_timeout: float | None = None,
    budget_s: float | None = None,
    idle_timeout: float | None = None,
    stop: threading.Event | None = None,
) -> Generator[CompareUpdate, None, None]:
    """Answer ``prompt`` three ways (four with ``prompted``), yielding the answers as they grow.

    Bad input raises InputError here, at the call, before any work. The work then runs in a
    worker thread; closing the iterator early stops generation at the next token. ``prepared``
    reuses steerings made earlier (e.g. loaded from a file): their activations and layer are
    kept, coefficients and options come from ``config``. With a ``scheduler`` the answers share
    a batch with other requests' (waiting at most ``queue_timeout`` seconds for a place).
    ``budget_s`` bounds the work (answers end as "timeout"); ``idle_timeout`` is the watchdog:
    if no update comes for that long (a hung forward pass), the stream raises StreamTimeout and
    the work is told to stop. ``stop``, if given, is the run's stop event: setting it withdraws
    a queued request or ends the answers at their next token, as closing the iterator does.
    """
    plan = plan_compare(lm, prompt, attract, repel, config, settings, prepared, prompted=prompted)

    def work(emit: Callable[[CompareUpdate], None], stop: threading.Event) -> CompareResult:
        result = run_compare(lm, plan, emit, stop, scheduler, queue_timeout, budget_s)
        final = CompareUpdate(result.original, result.sara, result.actadd, "done", result)
        final.prompted = result.prompted or ""
        emit(final)
        return result

    return iter(stream_in_thread(work, name="sara-compare", stop=stop, idle_timeout=idle_timeout))


def compare(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    config: SteeringConfig | None = None,
    settings: GenerationSettings | None = None,
    *,
    prepared: PreparedSteerings | None = None,
    prompted: bool | str = False,
) -> CompareResult:
    """Answer ``prompt`` three ways: original, SARA-steered and ActAdd-steered; with
    ``prompted`` (True: the attract text, or an instruction) also a fourth, the stance written
    into the prompt, generated in the same batch.

    Runs in the calling thread (no worker thread, so no second OpenMP thread pool competing
    for the CPU); see ``stream_compare`` for the streaming form.
    """
    plan = plan_compare(lm, prompt, attract, repel, config, settings, prepared, prompted=prompted)
    return run_compare(lm, plan)

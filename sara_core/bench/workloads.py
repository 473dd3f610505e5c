"""The timed workloads: one generation, steered ones, the compare, the app's stream, a classroom.

Each function runs one workload once and returns seconds (or a small dict of them). Decode-step
times are measured from a row's first new token to its last, over the steps in between, so the
prompt's forward pass and the steerings' preparation are left out of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare, generate, stream_compare
from sara_core.engine.scheduler import BatchScheduler
from sara_core.models.loading import LoadedModel
from sara_core.steering.prepare import prep_cache, prepare_actadd, prepare_sara


@dataclass
class Task:
    """What every workload answers: the paper's prompt and stance, at one block."""

    lm: LoadedModel
    prompt: str
    attract: str
    repel: str
    layer: int
    settings: GenerationSettings
    ids: Any  # the prompt's token ids (1, T)
    produced: list[int] = field(default_factory=list)  # new tokens of every plain run

    @property
    def config(self) -> SteeringConfig:
        return SteeringConfig(layer=self.layer)


def _step_s(first: float | None, end: float, tokens: int) -> float:
    """Seconds per decode step between the first new token and the end."""
    if first is None or tokens < 2:
        return float("nan")
    return (end - first) / (tokens - 1)


def plain(task: Task) -> dict[str, float]:
    """One unsteered row in this thread: total seconds, seconds per decode step, and seconds to
    its first new token (its first words; counted by token, since the text of a random-weight
    model's first tokens is often blank)."""
    t0 = time.perf_counter()
    out = generate(task.lm, task.ids, task.settings)
    end = time.perf_counter()
    task.produced.append(len(out.tokens[0]))
    return {
        "total": end - t0,
        "step": _step_s(out.first_token_at, end, len(out.tokens[0])),
        "first": (out.first_token_at or end) - t0,
    }


def _generating(update: Any) -> bool:
    """An update sent once the first tokens exist (their text may still be blank)."""
    return update.status == "generating" or any(update.answers())


def sara(task: Task) -> tuple[float, float]:
    """SARA-steered generation including its preparation: (total, preparation) seconds. The
    preparation cache is emptied first, so the preparation is really paid."""
    prep_cache(task.lm).clear()
    t0 = time.perf_counter()
    steering = prepare_sara(task.lm, task.attract, task.repel, task.layer)
    t_prep = time.perf_counter() - t0
    generate(task.lm, task.ids, task.settings, (steering,))
    return time.perf_counter() - t0, t_prep


def actadd(task: Task) -> float:
    """ActAdd-steered generation including its preparation (paid: the cache is emptied)."""
    prep_cache(task.lm).clear()
    t0 = time.perf_counter()
    steering = prepare_actadd(task.lm, task.attract, task.repel, task.layer)
    generate(task.lm, task.ids, task.settings, (steering,))
    return time.perf_counter() - t0


def three(task: Task) -> float:
    """The three-answer compare in this thread (``sara_core.compare``), preparations included
    (the cache is emptied first)."""
    prep_cache(task.lm).clear()
    t0 = time.perf_counter()
    compare(task.lm, task.prompt, task.attract, task.repel, task.config, task.settings)
    return time.perf_counter() - t0


def streamed(
    task: Task, scheduler: BatchScheduler | None = None, prompt: str | None = None
) -> dict[str, float]:
    """The app's path: ``stream_compare`` in a worker thread (through ``scheduler`` if given),
    consumed here. Seconds to the first non-empty text, in all, and per decode step."""
    t0 = time.perf_counter()
    first = None
    stream = stream_compare(
        task.lm,
        prompt or task.prompt,
        task.attract,
        task.repel,
        task.config,
        task.settings,
        scheduler=scheduler,
    )
    for update in stream:
        if first is None and _generating(update):
            first = time.perf_counter()
    end = time.perf_counter()
    n = task.settings.max_new_tokens if task.settings.min_new_tokens else 0
    return {"first": (first or end) - t0, "total": end - t0, "step": _step_s(first, end, n)}


def first_token(task: Task, cold: bool = False) -> float:
    """From the call to the first streamed update with tokens (the first words of the app's
    Compare button), then stop. The
    preparations come from the cache, as for a classroom on one stance or a second press of
    the default one, or (``cold``) are computed first."""
    if cold:
        prep_cache(task.lm).clear()
    t0 = time.perf_counter()
    stream = stream_compare(
        task.lm, task.prompt, task.attract, task.repel, task.config, task.settings
    )
    try:
        for update in stream:
            if _generating(update):
                return time.perf_counter() - t0
    finally:
        stream.close()  # stops the worker at the next token
    return float("nan")


def classroom(
    task: Task, prompts: Sequence[str], max_rows: int | None, settings: GenerationSettings
) -> float:
    """``len(prompts)`` visitors at once, each a client thread streaming its own compare through
    one scheduler: ``max_rows=3`` serves them one compare after another, None batches them
    (the scheduler's default limit). Wall seconds until the last is done."""
    scheduler = BatchScheduler(task.lm, max_waiting=len(prompts) + 1, window_s=0.05)
    if max_rows is not None:
        scheduler.max_rows = max_rows
    visitor = Task(**{**task.__dict__, "settings": settings, "produced": []})
    errors: list[BaseException] = []

    def visit(prompt: str) -> None:
        try:
            streamed(visitor, scheduler, prompt)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=visit, args=(p,), daemon=True) for p in prompts]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    scheduler.close()
    if errors:
        raise RuntimeError(f"a classroom visitor failed: {errors[0]}") from errors[0]
    return wall

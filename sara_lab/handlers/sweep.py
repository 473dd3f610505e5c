"""The layer sweep (tab and ``/sweep`` API): SARA's signal at every n-th block, optionally with
short answers, as a plot, a table and a summary.

The sweep runs in a worker thread through ``sara_core.engine.streaming.stream_in_thread`` (the
helper ``stream_compare`` uses too), holding its model (waiting at most the settings' lock timeout
for it), so its progress reaches the page while it works. The handler is a generator that yields
its progress at every block: the sweep tab's Stop sets the run's stop event, and a client that
goes away makes Gradio close the generator at its next yield; either ends the sweep at its next
block (answers at their next token). The settings' budget and watchdog bound it too.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sara_core.engine.streaming import StreamTimeout, stream_in_thread
from sara_core.plots.sweep import sweep_plot
from sara_core.tune.layer_sweep import SweepResult, layer_sweep
from sara_core.validation import (
    MAX_COEFF,
    InputError,
    as_bool,
    as_float,
    as_int,
    as_k,
    as_optional_int,
    as_text,
    resolve_layer,
)
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.model_manager import model_for
from sara_lab.settings import Limits
from sara_lab.zerogpu import gpu

if TYPE_CHECKING:
    from sara_core.models.loading import LoadedModel
    from sara_lab.lab import Lab, StopEvent
    from sara_lab.settings import Settings

Progress = tuple[int, int, str]  # done, total, description
Outputs = tuple[Any, Any, str, Any]  # plot, table, summary, best block


@dataclass(frozen=True)
class SweepRequest:
    """A sweep's values, checked; the field order is the ``/sweep`` API's positional order.

    ``layer`` only marks a block on the plot: None is the model's default block, a negative one
    counts from the end. ``k`` None or 0 is auto.
    """

    dilemma: str
    attract: str
    repel: str
    k: int | None = None
    answers: bool = False
    max_new_tokens: int = 24
    stride: int = 1
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    layer: int | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], settings: Settings, n_layers: int) -> SweepRequest:
        """Check every raw value against the app's caps and the model's depth."""
        defaults = {f.name: f.default for f in fields(cls)}
        values = {**defaults, **{k: v for k, v in raw.items() if v is not None or k == "layer"}}
        answers = as_bool("answers", values["answers"])
        stride = as_int("stride", values["stride"], 1, max(1, n_layers))
        n_swept = math.ceil(n_layers / stride)
        if answers and n_swept > settings.sweep_answer_layers:
            raise InputError(
                f"a sweep with answers may cover at most {settings.sweep_answer_layers} layers "
                f"here ({n_swept} asked): raise the stride to "
                f"{math.ceil(n_layers / settings.sweep_answer_layers)} or more"
            )
        layer = as_optional_int("layer", values["layer"], -n_layers, n_layers - 1)
        return cls(
            dilemma=as_text("the dilemma", values["dilemma"]),
            attract=as_text("the attract prompt", values["attract"]),
            repel=as_text("the repel prompt", values["repel"]),
            k=as_k(values["k"]),
            answers=answers,
            max_new_tokens=as_int(
                "max_new_tokens",
                values["max_new_tokens"],
                1,
                settings.sweep_max_new_tokens,
                " for a sweep",
            ),
            stride=stride,
            sara_coeff=as_float(
                "the SARA coefficient", values["sara_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            actadd_coeff=as_float(
                "the ActAdd coefficient", values["actadd_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            layer=None if layer is None else resolve_layer(layer, n_layers),
        )


@gpu(duration=120)
def sweep_stream(
    manager_id: str,
    model_name: str,
    request: SweepRequest,
    limits: Limits | None = None,
    stop: threading.Event | None = None,
) -> Generator[Progress | SweepResult, None, None]:
    """The GPU part: (done, total, description) as the sweep advances, then the SweepResult
    (the blocks done so far, if it was stopped). Closing the generator, or setting ``stop``
    (not on ZeroGPU), stops the sweep at its next block."""
    limits = limits or Limits()
    lm = model_for(manager_id, model_name)

    def work(emit: Callable[[Progress], None], stop: threading.Event) -> SweepResult:
        with lm.hold(limits.lock_timeout_s):  # the scheduler's batches wait for the sweep
            return layer_sweep(
                lm,
                request.dilemma,
                request.attract,
                request.repel,
                layers=range(0, lm.n_layers, request.stride),
                k=request.k,
                answers=request.answers,
                max_new_tokens=request.max_new_tokens,
                sara_coeff=request.sara_coeff,
                actadd_coeff=request.actadd_coeff,
                progress=lambda done, total, desc: emit((done, total, desc)),
                stop=stop,
            )

    stream = stream_in_thread(
        work,
        name="sara-sweep",
        stop=stop,
        idle_timeout=limits.idle_timeout_s,
        timeout=limits.budget_s,
    )
    yield from stream.then_result()


def sweep(
    lab: Lab,
    values: Mapping[str, Any],
    model_name: str | None = None,
    progress: Callable[..., Any] | None = None,
    session: str | None = None,
) -> Iterator[Outputs]:
    """Run a sweep for the raw values (keyed by :class:`SweepRequest` names): yields its
    progress in the summary (the other outputs skipped), then the plot, the per-block table,
    the summary and the block with the largest mean |score|."""
    stop = lab.stops.start(f"{session or uuid.uuid4().hex}/sweep")
    try:
        yield from _sweep(lab, values, model_name or lab.models.default, progress, stop)
    finally:
        lab.stops.finish(stop)


def _sweep(
    lab: Lab,
    values: Mapping[str, Any],
    model_key: str,
    progress: Callable[..., Any] | None,
    stop: StopEvent,
) -> Iterator[Outputs]:
    import gradio as gr

    t0 = time.monotonic()
    limits = lab.settings.limits()
    try:
        lm = lab.models.get(model_key, timeout=limits.lock_timeout_s)
        request = SweepRequest.parse(values, lab.settings, lm.n_layers)
        if progress is not None:
            progress(0, desc="Starting the sweep…")
        result: SweepResult | None = None
        shared = None if lab.settings.zero_gpu else stop
        for item in sweep_stream(lab.models.id, model_key, request, limits, shared):
            if isinstance(item, SweepResult):
                result = item
                continue
            done, total, desc = item
            if progress is not None:
                progress((done, total), desc=desc, unit="steps")
            yield gr.skip(), gr.skip(), f"Sweeping: step {done} of {total} ({desc})…", gr.skip()
            if stop.requested and shared is None:
                break  # ZeroGPU: leaving the loop closes the stream, which stops the sweep
    except StreamTimeout as exc:
        budget = limits.budget_s
        if budget is not None and time.monotonic() - t0 >= budget:
            raise gr.Error(
                f"The sweep took longer than the time limit ({budget:g} s) and was stopped: "
                "raise the stride, or switch off the answers."
            ) from None
        raise user_error(exc) from None
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        raise user_error(exc) from None
    if stop.requested:
        n = len(result.layers) if result is not None else 0
        note = f"**Stopped** after {n} block(s). Press the button to run the sweep again."
        if result is None or not result.layers:
            yield gr.skip(), gr.skip(), note, gr.skip()
            return
        yield *_outputs(lm, request, result)[:2], note, result.best_layer()
        return
    if result is None:
        raise user_error(RuntimeError("the sweep ended without a result"))
    yield _outputs(lm, request, result)


def _outputs(lm: LoadedModel, request: SweepRequest, result: SweepResult) -> Outputs:
    highlight = lm.default_layer if request.layer is None else request.layer
    figure = sweep_plot(result, highlight=highlight)
    table = render.sweep_table(result, request.answers)
    return figure, table, render.sweep_summary(result, request.answers), result.best_layer()


def stop(lab: Lab, session: str | None) -> None:
    """The sweep tab's Stop: the session's sweep ends at its next block."""
    if session:
        lab.stops.stop(f"{session}/sweep")

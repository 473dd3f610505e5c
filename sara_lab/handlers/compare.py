"""The Compare button and the ``/compare`` API: three answers streamed side by side, then what
SARA did.

Every comparison goes through :func:`compare_stream`, the one function between the handler and
``sara_core.engine.compare.stream_compare``. There it joins its model's batching scheduler, so
visitors who press the button together share one generation (each still streams its own
answers); on ZeroGPU, whose GPU functions run in another process, it runs directly instead. The
run's stop event is registered before it queues: Stop, or a client that goes away (Gradio then
closes this generator at its next yield), withdraws a waiting request or ends the answers at the
next token. Every run is bounded by the settings' budget, queue wait and watchdog.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.engine.compare import stream_compare
from sara_core.engine.request import CompareRequest
from sara_core.engine.results import CompareResult, CompareUpdate
from sara_core.models.errors import ModelBusyError
from sara_core.models.loading import LoadedModel
from sara_core.steering.prepare import PreparedSteerings
from sara_core.steering.saved import SavedSteering
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.handlers.steering_files import download_update
from sara_lab.model_manager import manager_for
from sara_lab.settings import Limits
from sara_lab.zerogpu import gpu

if TYPE_CHECKING:
    import threading

    from sara_lab.lab import Lab, StopEvent

STREAM_INTERVAL_S = 0.1  # at most ten UI updates a second while answers stream
OFF = "(switched off: tick “Also answer with the stance in the prompt”)"
STOPPED = "**Stopped** after {n} new tokens. Press the button to run again."

# original, SARA, ActAdd, status, prompted, record: the prompted answer comes after the status so
# that API clients written for (original, sara, actadd, status) still find those where they were
Outputs = tuple[Any, Any, Any, Any, Any, Any]


@dataclass
class RunRecord:
    """What a finished run leaves for the analysis and the download (plain CPU data)."""

    model: str
    request: CompareRequest
    result: CompareResult
    uploaded: bool = False

    @property
    def answers(self) -> tuple[str, str, str]:
        return self.result.original, self.result.sara, self.result.actadd

    @property
    def prompted(self) -> str:
        """The prompted answer, or a note that it was switched off."""
        return self.result.prompted if self.result.prompted is not None else OFF


def uploaded_steerings(lm: LoadedModel, uploaded: SavedSteering | None) -> PreparedSteerings | None:
    """The steerings of an uploaded file, as the library's one resolver takes them (it computes
    the one a file lacks), or a clear error if the file was read for another model."""
    if uploaded is None:
        return None
    widths = {s.attract_acts.shape[-1] for s in [uploaded.sara] if s is not None}
    widths |= {s.diff.shape[-1] for s in [uploaded.actadd] if s is not None}
    if not 0 <= uploaded.layer < lm.n_layers or widths != {lm.hidden_size}:
        raise gr.Error("the uploaded steering does not fit this model: upload it again")
    return PreparedSteerings(uploaded.sara, uploaded.actadd)


@gpu(duration=120)
def compare_stream(
    manager_id: str,
    model_name: str,
    request: CompareRequest,
    prepared: PreparedSteerings | None = None,
    limits: Limits | None = None,
    stop: threading.Event | None = None,
) -> Generator[CompareUpdate, None, None]:
    """The GPU part: the partial answers as they grow; the last update holds the result, on the
    CPU. Bad input raises at the first ``next``, before any work; closing the generator, or
    setting ``stop`` (not on ZeroGPU: an event cannot cross processes), withdraws the request
    from the queue or stops generation at the next token."""
    limits = limits or Limits()
    manager = manager_for(manager_id)
    lm, scheduler = manager.serve(model_name, limits.lock_timeout_s)
    stream = stream_compare(
        lm,
        request.dilemma,
        request.attract,
        request.repel,
        request.config(),
        request.settings(),
        prepared=prepared,
        prompted=request.prompted_arg(),
        scheduler=scheduler,
        queue_timeout=limits.queue_timeout_s,
        budget_s=limits.budget_s,
        idle_timeout=limits.idle_timeout_s,
        stop=stop,
    )
    try:
        for update in stream:
            if update.result is not None:
                update = replace(update, result=update.result.to("cpu"))
            yield update
    except RuntimeError as exc:
        if type(exc) is RuntimeError and not manager.is_serving(scheduler):
            raise ModelBusyError(
                "the model was unloaded to make room for another: press the button again"
            ) from None
        raise
    finally:
        stream.close()  # a generator: closing it stops the work


def _finish(result: CompareResult) -> set[str]:
    return set((result.timing.get("finish") or {}).values())


def _stopped_status(result: CompareResult | None) -> str:
    tokens = (result.timing.get("new_tokens") or {}) if result is not None else {}
    return STOPPED.format(n=max(tokens.values(), default=0))


def _done_status(lab: Lab, result: CompareResult, wall_s: float, first_s: float | None) -> str:
    status = render.timing_markdown(result, wall_s, first_s)
    if "timeout" in _finish(result):
        limit = f"{lab.settings.budget_s:g} s"
        status = f"**Cut short at the time limit ({limit}).** " + status
    return status


def compare(
    lab: Lab,
    fields: Mapping[str, Any],
    model_name: str | None = None,
    uploaded: SavedSteering | None = None,
    session: str | None = None,
) -> Iterator[Outputs]:
    """Stream the answers for the raw values of a request (widgets or API, keyed by the
    :class:`CompareRequest` field names): yields (original, SARA, ActAdd, status, prompted,
    record). The run's stop event exists from the first moment, so Stop reaches it anywhere."""
    stop = lab.stops.start(f"{session or uuid.uuid4().hex}/compare")
    try:
        yield from _compare(lab, fields, model_name or lab.models.default, uploaded, stop)
    finally:
        lab.stops.finish(stop)


def _compare(
    lab: Lab,
    fields: Mapping[str, Any],
    model_key: str,
    uploaded: SavedSteering | None,
    stop: StopEvent,
) -> Iterator[Outputs]:
    t0 = time.perf_counter()
    settings = lab.settings
    shared = None if settings.zero_gpu else stop  # ZeroGPU: closing the stream stops it
    try:
        lm = lab.models.get(model_key, timeout=settings.lock_timeout_s)
        request = CompareRequest.parse(
            fields, max_new_tokens=settings.max_new_tokens, n_layers=lm.n_layers
        )
        prepared = uploaded_steerings(lm, uploaded)
        limits = settings.limits()
        stream = compare_stream(lab.models.id, model_key, request, prepared, limits, shared)
        first = next(stream)  # the library checks every input before any work: errors now
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        if stop.requested:  # withdrawn before its first update
            yield "", "", "", _stopped_status(None), "", None
            return
        raise user_error(exc) from None
    note = " (using the uploaded steering)" if prepared is not None else ""
    preparing = f"Preparing the steering{note}…"
    prompted = "" if request.prompted else OFF
    waiting = first.status.startswith("waiting")
    yield "", "", "", "Waiting for the model…" if waiting else preparing, prompted, None
    first_s: float | None = None
    last_emit = 0.0
    texts = ("", "", "")
    try:
        for update in itertools.chain([first], stream):
            if update.result is not None:
                result = update.result
                if stop.requested and "stopped" in _finish(result):
                    texts = (result.original, result.sara, result.actadd)
                    prompted = result.prompted if result.prompted is not None else prompted
                    yield (*texts, _stopped_status(result), prompted, None)
                    return
                record = RunRecord(lm.name, request, result, prepared is not None)
                status = _done_status(lab, result, time.perf_counter() - t0, first_s)
                yield (*record.answers, status, record.prompted, record)
                return
            if update.status.startswith("waiting"):
                ahead = update.status.partition(": ")[2]
                yield "", "", "", f"Waiting for the model ({ahead})…", prompted, gr.skip()
                continue
            if update.status == "preparing":
                if waiting:  # its turn came: say so
                    yield "", "", "", preparing, prompted, gr.skip()
                continue
            texts = update.answers()
            prompted = update.prompted if request.prompted else OFF
            if first_s is None and any(texts):
                first_s = time.perf_counter() - t0
            if stop.requested and shared is None:
                stream.close()  # generation stops at the next token
                yield (*texts, _stopped_status(None), prompted, None)
                return
            now = time.perf_counter()
            if any(texts) and now - last_emit >= STREAM_INTERVAL_S:
                last_emit = now
                shown = (*texts, prompted) if request.prompted else texts
                status = render.generating(shown)
                yield (*texts, status, prompted, gr.skip())
    except Exception as exc:  # noqa: BLE001
        if stop.requested:  # withdrawn while it waited: no answer, no error
            yield (*texts, _stopped_status(None), prompted, None)
            return
        raise user_error(exc) from None
    finally:
        stream.close()


def analysis(lab: Lab, record: RunRecord | None) -> tuple[Any, ...]:
    """After a run: the heatmap, the top units, the 3x3 similarity, the summary, the download."""
    views = None if record is None else render.analysis(record.result)
    if record is None or views is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    heat, table, sim, summary = views
    return heat, table, sim, summary, download_update(record, lab.files)


def compare_event(
    lab: Lab,
    fields: Mapping[str, Any],
    model_name: str | None = None,
    uploaded: SavedSteering | None = None,
    session: str | None = None,
) -> Iterator[Outputs]:
    """:func:`compare` for the page: the finished run waits in ``lab.records`` and the session's
    state holds only its key, so no activations stay in a session after the analysis."""
    for out in compare(lab, fields, model_name, uploaded, session):
        record = out[-1]
        if isinstance(record, RunRecord):
            out = (*out[:-1], lab.records.put(record))
        yield out


def analysis_event(lab: Lab, key: Any) -> tuple[Any, ...]:
    """:func:`analysis` for the page: takes the run out of ``lab.records`` (served once)."""
    return analysis(lab, lab.records.pop(key))


def stop(lab: Lab, session: str | None) -> None:
    """The Stop button: the session's comparison is withdrawn from the queue or ends at its
    next token."""
    if session:
        lab.stops.stop(f"{session}/compare")

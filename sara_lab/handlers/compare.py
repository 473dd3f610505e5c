"""The Compare button and the ``/compare`` API: three answers streamed side by side, then what
SARA did.

Every comparison goes through :func:`compare_stream`, the one function between the handler and
``sara_core.generation.stream_compare`` (a cross-request batching scheduler can replace it there).
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.generation import CompareResult, CompareUpdate, PreparedSteerings, stream_compare
from sara_core.models import LoadedModel
from sara_core.request import CompareRequest
from sara_core.steering_io import SavedSteering
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.handlers.steering_files import download_update
from sara_lab.models import model_for
from sara_lab.zerogpu import gpu

if TYPE_CHECKING:
    from sara_lab.lab import Lab

STREAM_INTERVAL_S = 0.1  # at most ten UI updates a second while answers stream
OFF = "(switched off: tick “Also answer with the stance in the prompt”)"

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
) -> Generator[CompareUpdate, None, None]:
    """The GPU part: the partial answers as they grow; the last update holds the result, on the
    CPU. Bad input raises at the first ``next``, before any work; closing the generator stops
    generation at the next token."""
    lm = model_for(manager_id, model_name)
    stream = stream_compare(
        lm,
        request.dilemma,
        request.attract,
        request.repel,
        request.config(),
        request.settings(),
        prepared=prepared,
        prompted=request.prompted_arg(),
    )
    try:
        for update in stream:
            if update.result is not None:
                update = replace(update, result=update.result.to("cpu"))
            yield update
    finally:
        stream.close()  # a generator: closing it stops the work


def compare(
    lab: Lab,
    fields: Mapping[str, Any],
    model_name: str | None = None,
    uploaded: SavedSteering | None = None,
    session: str | None = None,
) -> Iterator[Outputs]:
    """Stream the answers for the raw values of a request (widgets or API, keyed by the
    :class:`CompareRequest` field names): yields (original, SARA, ActAdd, status, prompted,
    record)."""
    t0 = time.perf_counter()
    model_key = model_name or lab.models.default
    try:
        lm = lab.models.get(model_key)
        request = CompareRequest.parse(
            fields, max_new_tokens=lab.settings.max_new_tokens, n_layers=lm.n_layers
        )
        prepared = uploaded_steerings(lm, uploaded)
        stream = compare_stream(lab.models.id, model_key, request, prepared)
        first = next(stream)  # the library checks every input before any work: errors now
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        raise user_error(exc) from None
    stop = lab.stops.start(session or uuid.uuid4().hex)
    note = " (using the uploaded steering)" if prepared is not None else ""
    prompted0 = "" if request.prompted else OFF
    yield "", "", "", f"Preparing the steering{note}…", prompted0, None
    first_s: float | None = None
    last_emit = 0.0
    try:
        for update in itertools.chain([first], stream):
            if update.result is not None:
                record = RunRecord(lm.name, request, update.result, prepared is not None)
                status = render.timing_markdown(update.result, time.perf_counter() - t0, first_s)
                yield (*record.answers, status, record.prompted, record)
                return
            texts = update.answers()
            prompted = update.prompted if request.prompted else OFF
            if first_s is None and any(texts):
                first_s = time.perf_counter() - t0
            if stop.is_set():
                stream.close()  # generation stops at the next token
                yield (*texts, "**Stopped.** Press the button to run again.", prompted, None)
                return
            now = time.perf_counter()
            if any(texts) and now - last_emit >= STREAM_INTERVAL_S:
                last_emit = now
                status = f"Generating the {render.growing(texts)} answer…"
                yield (*texts, status, prompted, gr.skip())
    except Exception as exc:  # noqa: BLE001
        raise user_error(exc) from None
    finally:
        stream.close()
        lab.stops.finish(stop)


def analysis(lab: Lab, record: RunRecord | None) -> tuple[Any, ...]:
    """After a run: the heatmap, the top units, the 3x3 similarity, the summary, the download."""
    views = None if record is None else render.analysis(record.result)
    if record is None or views is None:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
    heat, table, sim, summary = views
    return heat, table, sim, summary, download_update(record)


def stop(lab: Lab, session: str | None) -> None:
    """The Stop button: the session's running comparison ends at its next token."""
    lab.stops.stop(session)

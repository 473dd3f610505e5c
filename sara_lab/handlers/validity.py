"""Can this model show it? Whether prompting moves the session's model on the forced-choice
moral and sentiment banks (``sara_core.measures.model_validity``): shown on the Model tab and
as one line above the Steer tab's answers.

A result already known (shipped with the repository for the embedded model, or measured earlier
on this server) is shown when the page loads or the model changes. Any other model is measured
on request (the Model tab's button): in a worker thread, one bank at a time with its progress,
holding the model (waiting at most the settings' lock timeout for it), stopped by the Stop
button, a client that goes away or the settings' budget, and then cached.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from sara_core.engine.streaming import stream_in_thread
from sara_core.measures.model_validity import (
    ModelValidity,
    ValidityStopped,
    measure_validity,
    save_validity,
    stored_validity,
)
from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.model_manager import LoadFailed

if TYPE_CHECKING:
    from sara_core.models.loading import LoadedModel
    from sara_lab.lab import Lab

Views = tuple[str, str]  # the Steer tab's line, the Model tab's table


def views(lm: LoadedModel, validity: ModelValidity | None) -> Views:
    return (
        render.validity_line(validity, render.model_size(lm)),
        render.validity_markdown(validity, lm.name),
    )


def show(lab: Lab, model_name: str | None) -> tuple[Any, Any]:
    """After the page loads or the model changes: what is known about it, without measuring
    (nothing changes while the model cannot be had)."""
    name = model_name or lab.models.default
    try:
        lm = lab.models.get(name, timeout=lab.settings.lock_timeout_s)
    except (ModelBusyError, ModelLoadError, LoadFailed):
        return gr.skip(), gr.skip()
    return views(lm, stored_validity(lm.name))


def check(
    lab: Lab,
    model_name: str | None,
    progress: Callable[..., Any] | None = None,
    session: str | None = None,
) -> Iterator[tuple[Any, Any]]:
    """The Model tab's "Check this model": the stored result, else measure it (quick) now."""
    stop = lab.stops.start(f"{session or uuid.uuid4().hex}/validity")
    try:
        yield from _check(lab, model_name or lab.models.default, progress, stop)
    finally:
        lab.stops.finish(stop)


def _check(
    lab: Lab, name: str, progress: Callable[..., Any] | None, stop: threading.Event
) -> Iterator[tuple[Any, Any]]:
    limits = lab.settings.limits()
    try:
        lm = lab.models.get(name, timeout=limits.lock_timeout_s)
        known = stored_validity(lm.name)
        if known is not None:
            yield views(lm, known)
            return

        def work(emit: Callable[[tuple[int, int, str]], None], stop: threading.Event) -> Any:
            with lm.hold(limits.lock_timeout_s):
                result = measure_validity(
                    lm, quick=True, progress=lambda *step: emit(step), stop=stop
                )
            save_validity(result)
            return result

        stream = stream_in_thread(
            work,
            name="sara-validity",
            stop=stop,
            idle_timeout=limits.idle_timeout_s,
            timeout=limits.budget_s,
        )
        yield gr.skip(), f"Checking `{lm.name}`: the moral bank…"
        try:
            for done, total, bank in stream:
                if progress is not None:
                    progress((done, total), desc=f"{bank} bank done", unit="banks")
                yield gr.skip(), f"Checking `{lm.name}`: {done} of {total} banks done…"
        finally:
            stream.close()
    except ValidityStopped:
        yield gr.skip(), "**Stopped.** Nothing was measured: press the button to check again."
        return
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        raise user_error(exc) from None
    yield views(lm, stream.result)


def stop(lab: Lab, session: str | None) -> None:
    """The Model tab's Stop: the check ends before its next bank."""
    if session:
        lab.stops.stop(f"{session}/validity")

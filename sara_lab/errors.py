"""The one place where a failure inside a request becomes the message a visitor sees.

Bad values (``InputError``), models that may not or could not be loaded (``LoadFailed``, whose
text is already safe), a busy model and a full or slow queue say what to do next. Anything else
(a bug, or raw text from deep inside a library, which may hold server paths) goes to the server
log with its full trace under a short reference, and the visitor sees that reference only.
"""

from __future__ import annotations

import logging
import uuid

import gradio as gr

from sara_core.engine.scheduler import QueueFullError, QueueTimeoutError
from sara_core.engine.streaming import StreamTimeout
from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_core.validation import InputError
from sara_lab.model_manager import LoadFailed

log = logging.getLogger("sara_lab")

BUSY = "The model is busy: {why}. Try again in a moment."
HUNG = (
    "The model stopped responding, so your request was stopped (reference {ref}). The app is "
    "still running: try again in a moment."
)


def _reference(exc: BaseException, what: str, level: int = logging.ERROR) -> str:
    ref = uuid.uuid4().hex[:8]
    log.log(level, "%s (reference %s)", what, ref, exc_info=exc)
    return ref


def user_error(exc: BaseException) -> gr.Error:
    """A ``gr.Error`` a visitor can act on, for any failure inside a request."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, InputError | LoadFailed | ModelBusyError):
        return gr.Error(str(exc))
    if isinstance(exc, QueueFullError):
        return gr.Error(BUSY.format(why="too many requests are waiting for it"))
    if isinstance(exc, QueueTimeoutError):
        return gr.Error(BUSY.format(why="your request waited too long for its turn"))
    if isinstance(exc, StreamTimeout):
        return gr.Error(HUNG.format(ref=_reference(exc, "a request stopped by the watchdog")))
    if isinstance(exc, ModelLoadError):
        ref = _reference(exc, "a model failed to load")
        return gr.Error(
            f"The model could not be loaded (reference {ref}): try again later, or choose "
            "another model."
        )
    ref = _reference(exc, "request failed")
    return gr.Error(
        f"Something went wrong on the server (reference {ref}). The app is still running: try "
        "again, or change the settings."
    )

"""The one place where a failure inside a request becomes the message a visitor sees.

Bad values (``InputError`` and other ``ValueError``), models that cannot load and models busy for
too long say what to change: their text is shown as it is. Anything else is a bug: its full trace
goes to the server log under a short reference, and the visitor sees that reference, never the
raw exception text or a server path.
"""

from __future__ import annotations

import logging
import uuid

import gradio as gr

from sara_core.models import ModelBusyError, ModelLoadError

log = logging.getLogger("sara_lab")


def user_error(exc: BaseException) -> gr.Error:
    """A ``gr.Error`` a visitor can act on, for any failure inside a request."""
    if isinstance(exc, gr.Error):
        return exc
    if isinstance(exc, ValueError | ModelLoadError | ModelBusyError):
        return gr.Error(str(exc))
    ref = uuid.uuid4().hex[:8]
    log.error("request failed (reference %s)", ref, exc_info=exc)
    return gr.Error(
        f"Something went wrong on the server (reference {ref}). The app is still running: try "
        "again, or change the settings."
    )

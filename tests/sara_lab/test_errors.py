"""The one conversion of failures into visitor messages (sara_lab.errors.user_error)."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

from sara_core.engine.scheduler import QueueFullError, QueueTimeoutError
from sara_core.engine.streaming import StreamTimeout
from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_core.validation import InputError
from sara_lab.errors import user_error
from sara_lab.model_manager import LoadFailed


@pytest.mark.parametrize(
    "exc",
    [
        InputError("layer=40 is out of range"),
        LoadFailed("could not load 'x': there is no such model on the hub (reference 1234abcd)"),
        ModelBusyError("the model is busy with other requests"),
    ],
)
def test_a_problem_the_visitor_can_fix_is_shown_as_it_is(exc):
    error = user_error(exc)
    assert isinstance(error, gr.Error) and error.message == str(exc)


def test_a_gr_error_passes_through():
    error = gr.Error("already clear")
    assert user_error(error) is error


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (QueueFullError("16 requests are already waiting"), "busy: too many requests"),
        (QueueTimeoutError("the model stayed busy for 5 s"), "busy: your request waited"),
    ],
)
def test_a_busy_model_says_try_again(exc, says):
    message = user_error(exc).message
    assert says in message and message.endswith("Try again in a moment.")


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001 - the test wants it with its traceback
        return caught


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (KeyError("/home/server/secret.txt"), "Something went wrong on the server"),
        (ValueError("bad shape at /srv/app/secret.py"), "Something went wrong on the server"),
        (ModelLoadError("could not load '/srv/models/secret': no config"), "could not be loaded"),
        (StreamTimeout("the work took too long at /srv/secret"), "stopped responding"),
    ],
)
def test_raw_text_is_logged_in_full_and_shown_only_as_a_reference(caplog, exc, says):
    exc = _raised(exc)
    with caplog.at_level(logging.INFO, logger="sara_lab"):
        error = user_error(exc)
    assert says in error.message
    assert "secret" not in error.message and type(exc).__name__ not in error.message
    reference = error.message.split("reference ")[1][:8]
    record = caplog.records[-1]
    assert reference in record.getMessage() and record.exc_info[1] is exc  # the full trace

"""The one conversion of failures into visitor messages (sara_lab.errors.user_error)."""

from __future__ import annotations

import logging

import gradio as gr
import pytest

from sara_core.models import ModelBusyError, ModelLoadError
from sara_core.validation import InputError
from sara_lab.errors import user_error


@pytest.mark.parametrize(
    "exc",
    [
        InputError("layer=40 is out of range"),
        ValueError("k=9 is too large"),
        ModelLoadError("could not load model 'x': offline"),
        ModelBusyError("the model is busy with other requests"),
    ],
)
def test_a_problem_the_visitor_can_fix_is_shown_as_it_is(exc):
    error = user_error(exc)
    assert isinstance(error, gr.Error) and error.message == str(exc)


def test_a_gr_error_passes_through():
    error = gr.Error("already clear")
    assert user_error(error) is error


def test_a_bug_is_logged_in_full_and_shown_without_its_text(caplog):
    try:
        raise KeyError("/home/server/secret.txt")
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="sara_lab"):
            error = user_error(exc)
    assert "secret" not in error.message and "KeyError" not in error.message
    assert "Something went wrong on the server (reference " in error.message
    reference = error.message.split("reference ")[1][:8]
    record = caplog.records[-1]
    assert reference in record.getMessage() and record.exc_info[0] is KeyError  # the full trace

"""The Steer tab (sara_lab.tabs.steer): one widget per request field, keyed by its name."""

from __future__ import annotations

import gradio as gr
from conftest import make_tiny_lm
from lab_fixtures import tiny_lab

from sara_core.engine.request import CompareRequest
from sara_lab.tabs import steer


def test_the_request_widgets_are_keyed_by_the_field_names_in_order():
    tiny = make_tiny_lm("llama")
    with gr.Blocks():
        tab = steer.build(tiny_lab(tiny), tiny)
    assert list(tab.fields) == CompareRequest.names()
    layer = tab.fields["layer"]
    assert (layer.minimum, layer.maximum) == (0, tiny.n_layers - 1)  # no -1 sentinel any more
    assert layer.value is None  # the API documents null: the model's default block
    assert layer.visible is False  # until the page load gives it a value (and its range)
    defaults = CompareRequest.defaults()
    for name in ("max_new_tokens", "sara_coeff", "actadd_coeff", "scope", "do_sample", "seed"):
        assert tab.fields[name].value == defaults[name], name
    assert tab.fields["k"].value == 0  # 0 = auto, like None

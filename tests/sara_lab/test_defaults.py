"""What the Steer tab opens with (sara_lab.defaults): measured defaults, else the old ones."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
from conftest import make_tiny_lm
from lab_fixtures import GRADIO_WARNINGS, tiny_lab

from sara_core.presets.defaults import ModelDefaults
from sara_core.presets.paper import PAPER_PREFIX
from sara_lab import defaults
from sara_lab.handlers.models import page_load
from sara_lab.handlers.presets import bundled_presets
from sara_lab.page import build_app

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]
ENTRY = ModelDefaults("tiny-llama", 1, 2.5, 8.0, "trolley_switch", "optimistic")


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def measured(monkeypatch):
    monkeypatch.setattr(defaults, "_bundled", lambda: (ENTRY, replace(ENTRY, model="tiny")))


def test_without_an_entry_the_old_defaults_stay(tiny, monkeypatch):
    monkeypatch.setattr(defaults, "_bundled", lambda: ())
    presets = bundled_presets()
    assert defaults.initial_layer(tiny) == tiny.default_layer
    assert defaults.initial_strengths("tiny-llama") == (1.0, 4.0)
    assert "measured" not in defaults.layer_label(tiny)
    text, stance = defaults.initial_example(presets, None)
    assert (text, stance) == (presets.default_dilemma(), presets.default_stance())


def test_an_entry_sets_the_block_strengths_and_example(tiny, measured):
    assert defaults.initial_layer(tiny) == 1 != tiny.default_layer
    label = defaults.layer_label(tiny)  # the slider says why it does not start in the middle
    assert "starts at 1, measured" in label and f"the middle, {tiny.default_layer}" in label
    assert defaults.initial_strengths("tiny-llama") == (2.5, 8.0)
    presets = bundled_presets()
    text, stance = defaults.initial_example(presets, defaults.model_defaults("tiny-llama"))
    trolley = next(d for d in presets.dilemmas if d.id == "trolley_switch")
    assert text == PAPER_PREFIX + trolley.text and stance.name == "optimistic"


def test_an_entry_without_examples_or_with_unknown_ones_falls_back(tiny, monkeypatch):
    presets = bundled_presets()
    old = SimpleNamespace(model="tiny-llama", layer=1)  # before example ids existed
    assert defaults.initial_example(presets, old)[1] == presets.default_stance()  # type: ignore[arg-type]
    odd = ModelDefaults("x", 1, 1.0, 4.0, "no_such_dilemma", "no_such_stance")
    assert defaults.initial_example(presets, odd) == (
        presets.default_dilemma(),
        presets.default_stance(),
    )
    deep = ModelDefaults("tiny-llama", 99, 1.0, 4.0, "trolley_switch", "kantian")
    monkeypatch.setattr(defaults, "_bundled", lambda: (deep,))
    assert defaults.initial_layer(tiny) == tiny.default_layer  # a block the model lacks
    assert defaults.model_defaults("nothing") is None


def test_the_page_opens_on_the_measured_setting(tiny, measured):
    lab = tiny_lab(tiny)
    demo = build_app(lab, start_loading=False)
    by_id = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    assert by_id["stance"].value == "optimistic"
    assert (
        by_id["dilemma"].value.startswith(PAPER_PREFIX) and "runaway tram" in by_id["dilemma"].value
    )
    assert by_id["dilemma-bank"].value == "trolley_switch"  # the bank shows which dilemma it is
    assert by_label["SARA coefficient λ (paper: 1)"].value == 2.5
    assert by_label["ActAdd coefficient c"].value == 8.0
    layer = page_load(lab, None)[1]
    assert layer["value"] == 1  # the page load puts the slider on the measured block

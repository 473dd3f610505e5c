"""Can this model show it? (sara_lab.handlers.validity) on a tiny random model."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import GRADIO_WARNINGS, last, tiny_lab

from sara_core.measures import model_validity as MV
from sara_core.measures.choice import Shift
from sara_lab import render
from sara_lab.handlers import validity as handler

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path))  # an empty cache for each test
    return tiny_lab(tiny)


def validity(moral: bool, sentiment: bool, model: str = "m") -> MV.ModelValidity:
    def one(bank: str, ok: bool) -> MV.StanceValidity:
        low = 0.01 if ok else -0.01
        return MV.StanceValidity(bank, f"{bank}-stance", "pole", Shift(0.02, low, 0.05, 16))

    return MV.ModelValidity(model, True, [one("moral", moral), one("sentiment", sentiment)])


def test_the_steer_line_names_the_model_size_and_what_to_try():
    line = render.validity_line(validity(False, True), "135M")
    assert line.endswith(
        "This 135M model does not take a moral stance even when asked; try a sentiment "
        "stance, or a 2B+ model on a GPU."
    )
    assert "Model** tab can check" in render.validity_line(None, "135M")
    table = render.validity_markdown(validity(False, True))
    assert "| moral | moral-stance | pole | +0.020 [-0.010, +0.050] (n=16) | no |" in table
    assert "| sentiment | sentiment-stance | pole | +0.020 [+0.010, +0.050] (n=16) | yes |" in table


def test_the_shipped_result_for_the_embedded_model_is_found_without_measuring():
    found = MV.stored_validity("embedded:smollm2-135m-instruct")
    assert found is not None and found.source == "shipped"
    assert found.valid("sentiment") and not found.valid("moral")


def test_a_model_without_a_result_is_measured_on_request_with_progress_then_cached(lab, tiny):
    steer, model_md = handler.show(lab, None)
    assert steer == render.VALIDITY_UNKNOWN and "Not measured yet" in model_md
    steps = []
    outputs = list(handler.check(lab, None, progress=lambda *a, **k: steps.append(a)))
    assert [o[1] for o in outputs[:-1]][-1] == "Checking `tiny-llama`: 2 of 2 banks done…"
    assert steps[-1] == ((2, 2),)
    steer, model_md = outputs[-1]
    assert steer.startswith("**Can this model show it?** ") and "| moral |" in model_md
    saved = json.loads(MV.cache_path("tiny-llama", True).read_text())
    assert set(saved["banks"]) == {"moral", "sentiment"}
    assert handler.show(lab, None)[1].count("| sentiment |") == 2  # now known: no measuring
    assert len(lab.stops) == 0


def test_stop_ends_the_check_before_the_next_bank_and_caches_nothing(lab):
    outputs = []
    for item in handler.check(lab, None, session="v"):
        outputs.append(item)
        handler.stop(lab, "v")  # pressed at once: the moral bank may finish, not the other
    assert outputs[-1][1].startswith("**Stopped.**")
    assert not MV.cache_path("tiny-llama", True).exists()
    assert len(lab.stops) == 0


def test_a_failure_is_one_clear_line(lab, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("/secret/path exploded")

    monkeypatch.setattr(handler, "measure_validity", broken)
    with pytest.raises(gr.Error) as found:
        last(handler.check(lab, None))
    assert "Something went wrong on the server (reference" in found.value.message
    assert "/secret/path" not in found.value.message

"""The assembled page (sara_lab.page): its API, its loading state, its public-mode limits."""

from __future__ import annotations

import threading

import pytest
from conftest import make_tiny_lm
from lab_fixtures import GRADIO_WARNINGS, tiny_lab

from sara_core.engine.request import CompareRequest
from sara_core.models.names import EMBEDDED_ID
from sara_lab.handlers.models import page_load
from sara_lab.handlers.sweep import SweepRequest
from sara_lab.handlers.tune import TuneRequest
from sara_lab.page import build_app

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


def test_the_api_exposes_compare_with_the_request_fields_in_order(tiny):
    demo = build_app(tiny_lab(tiny), start_loading=False)
    info = demo.get_api_info()["named_endpoints"]
    assert set(info) == {"/compare", "/sweep", "/tune"}  # every other event is private
    params = info["/compare"]["parameters"]
    names = [p["parameter_name"] for p in params]
    assert names == CompareRequest.names()
    assert names[:13] == [  # positional clients of the old API keep working
        "dilemma",
        "attract",
        "repel",
        "layer",
        "max_new_tokens",
        "k",
        "sara_coeff",
        "actadd_coeff",
        "scope",
        "do_sample",
        "temperature",
        "top_p",
        "seed",
    ]
    assert names[13:] == ["sign", "actadd_mode", "prompted", "instruction"]  # new fields last
    assert all(p["parameter_has_default"] for p in params[3:])
    defaults = {p["parameter_name"]: p["parameter_default"] for p in params}
    assert defaults["layer"] is None  # null: the model's default block
    assert (defaults["k"], defaults["sign"], defaults["actadd_mode"]) == (0, "raw", "prefix")
    returns = [r["label"] for r in info["/compare"]["returns"]]
    assert returns[:3] == ["Original", "SARA", "ActAdd"]
    assert returns[4].startswith("Prompted")  # after the status: old clients keep their places
    sweep = [p["parameter_name"] for p in info["/sweep"]["parameters"]]
    assert sweep == SweepRequest.names()
    assert info["/sweep"]["parameters"][-1]["parameter_default"] is None
    tune = {p["parameter_name"]: p for p in info["/tune"]["parameters"]}
    assert list(tune) == TuneRequest.names()
    assert tune["quick"]["parameter_default"] is True
    assert tune["methods"]["parameter_default"] == ["sara", "actadd"]
    assert tune["max_ppl_ratio"]["parameter_default"] == 1.5
    returns = [r["component"] for r in info["/tune"]["returns"]]
    assert returns == ["Plot", "Dataframe", "Markdown", "Json"]  # the figure and the JSON


def test_the_page_says_the_model_is_loading_until_it_is_ready(tiny):
    release = threading.Event()

    def slow(name):
        release.wait(30)
        return tiny

    lab = tiny_lab(tiny, loader=slow)
    demo = build_app(lab)
    comps = {getattr(b, "elem_id", None): b for b in demo.blocks.values()}
    assert comps["model-status"].value.startswith("**Loading model")
    assert comps["compare-btn"].interactive is False
    assert comps["compare-btn"].value == "Loading the model…"
    release.set()
    md, layer, button, _ = page_load(lab, None)  # what the page shows once it is loaded
    assert "4 blocks" in md and button["interactive"] is True


def test_public_mode_page_hides_free_model_names_and_caps_the_sliders(tiny):
    demo = build_app(tiny_lab(tiny, public=True), start_loading=False)
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    free = "…or any hub id, local folder, .gguf file, owner/repo:file.gguf or random:NAME"
    assert by_label[free].visible is False
    assert by_label["Max new tokens (up to 256)"].maximum == 256
    assert by_label["New tokens per answer"].maximum == 32
    assert [c[1] for c in by_label["Model"].choices[:2]] == ["tiny", EMBEDDED_ID]


def test_the_advanced_options_have_widgets(tiny):
    demo = build_app(tiny_lab(tiny), start_loading=False)
    by_label = {getattr(b, "label", None): b for b in demo.blocks.values()}
    assert by_label["SARA singular-vector signs"].value == "raw"
    assert [c[1] for c in by_label["ActAdd mode"].choices] == ["prefix", "every-position"]
    accordions = [b.label for b in demo.blocks.values() if type(b).__name__ == "Accordion"]
    assert "Advanced" in accordions

"""The page's model (sara_lab.handlers.models): page load, switching, public-mode allowlist."""

from __future__ import annotations

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import tiny_lab

from sara_core.models.errors import ModelLoadError
from sara_lab.handlers.models import page_load, switch_model


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


def test_page_load_sizes_the_layer_slider(tiny):
    md, layer, button, info = page_load(tiny_lab(tiny), None)
    assert "4 blocks" in md and "hidden size 64" in md
    assert layer["maximum"] == 3 and layer["value"] == 2 and layer["minimum"] == 0
    assert layer["visible"] is True
    assert button["interactive"] is True and info["layers"] == 4


def test_page_load_says_why_a_model_could_not_load_without_raw_text(tiny):
    def loader(name):
        raise ModelLoadError("could not load model '/srv/secret': offline")

    md, layer, button, info = page_load(tiny_lab(tiny, loader=loader), None)
    assert md.startswith("**Model tiny could not be loaded:** could not load 'tiny': it could")
    assert "/srv/secret" not in md and "(reference " in md
    assert button["interactive"] is False and layer == gr.skip()


def test_switching_to_an_unreachable_model_keeps_the_current_one(tiny):
    def loader(name):
        if name == "tiny":
            return tiny
        raise ModelLoadError(f"could not load model {name!r}: offline")

    lab = tiny_lab(tiny, loader=loader)
    with pytest.raises(gr.Error, match="could not load 'nobody/nothing'.*Still using tiny") as e:
        switch_model(lab, None, "nobody/nothing", "tiny")
    assert "offline" not in str(e.value)  # the loader's own text stays in the server log
    assert lab.models.get("tiny") is tiny
    state, md, layer, info, uploaded, note = switch_model(lab, None, "tiny", "tiny")
    assert state == "tiny" and "4 blocks" in md and layer["maximum"] == 3


def test_switching_to_a_gated_model_says_what_to_do_in_one_line(tiny, monkeypatch, tmp_path):
    import httpx2
    import huggingface_hub
    from huggingface_hub import constants, errors as hf

    from sara_core.models.loading import load_model

    def gated(url, **kw):  # what the hub answers for a gated model without a token
        response = httpx2.Response(401, request=httpx2.Request("HEAD", url))
        raise hf.GatedRepoError("401 Client Error: /srv/secret", response=response)

    monkeypatch.setattr(huggingface_hub, "get_hf_file_metadata", gated)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    lab = tiny_lab(tiny, True, lambda name: tiny if name == "tiny" else load_model(name))
    with pytest.raises(gr.Error) as e:
        switch_model(lab, "google/gemma-2-2b-it", "", "tiny")
    page = "https://huggingface.co/google/gemma-2-2b-it"
    assert e.value.message == (
        f"google/gemma-2-2b-it is a gated model: accept its licence on {page}, then set HF_TOKEN "
        "to an access token of that account (https://huggingface.co/settings/tokens). "
        "Still using tiny."
    )


def test_public_mode_serves_only_the_allowlist(tiny):
    lab = tiny_lab(tiny, public=True)
    with pytest.raises(gr.Error, match="only serves these models"):
        switch_model(lab, "someone/huge-model", "", "tiny")
    with pytest.raises(gr.Error, match="does not load models by name"):
        switch_model(lab, "tiny", "/etc", "tiny")  # free text, as a hand-made request sends it


def test_the_model_list_offers_installed_packaged_models_outside_public_mode(monkeypatch):
    from sara_core.models import packaged
    from sara_lab.handlers.models import model_choices
    from sara_lab.settings import Settings

    rows = [
        packaged.ModelStatus("pypi:a", "A", True, True, 1, "MIT", "u", ()),
        packaged.ModelStatus("pypi:b", "B", False, False, 1, "MIT", "u", ("b==1",)),
    ]
    monkeypatch.setattr(packaged, "status", lambda: rows)
    private = Settings(allowlist=("m1",))
    assert model_choices(private) == ["m1", "pypi:a"]
    assert model_choices(Settings(public=True, allowlist=("m1",))) == ["m1"]
    assert model_choices(Settings(public=True, allowlist=("m1", "pypi:b"))) == ["m1", "pypi:b"]


def test_a_picked_model_brings_its_measured_strengths(monkeypatch):
    """The Model tab's load sets SARA's and ActAdd's sliders to the picked model's measured
    defaults (a strength fit for one model can break another), else to λ 1 and c 4."""
    from sara_core.presets.defaults import ModelDefaults
    from sara_lab import defaults
    from sara_lab.handlers.models import strength_updates

    entry = ModelDefaults("pypi:tiny", 3, 0.5, 1.5, "parent_criminal", "utilitarian")
    monkeypatch.setattr(defaults, "_bundled", lambda: (entry,))
    sara, actadd = strength_updates("pypi:tiny")
    assert (sara["value"], actadd["value"]) == (0.5, 1.5)
    sara, actadd = strength_updates("some/other-model")
    assert (sara["value"], actadd["value"]) == (defaults.SARA_COEFF, defaults.ACTADD_COEFF)

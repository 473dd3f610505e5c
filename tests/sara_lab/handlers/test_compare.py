"""The compare handler (sara_lab.handlers.compare) on a tiny random model."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, BAD_INPUTS, GRADIO_WARNINGS, PROMPT, run, tiny_lab

import sara_lab.handlers.compare as compare_module
from sara_core.steering.saved import load_steering
from sara_lab.handlers.compare import RunRecord, analysis

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny):
    return tiny_lab(tiny)


@pytest.mark.parametrize(("bad", "message"), BAD_INPUTS)
def test_handler_refuses_bad_input_with_a_clear_error(lab, tiny, bad, message):
    with pytest.raises(gr.Error, match=message):
        run(lab, **bad)
    assert all(len(b._forward_pre_hooks) == 0 for b in tiny.model.model.layers)


def test_handler_streams_then_returns_four_answers_and_a_record(lab, monkeypatch):
    monkeypatch.setattr(compare_module, "STREAM_INTERVAL_S", 0.0)  # every step reaches the UI
    outputs = run(lab, max_new_tokens=12)
    assert outputs[0][3].startswith("Preparing")
    *answers, status, prompted, record = outputs[-1]
    assert all(isinstance(a, str) for a in answers) and isinstance(prompted, str)
    assert prompted == record.result.prompted
    assert status.startswith("**Done in")
    assert isinstance(record, RunRecord)
    assert record.answers == tuple(answers)
    assert record.result.settings["layer"] == 2 and record.result.sara_analysis is not None
    assert record.result.sara_analysis.scores.device.type == "cpu"
    assert record.request.dilemma == PROMPT and record.uploaded is False
    # streamed partial answers only grow, over several partials
    originals = [o[0] for o in outputs[1:-1] if isinstance(o[0], str) and o[0]]
    assert len(originals) >= 3
    assert all(b.startswith(a) for a, b in zip(originals, originals[1:], strict=False))


def test_layer_none_is_the_default_block_negative_counts_from_the_end_and_k_0_is_auto(lab, tiny):
    """The unified sentinels: null layer = the model's default block, -1 = the last block."""
    *_, record = run(lab, layer=None, k=0)[-1]
    assert record.result.settings["layer"] == tiny.default_layer == tiny.n_layers // 2
    assert record.result.settings["k"] is None and record.result.settings["k_used"] >= 1
    *_, record = run(lab, layer=-1, k=None)[-1]
    assert record.result.settings["layer"] == tiny.n_layers - 1
    assert record.result.settings["k"] is None


def test_numbers_sent_as_text_or_floats_are_accepted(lab):
    *_, record = run(lab, layer="2", max_new_tokens=4.0, k="3", sara_coeff="0.5")[-1]
    settings = record.result.settings
    assert settings["layer"] == 2 and settings["k_used"] == 3 and settings["sara_coeff"] == 0.5


def test_sign_and_actadd_mode_reach_the_library_and_the_status_line(lab):
    _o, _s, _a, status, _p, record = run(lab, sign="canonical", actadd_mode="every-position")[-1]
    assert record.result.sara_steering.sign == "canonical"
    assert record.result.actadd_steering.mode == "every-position"
    assert "canonical signs" in status and "ActAdd every-position" in status
    assert "signs" not in run(lab)[-1][3]  # the defaults are not spelled out


def test_greedy_answers_repeat_exactly(lab):
    first = run(lab)[-1][:3]
    assert run(lab)[-1][:3] == first


def test_public_mode_caps_tokens(tiny):
    lab = tiny_lab(tiny, public=True)
    assert lab.settings.max_new_tokens == 256
    with pytest.raises(gr.Error, match="max_new_tokens=300 is out of range.*between 1 and 256"):
        run(lab, max_new_tokens=300)


def test_analysis_renders_figures_table_and_a_loadable_steering_file(lab, tiny):
    record = run(lab)[-1][-1]
    heat, table, sim, summary, download = analysis(lab, record)
    assert heat.axes and sim.axes
    assert table and table[0][0] in ("▲ boosted", "▼ suppressed") and len(table[0]) == 6
    assert "boosted" in summary and "block **2**" in summary
    path = Path(download["value"])
    assert path.is_file() and path.suffix == ".safetensors"
    saved = load_steering(path, hidden_size=tiny.hidden_size, n_layers=tiny.n_layers)
    assert saved.layer == 2 and saved.sara is not None and saved.actadd is not None
    assert saved.meta["attract"] == ATTRACT and saved.meta["prompt"] == PROMPT
    assert analysis(lab, None) == (gr.skip(),) * 5


def test_an_unexpected_failure_shows_no_raw_text(lab, monkeypatch):
    from sara_lab.handlers import compare as compare_module

    def broken(*args, **kwargs):
        raise RuntimeError("secret /srv/internal/path")
        yield  # pragma: no cover

    monkeypatch.setattr(compare_module, "compare_stream", broken)
    with pytest.raises(gr.Error) as info:
        run(lab)
    assert "/srv/internal" not in str(info.value) and "Something went wrong" in str(info.value)

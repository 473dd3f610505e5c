"""The setting search handler (sara_lab.handlers.tune) on a tiny random model."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, BAD_INPUTS, GRADIO_WARNINGS, PROMPT, REPEL, last, run, tiny_lab

from sara_lab.handlers import tune as tune_module
from sara_lab.handlers.tune import TuneRequest, pick_update, stop, tune_event, use_setting
from sara_lab.settings import Settings

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]
TEXTS = {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL}
FULL_QUICK = 18 + 2  # the tiny model's quick grid: 3 blocks x 3 strengths x 2 methods, 2 refined


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny):
    return tiny_lab(tiny)


def test_a_search_returns_the_figure_the_chosen_settings_and_the_json(lab):
    steps = []
    outputs = list(tune_event(lab, TEXTS, progress=lambda *a, **k: steps.append(a)))
    fig, table, summary, data, chosen = outputs[-1]
    assert len(data["grid"]) == FULL_QUICK and data["settings"]["quick"] is True
    assert data["settings"]["methods"] == ["sara", "actadd"] and data["prompted"] is not None
    assert fig.axes and fig.axes[0].get_xscale() == "log"  # effect against cost
    assert list(table.columns)[:3] == ["setting", "block", "strength"]
    assert list(table["setting"])[-2:] == ["Prompted (baseline)", "Unsteered (baseline)"]
    assert summary.startswith(f"Searched **{FULL_QUICK}** points (quick grid)")
    for method, point in data["chosen"].items():  # what "Use this setting" loads
        if point is None:
            assert method not in chosen
        else:
            assert chosen[method] == {"layer": point["layer"], "coeff": point["coeff"]}
    # the progress reached the page as it went: one yield per chunk (where a disconnect is seen)
    assert steps[0] == (0,) and steps[-1][0][0] == steps[-1][0][1]
    texts = [o[2] for o in outputs[:-1]]
    assert any(t.startswith("Searching: step 2 of") for t in texts)
    assert all(o[0] == gr.skip() for o in outputs[:-1])
    assert len(lab.stops) == 0


def test_the_options_reach_the_search(lab):
    values = {**TEXTS, "methods": ["actadd"], "max_ppl_ratio": 2.5, "k": 2, "scope": "every-step"}
    data = last(tune_event(lab, values))[3]
    assert {p["method"] for p in data["grid"]} == {"actadd"} and list(data["chosen"]) == ["actadd"]
    assert data["settings"]["max_ppl_ratio"] == 2.5
    assert (data["settings"]["k"], data["settings"]["scope"]) == (2, "every-step")


def test_stop_ends_the_search_early_and_shows_the_points_done(lab):
    outputs = []
    for item in tune_event(lab, TEXTS, session="visitor-1"):
        outputs.append(item)
        if item[2].startswith("Searching: step 2 of"):  # the first chunk of points is done
            stop(lab, "visitor-1")
    fig, table, summary, data, chosen = outputs[-1]
    assert summary.startswith("**Stopped** after 8 points.")
    assert 0 < len(data["grid"]) < FULL_QUICK and data["stopped"] is True
    assert len(lab.stops) == 0
    assert len(last(tune_event(lab, TEXTS))[3]["grid"]) == FULL_QUICK  # the next one runs


def test_the_budget_cuts_the_search_short(lab):
    short = replace(lab, settings=replace(lab.settings, budget_s=0.001))
    summary = last(tune_event(short, TEXTS))[2]
    assert summary.startswith("**Cut short at the time limit (0.001 s)** after 0 points.")


def test_a_client_that_goes_away_stops_the_search(lab, monkeypatch):
    """Gradio closes a generator handler whose client left at its next yield."""
    stopped = threading.Event()

    def endless(lm, *args, progress, stop, **kwargs):
        for step in range(1000):
            progress(step, 1000, f"chunk {step}")
            if stop.wait(0.05):
                stopped.set()
                break
        raise AssertionError("not reached when stopped")  # pragma: no cover

    monkeypatch.setattr(tune_module, "tune", endless)
    handler = tune_event(lab, TEXTS, session="leaving")
    next(handler)
    next(handler)
    handler.close()  # what gradio does after the client disconnected
    assert stopped.wait(5)  # not after the 50 s the search would take
    assert len(lab.stops) == 0


@pytest.mark.parametrize(
    ("bad", "message"),
    [(b, m) for b, m in BAD_INPUTS if set(b) <= {"dilemma", "attract", "repel", "k"}]
    + [
        ({"max_ppl_ratio": 0.5}, "max_ppl_ratio=0.5 is out of range"),
        ({"max_ppl_ratio": float("nan")}, "max_ppl_ratio must be a finite number"),
        ({"methods": []}, "choose at least one method"),
        ({"methods": ["sara", "steer-harder"]}, "method must be one of sara, actadd"),
        ({"quick": "maybe"}, "quick must be true or false"),
        ({"scope": "everywhere"}, "scope must be one of prompt, every-step"),
    ],
)
def test_bad_input_is_one_clear_line_with_compares_words(lab, bad, message):
    with pytest.raises(gr.Error, match=message) as found:
        last(tune_event(lab, {**TEXTS, **bad}))
    assert "\n" not in found.value.message and "Traceback" not in found.value.message
    if set(bad) <= {"dilemma", "attract", "repel", "k"}:  # compare says exactly the same
        with pytest.raises(gr.Error) as compared:
            run(lab, **bad)
        assert found.value.message == compared.value.message


def test_public_mode_caps_the_grid(lab, tiny):
    settings = Settings.from_env({"HF_HUB_OFFLINE": "1"}, public=True)
    assert settings.tune_max_points == 32 and Settings().tune_max_points == 400
    env = {"HF_HUB_OFFLINE": "1", "SARA_TUNE_MAX_POINTS": "12"}
    assert Settings.from_env(env, public=True).tune_max_points == 12  # the smaller one wins
    public = tiny_lab(tiny, public=True)
    with pytest.raises(gr.Error, match="the limit here is 32: use the quick search"):
        last(tune_event(public, {**TEXTS, "quick": False}))  # 4 blocks x 5 x 2 = 40 points
    assert TuneRequest.parse({**TEXTS, "quick": False}, public.settings, 3).quick is False
    assert len(last(tune_event(public, TEXTS))[3]["grid"]) == FULL_QUICK  # quick is allowed
    tight = replace(lab, settings=replace(lab.settings, tune_max_points=10))
    with pytest.raises(gr.Error) as refused:
        last(tune_event(tight, TEXTS))
    assert refused.value.message == "this search has 18 points; the limit here is 10"
    data = last(tune_event(tight, {**TEXTS, "methods": ["sara"]}))[3]
    assert len(data["grid"]) == 9 + 1  # the refinement stays inside the cap


def test_use_this_setting_fills_the_steer_controls_and_switches_tab():
    chosen = {"sara": {"layer": 2, "coeff": 8.0}, "actadd": {"layer": 1, "coeff": 4.0}}
    layer, sara, actadd, tabs, note = use_setting(chosen, "sara")
    assert layer["value"] == 2
    assert (sara["value"], sara["minimum"], sara["maximum"]) == (8.0, -8.0, 8.0)  # widened
    assert (actadd["value"], actadd["maximum"]) == (4.0, 20.0)
    assert tabs.selected == "steer"
    assert note.startswith("Loaded SARA: block 2, λ 8") and "chosen at block 1" in note
    layer, sara, actadd, tabs, note = use_setting(chosen, "actadd")
    assert layer["value"] == 1 and note.startswith("Loaded ActAdd: block 1, c 4")
    layer, sara, actadd, _, _ = use_setting({"actadd": {"layer": 3, "coeff": -2.0}}, None)
    assert layer["value"] == 3 and sara == gr.skip() and actadd["value"] == -2.0
    *updates, note = use_setting(None, "sara")  # no search yet: nothing changes
    assert all(u == gr.skip() for u in updates) and note.startswith("Nothing to load yet")
    radio = pick_update(chosen)
    assert radio["choices"] == [("SARA: block 2, λ 8", "sara"), ("ActAdd: block 1, c 4", "actadd")]
    assert radio["value"] == "sara" and pick_update(None)["choices"] == []


def test_a_search_waits_for_a_busy_model_only_so_long(lab, tiny):
    busy = replace(lab, settings=replace(lab.settings, lock_timeout_s=0.3))
    held, done = threading.Event(), threading.Event()

    def hold():
        with tiny.lock:
            held.set()
            done.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(5)
        t0 = time.monotonic()
        with pytest.raises(gr.Error, match="busy with other requests"):
            last(tune_event(busy, TEXTS))
        assert time.monotonic() - t0 < 5
    finally:
        done.set()
        thread.join(5)

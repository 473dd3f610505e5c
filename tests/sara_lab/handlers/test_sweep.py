"""The layer sweep handler (sara_lab.handlers.sweep) on a tiny random model."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, GRADIO_WARNINGS, PROMPT, REPEL, last, tiny_lab

from sara_lab.handlers.sweep import SweepRequest, stop, sweep, sweep_stream

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]
TEXTS = {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL}


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny):
    return tiny_lab(tiny)


def test_sweep_handler_returns_plot_table_and_best_layer(lab):
    steps = []
    outputs = list(
        sweep(lab, {**TEXTS, "k": 0, "stride": 1}, progress=lambda *a, **k: steps.append(a))
    )
    fig, table, summary, best = outputs[-1]
    assert fig.axes and len(table) == 4 and list(table.columns)[0] == "block"
    assert f"block {best}" in summary
    assert steps[0] == (0,) and steps[-1] == ((5, 5),)  # reported as the sweep went
    # the progress also reaches the summary, one yield per step (where a disconnect is seen)
    assert [o[2] for o in outputs[:-1]][-1].startswith("Sweeping: step 5 of 5")
    assert len(outputs) == 1 + 6 and all(o[0] == gr.skip() for o in outputs[:-1])
    fig, table, summary, best = last(
        sweep(lab, {**TEXTS, "answers": True, "max_new_tokens": 3, "stride": 2})
    )
    assert len(table) == 2 and list(table.columns)[-1] == "ActAdd answer"
    for bad, message in [
        ({"dilemma": ""}, "empty"),
        ({"stride": 0}, "stride=0"),
        ({"max_new_tokens": 1000}, "for a sweep"),
        ({"k": 99}, "k=99"),
        ({"layer": 4}, "layer=4"),
    ]:
        with pytest.raises(gr.Error, match=message):
            last(sweep(lab, {**TEXTS, **bad}))


def test_the_highlighted_block_follows_the_layer_rules(lab, tiny):
    n = tiny.n_layers
    assert SweepRequest.parse(TEXTS, lab.settings, n).layer is None  # the model's default
    assert SweepRequest.parse({**TEXTS, "layer": -1}, lab.settings, n).layer == n - 1
    assert SweepRequest.parse({**TEXTS, "k": 0}, lab.settings, n).k is None
    fig = last(sweep(lab, {**TEXTS, "layer": None}))[0]
    lines = [ln for ax in fig.axes for ln in ax.lines if ln.get_linestyle() == ":"]
    assert lines and lines[0].get_xdata()[0] == tiny.default_layer


def test_public_mode_limits_sweeps_with_answers(lab):
    lab = replace(lab, settings=replace(lab.settings, public=True, sweep_answer_layers=2))
    with pytest.raises(gr.Error, match="at most 2 layers"):
        last(sweep(lab, {**TEXTS, "answers": True, "max_new_tokens": 4, "stride": 1}))


def test_closing_the_sweep_stream_stops_the_sweep(lab, monkeypatch):
    from sara_lab.handlers import sweep as sweep_module

    stopped = threading.Event()

    def endless(lm, *args, progress, stop, **kwargs):
        progress(0, 1, "started")
        if stop.wait(30):
            stopped.set()

    monkeypatch.setattr(sweep_module, "layer_sweep", endless)
    stream = sweep_stream(lab.models.id, "tiny", SweepRequest.parse(TEXTS, lab.settings, 4))
    assert next(stream) == (0, 1, "started")
    stream.close()
    assert stopped.wait(30)  # the worker saw the stop event: the sweep ended at its next check


def test_stop_ends_the_sweep_early_and_shows_what_was_done(lab):
    values = {**TEXTS, "answers": True, "max_new_tokens": 32, "stride": 1}
    full = last(sweep(lab, values))[1]
    assert len(full) == 4  # every block, unstopped

    def written(table) -> int:
        return sum(len(a) for a in [*table["SARA answer"], *table["ActAdd answer"]])

    outputs = []
    for item in sweep(lab, values, session="visitor-1"):
        outputs.append(item)
        if item[2].startswith("Sweeping: step 2 "):
            stop(lab, "visitor-1")  # pressed once the original answer is written
    fig, table, summary, best = outputs[-1]
    assert summary.startswith("**Stopped** after ")
    # the stop lands between blocks (fewer rows) or while their answers are written (shorter)
    assert len(table) < 4 or written(table) < written(full) / 2
    assert len(lab.stops) == 0
    assert last(sweep(lab, values))[1].equals(full)  # the next sweep works


def test_a_client_that_goes_away_stops_the_sweep_at_its_next_block(lab, monkeypatch):
    """Gradio closes a generator handler whose client left at its next yield."""
    from sara_lab.handlers import sweep as sweep_module

    stopped = threading.Event()

    def endless(lm, *args, progress, stop, **kwargs):
        for block in range(1000):
            progress(block, 1000, f"block {block}")
            if stop.wait(0.05):
                stopped.set()
                return None
        return None

    monkeypatch.setattr(sweep_module, "layer_sweep", endless)
    handler = sweep(lab, TEXTS, session="leaving")
    next(handler)
    handler.close()  # what gradio does after the client disconnected
    assert stopped.wait(5)  # not after the 50 s the sweep would take
    assert len(lab.stops) == 0


def test_a_sweep_waits_for_a_busy_model_only_so_long(lab, tiny):
    busy = replace(lab, settings=replace(lab.settings, lock_timeout_s=0.3))
    held = threading.Event()
    done = threading.Event()

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
            last(sweep(busy, TEXTS))
        assert time.monotonic() - t0 < 5
    finally:
        done.set()
        thread.join(5)
    assert last(sweep(busy, TEXTS))[0].axes  # free again: the sweep runs

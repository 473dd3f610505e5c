"""The compare handler (sara_lab.handlers.compare) under pressure, on a tiny random model: Stop
while queued, preparing and streaming; a full line; every time limit; a hook that raises and a
forward pass that hangs, each followed by a request that works."""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import ATTRACT, GRADIO_WARNINGS, PROMPT, REPEL, run, tiny_lab

import sara_lab.handlers.compare as compare_module
from sara_core.engine.row import Row
from sara_core.engine.scheduler import Job
from sara_core.models.blocks import get_blocks
from sara_core.steering.sara import SaraSteering
from sara_lab.handlers.compare import compare, stop

pytestmark = [pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS]
LONG = 200  # tokens the tiny model writes for the paper's prompt without meeting its EOS


@pytest.fixture(scope="module")
def tiny():
    return make_tiny_lm("llama")


@pytest.fixture
def lab(tiny, monkeypatch):
    monkeypatch.setattr(compare_module, "STREAM_INTERVAL_S", 0.0)  # every step reaches the UI
    lab = tiny_lab(tiny)
    yield lab
    lab.close()


def with_settings(lab, **changes):
    """The same lab (model, scheduler) under other settings."""
    return replace(lab, settings=replace(lab.settings, **changes))


def run_fields(**kw):
    """The fields ``lab_fixtures.run`` sends, for calling the handler step by step."""
    return {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL, "layer": 2, **kw}


def stopped_tokens(status: str) -> int:
    match = re.match(r"\*\*Stopped\*\* after (\d+) new tokens", status)
    assert match, status
    return int(match.group(1))


def clean(lab, tiny) -> None:
    """Every resource is back: no hooks, the model's lock free, no stop events left."""
    assert all(len(b._forward_pre_hooks) == 0 for b in get_blocks(tiny.model))
    assert tiny.lock.acquire(timeout=5)
    tiny.lock.release()
    assert len(lab.stops) == 0


def busy_model(lab):
    """Occupy the model's scheduler with a job that waits at its first step for the gate."""
    _, scheduler = lab.models.serve("tiny")
    gate = threading.Event()
    ids = lab.models.get("tiny").tokenizer("Hello world!")["input_ids"]
    job = Job(1, lambda: [Row(ids, max_new_tokens=2, min_new_tokens=2)])
    job.on_step = lambda rows: gate.wait(30)
    scheduler.submit(job)
    assert job.started.wait(10)
    return scheduler, gate, job


def in_thread(lab, session: str, **fields):
    """Run the handler in a thread; returns (thread, outputs so far)."""
    outputs: list = []
    errors: list = []

    def target():
        try:
            for item in compare(lab, run_fields(**fields), session=session):
                outputs.append(item)
        except gr.Error as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, outputs, errors


def wait_for(condition, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


def test_stop_ends_generation_early_by_token_count(lab, tiny):
    full = run(lab, max_new_tokens=LONG)[-1]
    assert full[-1].result.timing["new_tokens"]["original"] == LONG  # the unstopped run
    outputs = []
    for item in compare(lab, {**run_fields(), "max_new_tokens": LONG}, session="visitor-1"):
        outputs.append(item)
        if isinstance(item[0], str) and item[0]:
            stop(lab, "visitor-1")  # pressed at the first token
    *texts, status, _prompted, record = outputs[-1]
    assert record is None and stopped_tokens(status) <= 3  # of 200
    assert all(full[i].startswith(texts[i]) for i in range(3)) and texts[0]
    clean(lab, tiny)
    assert run(lab)[-1][3].startswith("**Done in")  # the next run works


def test_stop_while_queued_withdraws_the_request_before_any_work(lab, tiny):
    scheduler, gate, job = busy_model(lab)
    try:
        thread, outputs, errors = in_thread(lab, "queued", max_new_tokens=LONG)
        wait_for(lambda: any(o[3].startswith("Waiting for the model") for o in outputs))
        t0 = time.monotonic()
        stop(lab, "queued")
        thread.join(10)
        assert not thread.is_alive() and time.monotonic() - t0 < 3  # not after the gate
        assert errors == [] and stopped_tokens(outputs[-1][3]) == 0
        assert scheduler.waiting == 0
    finally:
        gate.set()
    assert job.done.wait(10)
    time.sleep(0.2)
    assert scheduler.batches == 1  # the stopped request never ran
    clean(lab, tiny)


def test_stop_while_preparing_generates_nothing(lab, tiny, monkeypatch):
    import sara_core.engine.compare as generation

    release = threading.Event()
    real = generation.build_steerings

    def slow_build(*args, **kwargs):
        release.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "build_steerings", slow_build)
    thread, outputs, errors = in_thread(lab, "preparing", max_new_tokens=LONG)
    wait_for(lambda: any(o[3].startswith("Preparing") for o in outputs))
    stop(lab, "preparing")
    release.set()
    thread.join(30)
    assert errors == [] and stopped_tokens(outputs[-1][3]) == 0
    clean(lab, tiny)


def test_a_full_line_is_refused_at_once_with_a_busy_message(lab, tiny):
    small = with_settings(lab, queue_size=1)
    scheduler, gate, job = busy_model(small)
    scheduler.max_waiting = 1  # the scheduler was made with the lab's settings: shrink its line
    try:
        thread, outputs, errors = in_thread(small, "first", max_new_tokens=4)
        wait_for(lambda: scheduler.waiting == 1)
        t0 = time.monotonic()
        with pytest.raises(gr.Error, match="busy: too many requests are waiting.*Try again"):
            run(small, session="second", max_new_tokens=4)
        assert time.monotonic() - t0 < 5  # refused, not queued behind the gate
    finally:
        gate.set()
    thread.join(30)
    assert errors == [] and outputs[-1][3].startswith("**Done in")  # the waiting one answered
    clean(small, tiny)


def test_a_request_that_waits_too_long_is_withdrawn_with_a_busy_message(lab, tiny):
    impatient = with_settings(lab, queue_timeout_s=0.3)
    scheduler, gate, job = busy_model(impatient)
    try:
        t0 = time.monotonic()
        with pytest.raises(gr.Error, match="busy: your request waited too long"):
            run(impatient, max_new_tokens=4)
        assert time.monotonic() - t0 < 5
        assert scheduler.waiting == 0
    finally:
        gate.set()
    clean(impatient, tiny)
    assert run(lab)[-1][3].startswith("**Done in")


def test_the_budget_cuts_the_answers_and_says_so(lab, tiny):
    quick = with_settings(lab, budget_s=0.3)
    *texts, status, _p, record = run(quick, max_new_tokens=500)[-1]
    assert status.startswith("**Cut short at the time limit (0.3 s).**")
    assert set(record.result.timing["finish"].values()) == {"timeout"}
    assert 0 < record.result.timing["new_tokens"]["original"] < 500
    clean(quick, tiny)


def fault(step: int, hang_s: float = 0.0):
    """A replacement for SaraSteering.edit that, at the Nth decode step, raises or hangs."""
    real, calls = SaraSteering.edit, []

    def edit(steering, hidden, prefill):
        if not prefill:
            calls.append(1)
            if len(calls) == step:
                if hang_s:
                    time.sleep(hang_s)
                else:
                    raise RuntimeError("hook failed on purpose at /srv/secret")
        return real(steering, hidden, prefill)

    edit.calls = calls  # type: ignore[attr-defined]
    return edit


def test_a_hook_raising_mid_answer_fails_that_request_and_the_next_works(
    lab, tiny, monkeypatch, caplog
):
    before = run(lab, max_new_tokens=12)[-1][:3]
    monkeypatch.setattr(SaraSteering, "edit", fault(step=3))
    failure = pytest.raises(gr.Error, match="Something went wrong on the server")
    with caplog.at_level(logging.ERROR, logger="sara_lab"), failure as info:
        run(lab, max_new_tokens=12)
    assert "/srv/secret" not in str(info.value)
    assert "hook failed on purpose" in caplog.text  # that fault, not another one
    monkeypatch.undo()
    clean(lab, tiny)
    assert run(lab, max_new_tokens=12)[-1][:3] == before


def test_a_hung_forward_pass_trips_the_watchdog_and_the_next_request_works(lab, tiny, monkeypatch):
    before = run(lab, max_new_tokens=8)[-1][:3]
    watched = with_settings(lab, idle_timeout_s=0.5)
    monkeypatch.setattr(SaraSteering, "edit", hung := fault(step=2, hang_s=4.0))
    t0 = time.monotonic()
    with pytest.raises(gr.Error, match="The model stopped responding"):
        run(watched, max_new_tokens=8)
    assert time.monotonic() - t0 < 3.5  # the watchdog fired before the 4 s hang ended
    assert len(hung.calls) == 2  # it was that hang
    monkeypatch.undo()
    # the next request waits (with heartbeats, every second) until the hang ends, then answers
    assert run(lab, max_new_tokens=8)[-1][:3] == before
    clean(lab, tiny)

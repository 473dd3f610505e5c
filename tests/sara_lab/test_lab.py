"""What the handlers share (sara_lab.lab): the stop events and the runs kept for their analysis."""

from __future__ import annotations

from lab_fixtures import tiny_lab

from sara_lab.lab import Records, Stops, batching_for
from sara_lab.settings import Settings


def test_a_stop_press_is_told_apart_from_the_work_ending_itself():
    stops = Stops()
    mine, other = stops.start("a/compare"), stops.start("b/compare")
    mine.set()  # what the stream does when its work ends
    assert mine.is_set() and not mine.requested
    stops.stop("b/compare")
    assert other.is_set() and other.requested
    stops.stop("nobody/compare")  # nothing running: nothing happens
    stops.finish(mine)
    stops.finish(other)
    assert len(stops) == 0


def test_runs_wait_for_their_analysis_once_and_only_so_many():
    records = Records(capacity=3)
    keys = [records.put(f"run {i}") for i in range(5)]
    assert len(records) == 3  # the two oldest were dropped
    assert records.pop(keys[0]) is None and records.pop(keys[4]) == "run 4"
    assert records.pop(keys[4]) is None  # served once: its activations are gone
    assert records.pop(None) is None and records.pop({"not": "a key"}) is None
    assert len(records) == 2
    records.clear()
    assert len(records) == 0 and records.pop(keys[3]) is None


def test_closing_a_lab_drops_the_runs_waiting_for_their_analysis(tiny_lm):
    lab = tiny_lab(tiny_lm)
    key = lab.records.put("a finished run")
    lab.close()
    assert lab.records.pop(key) is None and len(lab.records) == 0


def test_the_batch_window_comes_from_the_settings():
    """Browsers' clicks reach the server hundreds of ms apart: the window is the settings'."""
    batching = batching_for(Settings.from_env({"SARA_BATCH_WINDOW_MS": "120"}))
    assert batching is not None and batching.window_s == 0.12
    assert batching_for(Settings.from_env({})).window_s == 0.3  # type: ignore[union-attr]

"""The one streaming helper (sara_core.engine.streaming)."""

from __future__ import annotations

import threading
import time

import pytest

from sara_core.engine.streaming import StreamTimeout, stream_in_thread


def test_updates_arrive_in_order_and_the_result_is_kept():
    def work(emit, stop):
        for i in range(5):
            emit(i)
        return "done"

    stream = stream_in_thread(work)
    assert list(stream) == [0, 1, 2, 3, 4]
    assert stream.result == "done"


def test_then_result_yields_the_updates_then_the_result_and_closing_it_stops_the_work():
    def work(emit, stop):
        for i in range(3):
            emit(i)
        return "done"

    assert list(stream_in_thread(work).then_result()) == [0, 1, 2, "done"]

    stopped = threading.Event()

    def endless(emit, stop):
        while not stop.is_set():
            emit(0)
            time.sleep(0.001)
        stopped.set()

    items = stream_in_thread(endless).then_result()
    next(items)
    items.close()  # a client that leaves
    assert stopped.wait(5)


def test_errors_are_raised_in_the_consumer():
    def work(emit, stop):
        emit(1)
        raise ValueError("bad")

    stream = stream_in_thread(work)
    with pytest.raises(ValueError, match="bad"):
        list(stream)


def test_leaving_early_stops_the_work():
    stopped = threading.Event()

    def work(emit, stop):
        for i in range(10_000):
            if stop.is_set():
                stopped.set()
                return i
            emit(i)
            time.sleep(0.001)
        return -1

    stream = stream_in_thread(work)
    for item in stream:
        if item == 3:
            break
    assert stopped.wait(5)
    assert stream.join(5)


def test_an_idle_worker_times_out_and_is_told_to_stop():
    def work(emit, stop):
        emit("first")
        stop.wait(10)
        return None

    stream = stream_in_thread(work, idle_timeout=0.2)
    seen = []
    with pytest.raises(StreamTimeout):
        for item in stream:
            seen.append(item)
    assert seen == ["first"] and stream.stop.is_set()
    assert stream.join(5)

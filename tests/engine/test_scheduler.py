"""Cross-request batching (sara_core.engine.scheduler): jobs that wait share one generation, each
row answers as it would alone, and the line is bounded, stoppable and timed."""

from __future__ import annotations

import threading
import time

import peak
import pytest
from conftest import make_tiny_lm

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare, stream_compare
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import STOPPED, Row
from sara_core.engine.scheduler import (
    BatchScheduler,
    Job,
    QueueFullError,
    QueueTimeoutError,
    rows_for_memory,
)

ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."
PROMPTS = [
    "Should they report them to the authorities or should they protect them?",
    "Hello world!",
    "The trolley is heading towards five people. I am sad and hopeless.",
    "Love hate good bad yes no report protect.",
    "Should they protect them?",
    "I am happy and hopeful.",
]


@pytest.fixture
def lm():
    return make_tiny_lm("llama")


@pytest.fixture
def scheduler(lm):
    s = BatchScheduler(lm, max_rows=24, window_s=0.05, max_waiting=16)
    yield s
    s.close()


def slow_job(lm, tokens: int, gate: threading.Event | None = None, n: int = 1) -> Job:
    """A job whose rows take ``tokens`` steps; its first step waits for ``gate``."""
    ids = lm.tokenizer(PROMPTS[0])["input_ids"]
    job = Job(n, list)
    job.prepare = lambda: [
        Row(ids, max_new_tokens=tokens, min_new_tokens=tokens, stop=job.stop) for _ in range(n)
    ]
    if gate is not None:
        job.on_step = lambda rows: gate.wait(10)
    return job


def test_requests_that_arrive_while_busy_share_the_next_batch(lm, scheduler):
    gate = threading.Event()
    first = scheduler.submit(slow_job(lm, 3, gate))
    assert first.started.wait(5)
    later = [scheduler.submit(slow_job(lm, 4, n=2)) for _ in range(3)]
    time.sleep(0.1)
    gate.set()
    for job in [first, *later]:
        assert job.done.wait(20) and job.error is None
    assert scheduler.batches == 2
    assert [j.batch_rows for j in later] == [6, 6, 6]
    assert all(len(r.tokens) == 4 for j in later for r in j.rows)


def test_concurrent_compares_get_their_lone_greedy_answers(lm, scheduler):
    greedy = GenerationSettings(max_new_tokens=10)
    configs = [
        SteeringConfig(layer=i % 4, sara_coeff=1.0 + i, actadd_coeff=3.0 + i) for i in range(6)
    ]
    lone = [
        compare(lm, p, ATTRACT, REPEL, c, greedy).answers()
        for p, c in zip(PROMPTS, configs, strict=True)
    ]
    results: list = [None] * 6
    barrier = threading.Barrier(6)

    def client(i: int) -> None:
        barrier.wait()
        updates = list(
            stream_compare(lm, PROMPTS[i], ATTRACT, REPEL, configs[i], greedy, scheduler=scheduler)
        )
        results[i] = updates[-1].result.answers()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == lone
    assert scheduler.batches < 6  # some of them really shared a batch


def test_a_full_line_is_refused_at_once(lm):
    s = BatchScheduler(lm, max_rows=3, window_s=0.0, max_waiting=2)
    gate = threading.Event()
    try:
        running = s.submit(slow_job(lm, 2, gate, n=3))
        assert running.started.wait(5)
        s.submit(slow_job(lm, 2))
        s.submit(slow_job(lm, 2))
        t0 = time.monotonic()
        with pytest.raises(QueueFullError, match="already waiting"):
            s.submit(slow_job(lm, 2))
        assert time.monotonic() - t0 < 1.0
    finally:
        gate.set()
        s.close()


def test_a_job_that_waits_too_long_is_withdrawn_never_prepared(lm, scheduler):
    gate = threading.Event()
    running = scheduler.submit(slow_job(lm, 2, gate))
    assert running.started.wait(5)
    prepared = []
    late = Job(1, lambda: prepared.append(1) or [])
    with pytest.raises(QueueTimeoutError, match="busy"):
        scheduler.run(late, queue_timeout=0.2)
    gate.set()
    assert running.done.wait(10)
    time.sleep(0.2)
    assert prepared == [] and scheduler.waiting == 0


def test_stop_while_queued_withdraws_the_job(lm, scheduler):
    gate = threading.Event()
    running = scheduler.submit(slow_job(lm, 2, gate))
    assert running.started.wait(5)
    prepared = []
    queued = Job(1, lambda: prepared.append(1) or [])
    waiter = threading.Thread(target=scheduler.run, args=(queued,))
    waiter.start()
    time.sleep(0.1)
    queued.stop.set()
    waiter.join(5)
    assert not waiter.is_alive() and queued.done.is_set()
    gate.set()
    assert running.done.wait(10)
    assert prepared == []


def test_stop_while_streaming_ends_that_request_early(lm, scheduler):
    job = slow_job(lm, 200, n=2)
    seen = []

    def on_step(rows):
        seen.append(len(rows[0].tokens))
        if len(rows[0].tokens) == 5:
            job.stop.set()

    job.on_step = on_step
    other = slow_job(lm, 30)
    scheduler.submit(job)
    scheduler.submit(other)
    assert job.done.wait(20) and other.done.wait(20)
    assert all(r.finish == STOPPED and len(r.tokens) == 5 for r in job.rows)
    assert len(other.rows[0].tokens) == 30


def test_a_failing_preparation_fails_only_its_own_request(lm, scheduler):
    gate = threading.Event()
    running = scheduler.submit(slow_job(lm, 1, gate))
    assert running.started.wait(5)

    def boom():
        raise ValueError("bad steering")

    bad = scheduler.submit(Job(1, boom))
    good = scheduler.submit(slow_job(lm, 3))
    gate.set()
    assert bad.done.wait(10) and good.done.wait(10)
    assert isinstance(bad.error, ValueError) and good.error is None
    assert len(good.rows[0].tokens) == 3


def test_a_broken_listener_stops_only_its_own_rows(lm, scheduler):
    broken = slow_job(lm, 20)
    broken.on_step = lambda rows: 1 / 0
    fine = slow_job(lm, 20)
    gate = threading.Event()
    running = scheduler.submit(slow_job(lm, 1, gate))
    assert running.started.wait(5)
    scheduler.submit(broken)
    scheduler.submit(fine)
    gate.set()
    assert broken.done.wait(10) and fine.done.wait(10)
    assert len(broken.rows[0].tokens) < 20 and len(fine.rows[0].tokens) == 20


def test_batches_stay_within_the_row_limit(lm):
    s = BatchScheduler(lm, max_rows=4, window_s=0.0)
    gate = threading.Event()
    try:
        running = s.submit(slow_job(lm, 1, gate))
        assert running.started.wait(5)
        jobs = [s.submit(slow_job(lm, 2, n=3)) for _ in range(3)]
        gate.set()
        for job in jobs:
            assert job.done.wait(10)
        assert [j.batch_rows for j in jobs] == [3, 3, 3]
        with pytest.raises(ValueError, match="exceeds the batch limit"):
            s.submit(slow_job(lm, 2, n=5))
    finally:
        s.close()


def test_closing_ends_waiting_jobs_and_the_thread(lm):
    s = BatchScheduler(lm)
    gate = threading.Event()
    running = s.submit(slow_job(lm, 1, gate))
    assert running.started.wait(5)
    waiting = s.submit(slow_job(lm, 1))
    closer = threading.Thread(target=s.close)
    closer.start()
    time.sleep(0.1)
    gate.set()
    closer.join(10)
    assert waiting.done.is_set() and "unloaded" in str(waiting.error)
    assert not s._thread.is_alive()
    with pytest.raises(RuntimeError, match="closed"):
        s.submit(slow_job(lm, 1))


def test_rows_for_memory_scales_with_the_budget(lm):
    small = rows_for_memory(lm, 600, 10_000_000)
    big = rows_for_memory(lm, 600, 100_000_000)
    assert 1 <= small < big


class Faulty:
    """A steering that raises, or hangs, at its Nth decode step (a fault injector)."""

    def __init__(self, layer: int, step: int, hang_s: float = 0.0):
        self.layer, self.step, self.hang_s, self.calls = layer, step, hang_s, 0

    def edit(self, hidden, prefill):
        if not prefill:
            self.calls += 1
            if self.calls == self.step:
                if self.hang_s:
                    time.sleep(self.hang_s)
                else:
                    raise RuntimeError("hook failed on purpose")
        return hidden

    def to(self, device):
        return self


def _hooks_on(lm) -> int:
    from sara_core.models.blocks import get_blocks

    return sum(len(b._forward_pre_hooks) for b in get_blocks(lm.model))


def test_a_hook_raising_mid_generation_fails_its_batch_and_the_next_request_works(lm, scheduler):
    ids = lm.tokenizer(PROMPTS[0])["input_ids"]
    bad = Job(1, lambda: [Row(ids, (Faulty(1, 3),), max_new_tokens=10)])
    scheduler.submit(bad)
    assert bad.done.wait(10)
    assert isinstance(bad.error, RuntimeError) and "on purpose" in str(bad.error)
    assert _hooks_on(lm) == 0 and lm.lock.acquire(timeout=1)
    lm.lock.release()
    greedy = GenerationSettings(max_new_tokens=8)
    cfg = SteeringConfig(layer=1)
    after = list(stream_compare(lm, PROMPTS[1], ATTRACT, REPEL, cfg, greedy, scheduler=scheduler))
    assert (
        after[-1].result.answers() == compare(lm, PROMPTS[1], ATTRACT, REPEL, cfg, greedy).answers()
    )


def test_a_hung_forward_pass_trips_the_watchdog_and_the_model_recovers(lm, scheduler):
    from sara_core.engine.streaming import StreamTimeout

    ids = lm.tokenizer(PROMPTS[0])["input_ids"]
    hung = Job(
        1, lambda: [Row(ids, (Faulty(1, 2, hang_s=1.5),), max_new_tokens=50, stop=hung.stop)]
    )
    scheduler.submit(hung)
    greedy = GenerationSettings(max_new_tokens=6)
    cfg = SteeringConfig(layer=1)
    t0 = time.monotonic()
    stream = stream_compare(
        lm, PROMPTS[1], ATTRACT, REPEL, cfg, greedy, scheduler=scheduler, idle_timeout=0.4
    )
    with pytest.raises(StreamTimeout):
        for _ in stream:
            pass
    assert time.monotonic() - t0 < 1.4  # the watchdog fired before the hang ended
    assert hung.done.wait(10) and _hooks_on(lm) == 0
    later = list(stream_compare(lm, PROMPTS[2], ATTRACT, REPEL, cfg, greedy, scheduler=scheduler))
    assert (
        later[-1].result.answers() == compare(lm, PROMPTS[2], ATTRACT, REPEL, cfg, greedy).answers()
    )


def test_the_generation_budget_ends_answers_as_timeout(lm, scheduler):
    slow = GenerationSettings(max_new_tokens=400, min_new_tokens=400)
    updates = list(
        stream_compare(
            lm,
            PROMPTS[0],
            ATTRACT,
            REPEL,
            SteeringConfig(layer=1),
            slow,
            scheduler=scheduler,
            budget_s=0.3,
        )
    )
    result = updates[-1].result
    assert set(result.timing["finish"].values()) == {"timeout"}
    assert 0 < result.timing["new_tokens"]["original"] < 400


def test_a_waiting_request_gets_heartbeats_not_a_false_timeout(lm, scheduler):
    gate = threading.Event()
    running = scheduler.submit(slow_job(lm, 2, gate))
    assert running.started.wait(5)
    threading.Timer(2.5, gate.set).start()
    greedy = GenerationSettings(max_new_tokens=4)
    updates = list(
        stream_compare(
            lm,
            PROMPTS[1],
            ATTRACT,
            REPEL,
            SteeringConfig(layer=1),
            greedy,
            scheduler=scheduler,
            idle_timeout=1.6,
        )
    )
    assert any(u.status.startswith("waiting") for u in updates)
    assert updates[-1].result is not None


@pytest.mark.skipif(not peak.available(), reason="needs Linux's /proc/self/clear_refs")
def test_the_rows_a_memory_budget_allows_fit_it_with_a_256k_vocabulary(one_torch_thread):
    from conftest import big_vocab_lm

    from sara_core.engine.row import Sampling

    lm = big_vocab_lm()
    budget, tokens = 64 * 2**20, 48
    n = rows_for_memory(lm, tokens, budget)
    assert 6 <= n <= 16  # the logits, not the tiny cache, set the bound here
    prompt = lm.tokenizer("Should they report them or protect them?").input_ids
    decode_rows(lm, [Row(prompt, max_new_tokens=2)])  # warm up: first-call buffers
    sample = Sampling(temperature=0.8, top_p=0.9, seed=1)
    rows = [
        Row(prompt, max_new_tokens=tokens - len(prompt), sampling=sample if i % 2 else None)
        for i in range(n)
    ]
    with peak.peak_growth() as got:
        decode_rows(lm, rows)
    assert got["bytes"] <= budget, f"{got['bytes'] / 2**20:.0f} MB for a {budget >> 20} MB budget"


def _paced_job(lm, tokens: int, n: int = 1, joins: bool = False) -> tuple[Job, threading.Event]:
    """A job whose rows decode ``tokens`` steps, 20 ms a step; the event is set at its first."""
    job = slow_job(lm, tokens, n=n)
    job.joins = joins
    first = threading.Event()
    job.on_step = lambda rows: first.set() or time.sleep(0.02)
    return job, first


def test_a_compare_arriving_mid_batch_joins_it_and_answers_as_alone(lm, scheduler):
    running, started = _paced_job(lm, 500)  # 10 s: stopped once the compare is answered
    scheduler.submit(running)
    assert started.wait(10)
    greedy = GenerationSettings(max_new_tokens=6)
    cfg = SteeringConfig(layer=2)
    updates = list(stream_compare(lm, PROMPTS[2], ATTRACT, REPEL, cfg, greedy, scheduler=scheduler))
    assert not running.done.is_set()  # answered while the first batch still decodes
    assert scheduler.batches == 1
    running.stop.set()  # (it holds the model's lock, which the lone compare below needs)
    assert running.done.wait(20) and running.rows[0].finish == STOPPED
    alone = compare(lm, PROMPTS[2], ATTRACT, REPEL, cfg, greedy)
    assert updates[-1].result.answers() == alone.answers()


def test_joiners_keep_the_line_in_order_and_the_row_limit(lm):
    s = BatchScheduler(lm, max_rows=4, window_s=0.0)
    try:
        running, started = _paced_job(lm, 40, n=2)
        s.submit(running)
        assert started.wait(10)
        fits = s.submit(_paced_job(lm, 3, n=2, joins=True)[0])
        too_big = s.submit(_paced_job(lm, 3, n=3, joins=True)[0])  # 2 + 2 + 3 > 4
        behind = s.submit(_paced_job(lm, 3, n=1, joins=True)[0])  # would fit, but waits its turn
        assert fits.done.wait(10) and not running.done.is_set()
        assert fits.batch_rows == 4
        for job in (running, too_big, behind):
            assert job.done.wait(20) and job.error is None
        assert too_big.batch_rows == behind.batch_rows == 4  # the next batch, together
        assert s.batches == 2
        late = _paced_job(lm, 2, joins=False)[0]  # not a joiner: waits for the next batch
        blocker, blocker_started = _paced_job(lm, 30)
        s.submit(blocker)
        assert blocker_started.wait(10)
        s.submit(late)
        assert late.done.wait(20) and blocker.done.is_set() and s.batches == 4
    finally:
        s.close()

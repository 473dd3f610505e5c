"""The server's bounds on a tiny random model (fast): a client that leaves stops its generation,
the time budget ends an answer, a full line is refused, stop sequences cut the answer the same
streamed or not, and the evaluation's --judge-url runs end to end against the server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import openai
import pytest
from conftest import make_tiny_lm
from live_server import KEY, serving

from sara_core.cli import main
from sara_core.engine.scheduler import Job
from sara_core.models.blocks import get_blocks

pytestmark = pytest.mark.usefixtures("one_torch_thread")

HI = [{"role": "user", "content": "Hello world! I am happy."}]


@pytest.fixture(scope="module")
def tiny():
    lm = make_tiny_lm("llama")
    lm.model.config.max_position_embeddings = 4096  # the judge's prompts are long in tiny tokens
    return lm


@contextmanager
def slow(lm, seconds: float) -> Iterator[None]:
    """Every forward pass takes at least ``seconds`` (a long answer, for the bounds)."""
    handle = get_blocks(lm.model)[0].register_forward_pre_hook(lambda *_: time.sleep(seconds))
    try:
        yield
    finally:
        handle.remove()


def test_a_client_that_leaves_a_stream_stops_its_generation(tiny):
    with serving(tiny, ["--max-tokens", "1000"]) as live, slow(tiny, 0.01):
        stream = live.client().chat.completions.create(
            model="tiny", messages=HI, max_tokens=1000, temperature=0, stream=True
        )
        for n, _chunk in enumerate(stream):
            if n == 3:
                break
        stream.close()
        live.wait_completed(1, timeout=20)
        out = live.engine.stats.last[-1]
    assert out.row_finish == "stopped" and out.completion_tokens < 200
    assert live.engine.stats.stopped == 1


def test_a_client_that_gives_up_waiting_stops_its_generation(tiny):
    with serving(tiny, ["--max-tokens", "1000"]) as live, slow(tiny, 0.01):
        body = {"messages": HI, "max_tokens": 1000, "temperature": 0}
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{live.url}/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {KEY}"},
                timeout=0.8,
            )
        live.wait_completed(1, timeout=20)
        out = live.engine.stats.last[-1]
    assert out.row_finish == "stopped" and out.completion_tokens < 300


def test_the_time_budget_ends_an_answer(tiny):
    with serving(tiny, ["--max-tokens", "1000", "--timeout", "1"]) as live, slow(tiny, 0.01):
        t0 = time.monotonic()
        r = live.client().chat.completions.create(
            model="tiny", messages=HI, max_tokens=1000, temperature=0
        )
        took = time.monotonic() - t0
        assert live.engine.stats.last[-1].row_finish == "timeout"
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens < 1000
    assert took < 10


def test_a_full_line_is_refused_with_a_503(tiny):
    with serving(tiny, ["--max-waiting", "1"]) as live:
        holding, release = threading.Event(), threading.Event()

        def hold():  # the scheduler's batch has started: nothing can join it
            holding.set()
            release.wait(30)
            return []

        live.engine.scheduler.submit(Job(1, hold))
        assert holding.wait(30)
        client = live.client()
        first = threading.Thread(
            target=lambda: client.chat.completions.create(model="t", messages=HI, max_tokens=2)
        )
        first.start()
        until = time.monotonic() + 20
        while live.engine.scheduler.waiting < 1 and time.monotonic() < until:
            time.sleep(0.02)
        try:
            with pytest.raises(openai.APIStatusError) as err:
                client.chat.completions.create(model="t", messages=HI, max_tokens=2)
        finally:
            release.set()
            first.join(20)
    assert err.value.status_code == 503 and err.value.response.headers["retry-after"]
    assert err.value.body["type"] == "server_error" and "waiting" in err.value.body["message"]


def test_stop_sequences_cut_the_answer_streamed_or_not(tiny):
    with serving(tiny) as live:
        client = live.client()
        kw = dict(model="t", messages=HI, temperature=0, max_tokens=40)
        full = client.chat.completions.create(**kw).choices[0].message.content
        stop = full[len(full) // 2 : len(full) // 2 + 3]
        assert stop and full.find(stop) > 0
        cut = client.chat.completions.create(**kw, stop=[stop, "never-there"])
        chunks = list(client.chat.completions.create(**kw, stop=stop, stream=True))
    assert cut.choices[0].message.content == full[: full.find(stop)]
    assert cut.choices[0].finish_reason == "stop"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert streamed == full[: full.find(stop)] and chunks[-1].choices[0].finish_reason == "stop"


def test_sampling_reproduces_by_seed_and_multi_turn_reads_the_whole_conversation(tiny):
    with serving(tiny) as live:
        client = live.client()
        kw = dict(model="t", temperature=0.9, max_tokens=8, seed=7)
        a = client.chat.completions.create(messages=HI, **kw).choices[0].message.content
        b = client.chat.completions.create(messages=HI, **kw).choices[0].message.content
        turns = [*HI, {"role": "assistant", "content": "Yes."}, {"role": "user", "content": "No"}]
        r = client.chat.completions.create(messages=turns, **kw)
    assert a == b
    assert r.usage.prompt_tokens > len(tiny.tokenizer(HI[0]["content"])["input_ids"]) + 4


def test_evaluate_with_judge_url_runs_end_to_end_against_the_server(tiny, tmp_path, capsys):
    folder = tmp_path / "tiny"
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    out = tmp_path / "eval"
    with serving(tiny, ["--max-prompt-tokens", "3000"], api_key=None) as live:
        code = main(
            [
                "evaluate",
                "--model",
                str(folder),
                "--stances",
                "utilitarian",
                "--layers",
                "1",
                "--reps",
                "1",
                "--baseline-reps",
                "1",
                "--max-new-tokens",
                "3",
                "--n-boot",
                "20",
                "--no-mfq",
                "--no-progress",
                "--judge-url",
                live.url,
                "--judge-model",
                "tiny",
                "--out",
                str(out),
            ]
        )
        judged = live.engine.stats.completed
    assert code == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["judge"]["judge"] == "endpoint:tiny" and summary["n_answers"] == 3
    assert judged >= 56  # the judge measured on its labelled set, one request per answer

"""The live app on the embedded model, through gradio_client and raw HTTP, as an API user sees it;
and ``python app.py`` as a newcomer starts it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from lab_fixtures import (
    ATTRACT,
    BAD_INPUTS,
    GRADIO_WARNINGS,
    PROMPT,
    REPEL,
    free_port,
    record_timing,
    serve,
)

pytestmark = [pytest.mark.e2e, *(pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS)]
ROOT = Path(__file__).resolve().parents[2]
# The tiny model's out-of-range layers, moved to the embedded model's 30 blocks.
LAYERS_30 = {4: (30, "layer=30 is out of range"), -5: (-31, "layer=-31 is out of range")}


@pytest.fixture(scope="module")
def live(embedded_lm):
    from gradio_client import Client

    demo, url = serve(embedded_lm)
    client = Client(url, verbose=False)
    yield demo, url, client
    demo.close()


def call(client, **kw):
    args = {
        "dilemma": PROMPT,
        "attract": ATTRACT,
        "repel": REPEL,
        "layer": 15,
        "max_new_tokens": 16,
        **kw,
    }
    return client.predict(**args, api_name="/compare")


def test_compare_endpoint_streams_four_answers(live):
    _, _, client = live
    start = time.perf_counter()
    job = client.submit(PROMPT, ATTRACT, REPEL, 15, 24, api_name="/compare")
    first = None
    while not job.done():
        outputs = job.outputs()
        if first is None and outputs and outputs[-1][0]:
            first = time.perf_counter() - start
        time.sleep(0.02)
    original, sara, actadd, status, prompted = job.result()
    assert prompted and prompted not in (original, sara, actadd)  # the fourth answer, last
    total = time.perf_counter() - start
    assert original and sara and actadd
    assert status.startswith("**Done in")
    assert first is not None and first < total
    assert len(job.outputs()) > 3  # it streamed
    record_timing("api_24_tokens", {"first_token_s": first, "full_answers_s": total})


def test_omitted_or_null_layer_is_the_default_block_and_negative_counts_from_the_end(live):
    _, _, client = live
    status = client.predict(PROMPT, ATTRACT, REPEL, api_name="/compare")[3]
    assert "block 15 ·" in status  # SmolLM2-135M has 30 blocks: the default is the middle one
    assert "block 15 ·" in call(client, layer=None, max_new_tokens=2)[3]
    assert "block 29 ·" in call(client, layer=-1, max_new_tokens=2)[3]


@pytest.mark.parametrize(
    ("bad", "message"),
    [b for b in BAD_INPUTS if "nan" not in repr(b[0]) and "inf" not in repr(b[0])],
)
def test_bad_input_is_refused_and_the_app_keeps_answering(live, bad, message):
    from gradio_client.exceptions import AppError

    _, _, client = live
    if bad.get("layer") in LAYERS_30:
        layer, message = LAYERS_30[bad["layer"]]
        bad = {"layer": layer}
    with pytest.raises(AppError, match=message):
        call(client, **bad)
    assert all(call(client, max_new_tokens=2)[:3])  # answered normally right after


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_numbers_sent_as_raw_json_are_refused(live, value):
    _, url, client = live
    data = (  # the raw positional API takes every value, the new trailing ones included
        f'["{PROMPT}", "{ATTRACT}", "{REPEL}", 15, 4, 0, {value}, 4.0, "prompt", false, 0.8, 1, 0, '
        '"raw", "prefix", true, ""]'
    )
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post(
            "/gradio_api/call/compare",
            content='{"data": ' + data + "}",
            headers={"Content-Type": "application/json"},
        ).json()["event_id"]
        stream = http.get(f"/gradio_api/call/compare/{event}").text
    assert "event: error" in stream
    assert "SARA coefficient must be a finite number" in stream
    assert all(call(client, max_new_tokens=2)[:3])


def test_raw_json_by_name_takes_the_documented_defaults(live):
    _, url, _ = live
    body = {"dilemma": PROMPT, "attract": ATTRACT, "repel": REPEL, "max_new_tokens": 2}
    with httpx.Client(base_url=url, timeout=60) as http:
        event = http.post("/gradio_api/call/v2/compare", json=body).json()["event_id"]
        stream = http.get(f"/gradio_api/call/compare/{event}").text
    assert "event: complete" in stream
    assert "block 15 \\u00b7" in stream  # a null layer is the default block (JSON-escaped ·)


def test_concurrent_users_get_their_own_steering_and_the_lone_greedy_answers(live):
    from gradio_client import Client

    _, url, client = live
    kantian = {"attract": REPEL, "repel": ATTRACT}
    lone = {"u": call(client)[:3], "k": call(client, **kantian)[:3]}
    assert lone["u"] != lone["k"]  # the two stances steer differently
    results: dict[int, tuple] = {}

    def user(i: int) -> None:
        kw = kantian if i % 2 else {}
        results[i] = call(Client(url, verbose=False), **kw)[:3]

    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 4
    for i, answers in results.items():
        assert answers == lone["k" if i % 2 else "u"]
    record_timing("four_concurrent_16_tokens", {"all_answered_s": time.perf_counter() - start})


def test_sweep_endpoint_and_queue_limits(live):
    demo, _, client = live
    fig, table, summary = client.predict(PROMPT, ATTRACT, REPEL, 0, False, 4, 10, api_name="/sweep")
    assert summary.startswith("Swept 3 blocks") and "rescales the prompt most" in summary
    assert table["headers"][:3] == ["block", "k", "mean |s|"]
    assert [row[0] for row in table["data"]] == [0, 10, 20]
    assert demo._queue.max_size == 16
    limits = {fn.api_name: fn.concurrency_limit for fn in demo.fns.values()}
    # comparisons run together (the model's scheduler serialises and batches them); sweeps,
    # which hold the model, two at a time
    assert (limits["compare"], limits["sweep"]) == (24, 2)


def test_python_app_py_serves_on_the_configured_port():
    """`python app.py` (the README's demo command) honours GRADIO_SERVER_NAME/PORT."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 180
        page = None
        while time.time() < deadline and proc.poll() is None:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        assert page is not None and page.status_code == 200, "app.py did not start"
        assert "SARA steering lab" in page.text
        config = httpx.get(f"http://127.0.0.1:{port}/config", timeout=10).json()
        assert config["title"] == "SARA steering lab"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

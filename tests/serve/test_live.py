"""The server on the embedded model, called with the stock ``openai`` client: greedy answers equal
the library's ``compare``, streams join into the same text, the server default applies, bad
input gets OpenAI-shaped 400s, and concurrent clients get their lone answers."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest
from live_server import KEY, serving

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare
from sara_core.engine.scheduler import Job
from sara_core.presets.stances import get_stance
from sara_core.steering.saved import save_steering

pytestmark = pytest.mark.e2e

QUESTION = "How will the exam go?"
STANCE = "optimistic"
TOKENS = 6  # all three answers differ from each other within six tokens


@pytest.fixture(scope="module")
def expected(embedded_lm):
    """The library's three greedy answers (one batch)."""
    s = get_stance(STANCE)
    return compare(
        embedded_lm,
        QUESTION,
        s.attract,
        s.repel,
        SteeringConfig(),
        GenerationSettings(max_new_tokens=TOKENS),
    )


@pytest.fixture(scope="module")
def live(embedded_lm, expected, tmp_path_factory):
    folder = tmp_path_factory.mktemp("steerings")
    s = get_stance(STANCE)
    save_steering(
        folder / "opt.safetensors",
        sara=expected.sara_steering,
        actadd=expected.actadd_steering,
        model=embedded_lm.name,
        attract=s.attract,
        repel=s.repel,
    )
    (folder / "broken.safetensors").write_bytes(b"not a safetensors file")
    with serving(embedded_lm, ["--steering-dir", str(folder), "--max-tokens", "64"]) as server:
        yield server


def ask(client, steering=None, stream=False, content=QUESTION, tokens=TOKENS):
    body = {} if steering is None else {"steering": steering}
    kw = dict(
        model="any",
        messages=[{"role": "user", "content": content}],
        temperature=0,
        max_tokens=tokens,
        extra_body=body,
    )
    if not stream:
        return client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(stream=True, **kw))
    return chunks


def test_models_lists_the_model_and_a_missing_key_is_refused(live):
    models = live.client().models.list()
    assert [m.id for m in models.data] == [live.engine.lm.name]
    with pytest.raises(openai.AuthenticationError) as err:
        live.client(key="wrong").models.list()
    assert err.value.status_code == 401 and err.value.body["type"] == "authentication_error"
    r = httpx.post(f"{live.url}/chat/completions", json={"messages": []})
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_greedy_answers_equal_the_librarys_compare_streamed_or_not(live, expected):
    client = live.client()
    asks = {
        "original": dict(steering={"method": "none"}),
        "sara": dict(steering={"stance": STANCE}),
        "actadd": dict(steering={"stance": STANCE, "method": "actadd"}),
        "sara_file": dict(steering={"file": "opt"}),
        "actadd_file": dict(steering={"file": "opt", "method": "actadd"}),
        "sara_stream": dict(steering={"stance": STANCE}, stream=True),
    }
    with ThreadPoolExecutor(len(asks)) as pool:  # together, so they share batches
        futures = {name: pool.submit(ask, client, **kw) for name, kw in asks.items()}
        got = {name: f.result() for name, f in futures.items()}
    assert len({expected.original, expected.sara, expected.actadd}) == 3  # a real difference
    text = {name: r.choices[0].message.content for name, r in got.items() if name[-6:] != "stream"}
    assert text["original"] == expected.original
    assert text["sara"] == expected.sara == text["sara_file"]
    assert text["actadd"] == expected.actadd == text["actadd_file"]
    one = got["sara"]
    assert one.choices[0].finish_reason == "length"
    assert one.usage.completion_tokens == TOKENS and one.usage.prompt_tokens > 10
    assert one.model_extra["steering"]["source"] == f"stance:{STANCE}"
    chunks = got["sara_stream"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == expected.sara
    assert [c.choices[0].finish_reason for c in chunks][-1] == "length"
    assert len(chunks) >= 4  # the text came in pieces, not in one chunk at the end


def test_the_server_default_applies_when_a_request_names_no_steering(embedded_lm, expected):
    with serving(embedded_lm, ["--stance", STANCE], api_key=None) as live:
        client = live.client(key=None)
        with ThreadPoolExecutor(2) as pool:
            plain = pool.submit(ask, client)
            off = pool.submit(ask, client, {"method": "none"})
            plain, off = plain.result(), off.result()
        assert plain.choices[0].message.content == expected.sara
        assert off.choices[0].message.content == expected.original
        assert client.models.list().data[0].model_extra["steering"]["method"] == "sara"


BAD = [
    ({"stance": "no-such-stance"}, "steering.stance", "unknown stance"),
    ({"stance": STANCE, "layer": 30}, "steering.layer", "30 blocks"),
    ({"attract": "Be kind.", "repel": "be   KIND."}, "steering", "same text"),
    ({"file": "broken"}, "steering.file", "not a valid steering file"),
    ({"file": "../opt"}, "steering.file", "plain file name"),
    ({"file": "missing"}, "steering.file", "no steering file"),
    ({"stance": STANCE, "coef": 2}, "steering", "unknown steering field"),
    ({"stance": STANCE, "k": 500}, "steering.k", "too large"),
    ({"stance": STANCE, "coeff": 1000}, "steering.coeff", "out of range"),
    ({"method": "sara"}, "steering", "needs a 'stance'"),
]


@pytest.mark.parametrize(("steering", "param", "words"), BAD, ids=[b[2] for b in BAD])
def test_bad_steering_gets_an_openai_400(live, steering, param, words):
    with pytest.raises(openai.BadRequestError) as err:
        ask(live.client(), steering)
    body = err.value.body
    assert body["type"] == "invalid_request_error" and body["param"] == param
    assert words in body["message"] and "Traceback" not in body["message"]


HI = [{"role": "user", "content": "hi"}]
MSG0 = "messages[0].content"


def _post(live, body, **kw):
    headers = {"Authorization": f"Bearer {KEY}", **kw.pop("headers", {})}
    return httpx.post(f"{live.url}/chat/completions", headers=headers, timeout=30, **kw, **body)


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"content": b"{not json"}, 400, None),
        ({"json": {"messages": [{"role": "user", "content": "hi"}] * 65}}, 400, "messages"),
        ({"json": {"messages": [{"role": "user", "content": "x" * 8001}]}}, 400, MSG0),
        ({"json": {"messages": [{"role": "tool", "content": "hi"}]}}, 400, "messages[0].role"),
        ({"json": {"messages": HI, "max_tokens": 65}}, 400, "max_tokens"),
        ({"json": {"messages": [{"role": "user", "content": "hi"}], "n": 2}}, 400, "n"),
        ({"json": {"messages": [{"role": "user", "content": "hi"}], "stop": [1]}}, 400, "stop"),
        ({"content": b'{"messages": "' + b"x" * 300_000 + b'"}'}, 413, None),
        ({"content": iter([b'{"messages": "', b"x" * 300_000, b'"}'])}, 413, None),
        ({"content": b"[" * 100_000 + b"]" * 100_000}, 400, None),
    ],
    ids=[
        "json",
        "messages",
        "length",
        "role",
        "max_tokens",
        "n",
        "stop",
        "body size",
        "body size, chunked",
        "nesting",
    ],
)
def test_bad_bodies_get_openai_errors_not_traces(live, body, status, param):
    r = _post(live, body)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["message"] and "Traceback" not in r.text


def test_twenty_concurrent_clients_get_their_lone_answers_in_shared_batches(live):
    client = live.client()
    methods = [{"method": "none"}, {"stance": STANCE}, {"stance": "formal", "method": "actadd"}]
    # ten questions of different lengths (left padding), each asked by two clients: one
    # streamed, one not
    asks = [(f"{'Please, ' * (i % 4)}name {i + 2} fruits.", methods[i % 3]) for i in range(10)]
    clients = [(q, s, stream) for stream in (False, True) for q, s in asks]

    def one(job):
        content, steering, stream = job
        if stream:
            chunks = ask(client, steering, True, content, tokens=4)
            return "".join(c.choices[0].delta.content or "" for c in chunks)
        return ask(client, steering, False, content, tokens=4).choices[0].message.content

    # hold the model busy until all twenty wait, so they must share the next batches
    holding, release = threading.Event(), threading.Event()

    def hold():  # in the scheduler's thread: its batch has started, no request can join it
        holding.set()
        release.wait(60)
        return []

    scheduler = live.engine.scheduler
    scheduler.submit(Job(1, hold))
    assert holding.wait(30)
    batches = scheduler.batches
    with ThreadPoolExecutor(len(clients)) as pool:
        futures = [pool.submit(one, job) for job in clients]
        until = time.monotonic() + 60
        while scheduler.waiting < len(clients) and time.monotonic() < until:
            time.sleep(0.02)
        release.set()
        together = [f.result() for f in futures]
    shared = scheduler.batches - batches
    alone = [one((q, s, False)) for q, s in asks]
    assert together == alone + alone
    assert len(set(alone)) >= 5  # different answers, not one repeated
    assert shared <= 2  # twenty rows, at most 16 a batch
    health = httpx.get(live.url.removesuffix("/v1") + "/health").json()
    assert health["completed"] >= 30 and health["stopped_by_client"] == 0

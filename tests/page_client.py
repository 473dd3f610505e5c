"""A visitor without a browser: the queue protocol the page itself speaks (join an event by its
index, read the session's server-sent events), and the API's ``/call/`` routes, over httpx.

Used by the live tests to do what a browser does (the private analysis step after a run) and what
a rude client does (leave in the middle of an answer)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import gradio as gr
import httpx
from lab_fixtures import ATTRACT, PROMPT, REPEL

from sara_core.engine.request import CompareRequest


def compare_values(**kw: Any) -> list[Any]:
    """The 17 ``/compare`` values in API order: the paper's texts, ``kw`` overriding fields."""
    defaults = {f: None for f in CompareRequest.names()}
    defaults.update(
        dilemma=PROMPT,
        attract=ATTRACT,
        repel=REPEL,
        layer=2,
        max_new_tokens=8,
        k=0,
        sara_coeff=1.0,
        actadd_coeff=4.0,
        scope="prompt",
        do_sample=False,
        temperature=0.8,
        top_p=1.0,
        seed=0,
        sign="raw",
        actadd_mode="prefix",
        prompted=True,
        instruction="",
    )
    defaults.update(kw)
    return [defaults[f] for f in CompareRequest.names()]


def event_index(demo: gr.Blocks, api_name: str | None = None, after: int | None = None) -> int:
    """The index of the event called ``api_name``, or of the one that runs after event ``after``."""
    for fn in demo.fns.values():
        if api_name is not None and fn.api_name == api_name:
            return int(fn._id)
        if after is not None and getattr(fn, "trigger_after", None) == after:
            return int(fn._id)
    raise KeyError(api_name or after)


class Visitor:
    """One page session (its own session hash), speaking the page's queue protocol."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        self.http = httpx.Client(base_url=url, timeout=timeout)
        self.session = uuid.uuid4().hex

    def close(self) -> None:
        self.http.close()

    def run(self, fn_index: int, data: list[Any]) -> dict[str, Any]:
        """Join an event and read the session's events until it completes; its last message."""
        body = {"data": data, "fn_index": fn_index, "session_hash": self.session}
        joined = self.http.post("/gradio_api/queue/join", json=body)
        joined.raise_for_status()
        event_id = joined.json()["event_id"]
        url = f"/gradio_api/queue/data?session_hash={self.session}"
        with self.http.stream("GET", url) as stream:
            for line in stream.iter_lines():
                if not line.startswith("data: "):
                    continue
                message = json.loads(line[len("data: ") :])
                done = message.get("msg") == "process_completed"
                if done and message.get("event_id") == event_id:
                    return dict(message)
        raise AssertionError("the event never completed")


def call_events(http: httpx.Client, api_name: str, data: list[Any]) -> Iterator[tuple[str, Any]]:
    """``/gradio_api/call/<api_name>``: (event, data) as the server sends them; leaving the loop
    closes the connection, as a client that goes away does."""
    event_id = http.post(f"/gradio_api/call/{api_name}", json={"data": data}).json()["event_id"]
    with http.stream("GET", f"/gradio_api/call/{api_name}/{event_id}") as stream:
        event = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                yield event, json.loads(line[len("data: ") :])

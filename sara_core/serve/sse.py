"""OpenAI's response shapes: the ``chat.completion`` object and the server-sent event stream.

The stream sends a first chunk with the assistant's role, one chunk per safe text delta, a last
chunk with ``finish_reason``, then (with ``stream_options.include_usage``) a chunk of usage, and
``data: [DONE]``. While a request waits for its batch, a comment line every few seconds keeps
proxies from closing the connection and lets the server notice a client that left (the write
fails, the stream is closed, and the run is stopped).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from sara_core.serve.engine import Outcome, Run
from sara_core.serve.errors import ApiError, internal_error

KEEPALIVE_S = 2.0
"""Seconds without an event before the stream sends a comment line."""
GRACE_S = 15.0
"""Past a request's budget, how long to wait for the work to report before giving up."""


def usage(outcome: Outcome) -> dict[str, int]:
    return {
        "prompt_tokens": outcome.prompt_tokens,
        "completion_tokens": outcome.completion_tokens,
        "total_tokens": outcome.prompt_tokens + outcome.completion_tokens,
    }


def completion_body(run: Run, ident: str, model: str, outcome: Outcome) -> dict[str, Any]:
    """A non-streamed answer; ``steering`` (an extra field) says what steering it had."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": outcome.text},
                "finish_reason": outcome.finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage(outcome),
        "steering": run.plan.describe(),
    }


def _chunk(ident: str, created: int, model: str, delta: dict, finish: str | None) -> dict:
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def sse(data: dict[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


async def event_stream(run: Run, ident: str, model: str) -> AsyncIterator[str]:
    """The run as server-sent events; leaving early (a client gone) stops the run."""
    created = int(time.time())
    finished = False
    try:
        first = {"role": "assistant", "content": ""}
        yield sse(_chunk(ident, created, model, first, None))
        while True:
            try:
                kind, value = await asyncio.wait_for(run.events.get(), KEEPALIVE_S)
            except TimeoutError:
                if time.monotonic() > run.deadline + GRACE_S:
                    err = ApiError(504, "the request ran past its time budget", None, "timeout")
                    yield sse(err.body())
                    break
                yield ": waiting\n\n"
                continue
            if kind == "delta":
                yield sse(_chunk(ident, created, model, {"content": value}, None))
            elif kind == "done":
                outcome: Outcome = value
                rest = run.text.finish(outcome.text)
                if rest:
                    yield sse(_chunk(ident, created, model, {"content": rest}, None))
                last = _chunk(ident, created, model, {}, outcome.finish_reason)
                yield sse(last)
                if run.chat.include_usage:
                    tail = {**_chunk(ident, created, model, {}, None), "choices": []}
                    yield sse({**tail, "usage": usage(outcome)})
                finished = True
                break
            elif kind == "error":
                err = internal_error(value)
                yield sse(err.body())
                break
        yield sse("[DONE]")
    finally:
        if not finished:
            run.cancel()

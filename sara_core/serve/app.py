"""The HTTP routes: ``GET /v1/models``, ``POST /v1/chat/completions`` and ``GET /health``.

FastAPI (which gradio already brings) does the HTTP; this module reads the body (bounded, before
parsing), checks the key, and answers in OpenAI's shapes. Every error a client can cause is an
:class:`~sara_core.serve.errors.ApiError` in OpenAI's error shape; anything else is logged with
its trace and answered as a 500 that carries only a reference number.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException

from sara_core.serve.engine import Engine, Outcome, Run
from sara_core.serve.errors import ApiError, error_body, internal_error
from sara_core.serve.schema import parse_chat
from sara_core.serve.sse import GRACE_S, completion_body, event_stream

log = logging.getLogger("sara_core.serve")

POLL_S = 0.25
"""How often a waiting request checks whether its client is still there."""


def build_app(engine: Engine, api_key: str | None = None) -> FastAPI:
    """The server's ASGI app over a ready :class:`Engine`."""
    app = FastAPI(title="SARA steering server", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine
    created = int(time.time())
    _add_error_handlers(app)

    def authorize(request: Request) -> None:
        _authorize(request, api_key)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": engine.lm.name, **engine.stats.to_json()}

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        authorize(request)
        entry = {
            "id": engine.lm.name,
            "object": "model",
            "created": created,
            "owned_by": "sara",
            "steering": engine.resolver.default.describe(),
        }
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        authorize(request)
        return await _chat_completion(engine, request)

    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error answers as OpenAI-style JSON (a 503 also says when to retry)."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        headers = {"Retry-After": "2"} if exc.status == 503 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(error_body(400, "the request is malformed"), 400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return _internal(exc)


def _authorize(request: Request, api_key: str | None) -> None:
    """Raise a 401 unless the request bears ``api_key`` (no key: everyone may ask)."""
    if api_key is None:
        return
    given = request.headers.get("authorization", "")
    scheme, _, token = given.partition(" ")
    sent = token.strip().encode("utf-8", "replace")  # bytes: any header text compares
    if scheme.lower() != "bearer" or not hmac.compare_digest(sent, api_key.encode()):
        raise ApiError(
            401,
            "a valid API key is required (Authorization: Bearer KEY)",
            None,
            "invalid_api_key",
        )


async def _chat_completion(engine: Engine, request: Request) -> Response:
    """Start the run, wait for its first event (so errors answer as errors), then stream it or
    wait for the whole answer; the run is cancelled on any failure."""
    body = await read_json(request, engine.limits.max_body_bytes)
    chat = parse_chat(body, engine.limits)
    run = engine.start(chat)
    ident = f"chatcmpl-{uuid.uuid4().hex[:24]}"
    try:
        first = await next_event(run, request)
        if first[0] == "error":
            raise internal_error(first[1])
    except BaseException:
        run.cancel()
        raise
    if chat.stream:
        return StreamingResponse(
            event_stream(run, ident, engine.lm.name),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    try:
        while True:
            kind, value = await next_event(run, request)
            if kind == "done":
                outcome: Outcome = value
                return JSONResponse(completion_body(run, ident, engine.lm.name, outcome))
            if kind == "error":
                raise internal_error(value)
    except BaseException:
        run.cancel()
        raise


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, read at most ``limit`` bytes (413 beyond), or a 400."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(
            413, f"the request body is over this server's {limit} bytes", None, "body_too_large"
        )
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise ApiError(
                413, f"the request body is over this server's {limit} bytes", None, "body_too_large"
            )
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ApiError(400, "the request body is not valid JSON") from None


async def next_event(run: Run, request: Request | None) -> tuple[str, Any]:
    """The run's next event, checking every POLL_S that the client is still there; past the
    request's budget (plus a grace period) the run is stopped and a 504 raised."""
    while True:
        left = run.deadline + GRACE_S - time.monotonic()
        if left <= 0:
            run.cancel()
            raise ApiError(504, "the request ran past its time budget", None, "timeout")
        try:
            return await asyncio.wait_for(run.events.get(), timeout=min(POLL_S, left))
        except TimeoutError:
            if request is not None and await request.is_disconnected():
                run.cancel()
                raise ApiError(499, "the client closed the request") from None


def _internal(exc: BaseException) -> JSONResponse:
    err = internal_error(exc)
    return JSONResponse(err.body(), status_code=err.status)

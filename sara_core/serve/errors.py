"""Errors in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``.

Every failure a client can cause is an :class:`ApiError` with a status (400 bad input, 401 no
key, 404 unknown route, 413 body too large, 503 busy) and a message it can act on; anything else
becomes a 500 whose message is a reference number, the trace going to the server's log only.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sara_core.validation import short_repr

log = logging.getLogger("sara_core.serve")

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "server_error",
    504: "server_error",
}


@dataclass
class ApiError(Exception):
    """A request the server refuses, with the status and OpenAI error fields to answer."""

    status: int
    message: str
    param: str | None = None
    code: str | None = None

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.param, self.code)


def error_body(
    status: int, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The JSON an OpenAI client reads as an error (its ``type`` follows the status)."""
    return {
        "error": {
            "message": message,
            "type": TYPES.get(status, "invalid_request_error" if status < 500 else "server_error"),
            "param": param,
            "code": code,
        }
    }


def bad_request(message: str, param: str | None = None) -> ApiError:
    return ApiError(400, message, param)


def from_input_error(exc: ValueError, param: str | None = None) -> ApiError:
    """A library InputError/ValueError as a 400, its message kept to one bounded line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return ApiError(400, text if len(text) <= 500 else short_repr(text, 500), param)


def internal_error(exc: BaseException) -> ApiError:
    """A failure that is not the client's: logged with its trace under a reference number, and
    answered as a 500 carrying that number only."""
    if isinstance(exc, ApiError):
        return exc
    ref = uuid.uuid4().hex[:8]
    log.error("internal error %s", ref, exc_info=(type(exc), exc, exc.__traceback__))
    return ApiError(500, f"internal error (reference {ref}); the server log has the details")

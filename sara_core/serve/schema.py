"""A chat-completions request body, checked: the fields OpenAI clients send, and ``steering``.

:func:`parse_chat` turns the decoded JSON into a :class:`ChatRequest` or raises a 400
:class:`~sara_core.serve.errors.ApiError` naming the field (``param``). Values are checked with
:mod:`sara_core.validation` (through :class:`~sara_core.config.GenerationSettings` for decoding),
so a number means the same here as in the library, the CLI and the app. Fields that change what
an answer is and that this server cannot honour (``n`` > 1, ``logprobs``, ``tools``, a JSON
``response_format``) are refused rather than silently ignored; other fields clients commonly
send (``user``, ``presence_penalty``, ...) are ignored.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sara_core.config import MAX_SEED, GenerationSettings
from sara_core.serve.errors import bad_request, from_input_error
from sara_core.validation import (
    MAX_NEW_TOKENS,
    MAX_TEXT_CHARS,
    InputError,
    as_bool,
    as_float,
    as_int,
    as_text,
    short_repr,
)

ROLES = ("system", "developer", "user", "assistant")
"""Message roles accepted; "developer" (OpenAI's newer name) is read as "system"."""
STEERING_KEYS = (
    "method",
    "stance",
    "attract",
    "repel",
    "file",
    "layer",
    "coeff",
    "k",
    "scope",
    "sign",
    "actadd_mode",
)
METHODS = ("sara", "actadd", "none")
MAX_STOPS = 4
"""Most stop strings (OpenAI's limit)."""
MAX_STOP_CHARS = 100
MAX_MODEL_CHARS = 300


@dataclass(frozen=True)
class Limits:
    """What one request may ask for; the server's command line sets them."""

    max_body_bytes: int = 256 * 1024
    max_messages: int = 64
    max_message_chars: int = MAX_TEXT_CHARS
    max_conversation_chars: int = 32_000
    max_prompt_tokens: int = 1024
    max_tokens: int = 256
    default_max_tokens: int = 128
    budget_s: float = 120.0

    def check(self) -> Limits:
        """The limits themselves, checked (they come from a command line)."""
        as_int("--max-body-bytes", self.max_body_bytes, 1024, 64 * 1024 * 1024)
        as_int("--max-messages", self.max_messages, 1, 10_000)
        as_int("--max-message-chars", self.max_message_chars, 1, 10_000_000)
        as_int("--max-prompt-tokens", self.max_prompt_tokens, 1, 1_000_000)
        as_int("--max-tokens", self.max_tokens, 1, MAX_NEW_TOKENS)
        as_int("default max tokens", self.default_max_tokens, 1, self.max_tokens)
        as_float("--timeout", self.budget_s, 1.0, 24 * 3600.0)
        return self


@dataclass(frozen=True)
class SteeringRequest:
    """The ``steering`` field as sent: its keys checked, its values still raw (they are checked
    against the model by :mod:`sara_core.serve.steering`)."""

    method: str | None = None
    stance: str | None = None
    attract: str | None = None
    repel: str | None = None
    file: str | None = None
    layer: Any = None
    coeff: Any = None
    k: Any = None
    scope: Any = None
    sign: Any = None
    actadd_mode: Any = None


@dataclass(frozen=True)
class ChatRequest:
    """A checked chat-completions request."""

    messages: list[dict[str, str]]
    settings: GenerationSettings
    stop: tuple[str, ...] = ()
    stream: bool = False
    include_usage: bool = False
    steering: SteeringRequest | None = None
    model: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _content(value: Any, where: str, limit: int) -> str:
    """A message's text: a string, or OpenAI's list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(value, list):
        if len(value) > 64:
            raise bad_request(f"{where}: at most 64 content parts", where)
        parts: list[str] = []
        for part in value:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise bad_request(f"{where}: only text content parts are supported", where)
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request(f"{where}: every text part needs a 'text' string", where)
            parts.append(text)
        value = "".join(parts)
    if not isinstance(value, str):
        raise bad_request(f"{where} must be text, got {type(value).__name__}", where)
    if len(value) > limit:
        raise bad_request(
            f"{where} is too long: {len(value)} characters, the limit is {limit}", where
        )
    return value


def parse_messages(raw: Any, limits: Limits) -> list[dict[str, str]]:
    """The conversation: 1..max_messages messages of known roles, each and all bounded."""
    if not isinstance(raw, list) or not raw:
        raise bad_request("'messages' must be a non-empty list of messages", "messages")
    if len(raw) > limits.max_messages:
        raise bad_request(
            f"too many messages: {len(raw)}, the limit is {limits.max_messages}", "messages"
        )
    out: list[dict[str, str]] = []
    total = 0
    for i, msg in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(msg, Mapping):
            raise bad_request(f"{where} must be an object with 'role' and 'content'", where)
        role = msg.get("role")
        if role not in ROLES:
            raise bad_request(
                f"{where}.role must be one of {', '.join(ROLES)}; got {short_repr(role)}",
                f"{where}.role",
            )
        content = _content(msg.get("content"), f"{where}.content", limits.max_message_chars)
        total += len(content)
        out.append({"role": "system" if role == "developer" else str(role), "content": content})
    if total > limits.max_conversation_chars:
        raise bad_request(
            f"the conversation is too long: {total} characters, the limit is "
            f"{limits.max_conversation_chars}",
            "messages",
        )
    if not any(m["content"].strip() for m in out):
        raise bad_request("every message is empty: write some text", "messages")
    return out


def parse_stop(raw: Any) -> tuple[str, ...]:
    """``stop``: null, one string, or a list of up to four non-empty strings."""
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or len(items) > MAX_STOPS:
        raise bad_request(f"'stop' must be a string or a list of up to {MAX_STOPS}", "stop")
    for s in items:
        if not isinstance(s, str) or not s or len(s) > MAX_STOP_CHARS:
            raise bad_request(
                f"every stop sequence must be a non-empty string of at most {MAX_STOP_CHARS} "
                f"characters; got {short_repr(s)}",
                "stop",
            )
    return tuple(dict.fromkeys(items))


def parse_settings(body: Mapping[str, Any], limits: Limits) -> GenerationSettings:
    """Decoding: ``temperature`` 0 is greedy (OpenAI's default is 1); ``seed`` makes sampling
    reproducible (without one a random seed is drawn)."""
    try:
        raw_max = body.get("max_completion_tokens", body.get("max_tokens"))
        max_tokens = limits.default_max_tokens if raw_max is None else raw_max
        max_tokens = as_int(
            "max_tokens", max_tokens, 1, limits.max_tokens, " (this server's limit)"
        )
        temperature = as_float("temperature", _or(body, "temperature", 1.0), 0.0, 2.0)
        top_p = as_float("top_p", _or(body, "top_p", 1.0), 0.0, 1.0)
        seed = body.get("seed")
        seed = secrets.randbelow(2**31) if seed is None else as_int("seed", seed, 0, MAX_SEED)
        return GenerationSettings(
            max_new_tokens=max_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else 1.0,
            top_p=top_p,
            seed=seed,
        ).validate(limits.max_tokens)
    except InputError as exc:
        raise from_input_error(exc, _param_of(str(exc))) from None


def _or(body: Mapping[str, Any], key: str, default: Any) -> Any:
    value = body.get(key)
    return default if value is None else value


def _param_of(message: str) -> str | None:
    for name in ("max_tokens", "temperature", "top_p", "seed"):
        if message.startswith(name):
            return name
    return None


def parse_steering(raw: Any) -> SteeringRequest | None:
    """``steering``: null (the server's default) or an object of known keys."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise bad_request('\'steering\' must be an object, e.g. {"stance": "formal"}', "steering")
    unknown = [str(k) for k in raw if k not in STEERING_KEYS]
    if unknown:
        raise bad_request(
            f"unknown steering field(s) {short_repr(unknown)}; known: {', '.join(STEERING_KEYS)}",
            "steering",
        )
    method = raw.get("method")
    if method is not None and method not in METHODS:
        raise bad_request(
            f"steering.method must be one of {', '.join(METHODS)}; got {short_repr(method)}",
            "steering.method",
        )
    texts = {}
    for key in ("stance", "attract", "repel", "file"):
        value = raw.get(key)
        if value is not None:
            try:
                texts[key] = as_text(f"steering.{key}", value)
            except InputError as exc:
                raise from_input_error(exc, f"steering.{key}") from None
    numbers = {k: raw.get(k) for k in ("layer", "coeff", "k", "scope", "sign", "actadd_mode")}
    return SteeringRequest(method=method, **texts, **numbers)


def parse_chat(body: Any, limits: Limits) -> ChatRequest:
    """Check a decoded request body; every problem is a 400 naming its field."""
    if not isinstance(body, Mapping):
        raise bad_request("the request body must be a JSON object")
    model = body.get("model", "")
    if model is not None and (not isinstance(model, str) or len(model) > MAX_MODEL_CHARS):
        raise bad_request("'model' must be a short string", "model")
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request("this server answers one choice per request: 'n' must be 1", "n")
    if body.get("logprobs") or body.get("top_logprobs"):
        raise bad_request("this server does not return logprobs", "logprobs")
    if body.get("tools") or body.get("functions"):
        raise bad_request("this server does not call tools", "tools")
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, Mapping) and fmt.get("type") == "text"):
        raise bad_request('only response_format {"type": "text"} is supported', "response_format")
    try:
        stream = as_bool("stream", body.get("stream") or False)
    except InputError as exc:
        raise from_input_error(exc, "stream") from None
    options = body.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    return ChatRequest(
        messages=parse_messages(body.get("messages"), limits),
        settings=parse_settings(body, limits),
        stop=parse_stop(body.get("stop")),
        stream=stream,
        include_usage=include_usage,
        steering=parse_steering(body.get("steering")),
        model=model or "",
    )

"""An OpenAI-compatible chat endpoint as judge (``--judge-url URL --judge-model NAME``), as the
pre-print had GPT-4 label the answers. Off by default; nothing is sent anywhere unless asked.

Each answer is one request to ``URL/chat/completions`` (temperature 0, a few tokens) with the same
question as the hub judge; the reply is read as one of the nine labels (the eight schools or
Unclassifiable). A reply that names no label, or several, counts as Unclassifiable. The HTTP call
is a replaceable ``transport`` so tests use a stub; the API key comes from the command line's
entry point (an environment variable read once there), never from here.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sara_core.evaluation.judges.lm import MAX_JUDGED_CHARS, PROMPT_JUDGE_QUESTION
from sara_core.evaluation.schools import SCHOOL_LABELS, SCHOOLS, UNCLASSIFIABLE

MAX_RESPONSE_BYTES = 1_000_000
"""Largest endpoint reply read (a label needs a few bytes)."""
MAX_ERROR_BYTES = 20_000
"""Most bytes of an error reply read for its message."""

Transport = Callable[[str, dict[str, Any], dict[str, str], float], dict[str, Any]]
"""post(url, json_payload, headers, timeout_s) -> the decoded JSON reply."""


class JudgeError(RuntimeError):
    """The judge could not answer (endpoint unreachable, HTTP error, malformed reply)."""


def urllib_post(
    url: str, payload: dict[str, Any], headers: dict[str, str], timeout: float
) -> dict[str, Any]:
    """POST JSON with the standard library; errors become one-line :class:`JudgeError`s."""
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - user's URL
            body = resp.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise JudgeError(
            f"the judge endpoint {url} answered HTTP {exc.code} {exc.reason}{error_message(exc)}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise JudgeError(f"cannot reach the judge endpoint {url}: {reason}") from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise JudgeError(f"the judge endpoint's reply is over {MAX_RESPONSE_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise JudgeError("the judge endpoint's reply is not JSON") from None
    if not isinstance(data, dict):
        raise JudgeError("the judge endpoint's reply is not a JSON object")
    return data


def error_message(exc: urllib.error.HTTPError) -> str:
    """ ": <message>" of an OpenAI-style error body (first line, bounded), or ""."""
    try:
        message = json.loads(exc.read(MAX_ERROR_BYTES))["error"]["message"]
    except Exception:  # noqa: BLE001 - any body that is not OpenAI's error shape says nothing
        return ""
    if not isinstance(message, str) or not message.strip():
        return ""
    return ": " + message.strip().splitlines()[0][:300]


def parse_label(reply: str) -> str | None:
    """The one label a reply names: an exact match (case, spaces and punctuation aside), else the
    only label it contains; None when it names none or several."""
    clean = " ".join(re.sub(r"[^a-z ]+", " ", reply.lower()).split())
    for label in SCHOOL_LABELS:
        if clean == label.lower().replace("-", " "):
            return label
    found = [lab for lab in SCHOOL_LABELS if lab.lower().replace("-", " ") in clean]
    return found[0] if len(found) == 1 else None


def reply_text(data: dict[str, Any]) -> str:
    """The message content of an OpenAI-style chat completion."""
    try:
        content = data["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError("the judge endpoint's reply has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise JudgeError("the judge endpoint's message content is not text")
    return content


class EndpointJudge:
    """A chat-completions endpoint asked for the label of each answer, one request per answer."""

    chunk_size = 1  # answers per call: the judge reports progress after each

    def __init__(
        self,
        url: str,
        model: str,
        api_key: str | None = None,
        transport: Transport | None = None,
        timeout: float = 60.0,
    ):
        base = url.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.model = model
        self.name = f"endpoint:{model}"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._post = transport or urllib_post
        self.timeout = timeout

    def ask(self, answer: str, dilemma: str | None) -> str:
        """The endpoint's raw reply about one answer."""
        question = PROMPT_JUDGE_QUESTION.format(
            dilemma=(dilemma or "(not given)")[:MAX_JUDGED_CHARS],
            answer=answer.strip()[:MAX_JUDGED_CHARS],
            schools=", ".join(SCHOOLS),
        )
        payload = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": "You label the ethical reasoning of answers."},
                {"role": "user", "content": question},
            ],
            "temperature": 0,
            "max_tokens": 16,
        }
        return reply_text(self._post(self.url, payload, self._headers, self.timeout))

    def probabilities(
        self, answers: Sequence[str], dilemmas: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """(n, 8): 1 for the school the endpoint named; a row of zeros where it said
        Unclassifiable or named no single label."""
        dilemmas = list(dilemmas) if dilemmas is not None else [None] * len(answers)
        out = np.zeros((len(answers), len(SCHOOLS)))
        for i, (a, d) in enumerate(zip(answers, dilemmas, strict=True)):
            label = parse_label(self.ask(a, d))
            if label is not None and label != UNCLASSIFIABLE:
                out[i, SCHOOLS.index(label)] = 1.0
        return out

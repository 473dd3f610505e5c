"""Streamed text and stop sequences: what part of an answer may be sent yet.

The answer's text is decoded from all its tokens after every step (the same ``decode`` that
makes the library's answers, so the joined stream equals the non-streamed text). A delta is sent
only when it is final: text that could still become a stop sequence is held back, and so is a
trailing replacement character (half of a multi-byte character whose other bytes are in the next
token). A stop sequence cuts the answer before it, as OpenAI's ``stop`` does.
"""

from __future__ import annotations

from collections.abc import Sequence

REPLACEMENT = "\ufffd"


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence in it, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return (text[: min(hits)], True) if hits else (text, False)


def held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of ``text`` could still start a stop sequence."""
    longest = 0
    for stop in stops:
        for n in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:n]):
                longest = n
                break
    return longest


class TextStream:
    """Turns successive decodes of a growing answer into deltas that are safe to send."""

    def __init__(self, stops: Sequence[str] = ()):
        self.stops = tuple(stops)
        self.sent = ""
        self.stopped = False

    def update(self, text: str) -> str:
        """The new text to send after this decode ('' if none); sets :attr:`stopped` when a
        stop sequence appeared (the answer ends before it)."""
        if self.stopped:
            return ""
        text, self.stopped = cut_at_stop(text, self.stops)
        if not self.stopped:
            keep = held_back(text, self.stops)
            text = text[: len(text) - keep]
            while text.endswith(REPLACEMENT):
                text = text[:-1]
        return self._advance(text)

    def finish(self, final: str) -> str:
        """The rest of the answer, once generation is over (``final``: its whole text, already
        cut at any stop sequence)."""
        return self._advance(final)

    def _advance(self, text: str) -> str:
        if not text.startswith(self.sent) or len(text) <= len(self.sent):
            # a decode that rewrote earlier text (rare: tokenizer clean-up) waits for the end
            return ""
        delta = text[len(self.sent) :]
        self.sent = text
        return delta

"""One place where user-supplied values are checked, for the library, the CLI, the API and the UI.

Every check raises :class:`InputError` (a ``ValueError``) with a message a person can act on.
Values may come from Python callers, argparse, JSON over the API (where numbers can arrive as
strings, floats or NaN) or widgets, so the coercions accept what is unambiguous (``"3"``, ``3.0``)
and refuse the rest. Messages quote values through :func:`short_repr`, so a huge or deeply nested
value can never make an error message large.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MAX_TEXT_CHARS = 8_000
"""Longest text (dilemma, attract, repel, instruction) accepted before tokenizing. The real limit
is in tokens (``MAX_PROMPT_TOKENS``); this bound keeps the tokenizer from ever seeing megabytes."""
MAX_PROMPT_TOKENS = 512
"""Longest dilemma, attract, repel or instruction accepted, in tokens."""
MAX_COEFF = 100.0
"""Largest |coefficient| for SARA's lambda and ActAdd's c: beyond it steering only makes noise."""
MAX_NEW_TOKENS = 1024
"""Most new tokens one answer may have in the library (apps set lower caps)."""
MAX_K = 10_000
"""Largest SVD rank a caller may ask for; the real bound is the shortest prompt's length."""
REPR_LIMIT = 200
"""Characters of a value quoted in an error message, at most."""


class InputError(ValueError):
    """A value from a user is unusable; the message says which value and what to change."""


_REPR = reprlib.Repr()
_REPR.maxstring = REPR_LIMIT - 20
_REPR.maxother = REPR_LIMIT - 20
_REPR.maxlevel = 3
for _name in ("maxlist", "maxtuple", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_REPR, _name, 6)


def short_repr(value: Any, limit: int = REPR_LIMIT) -> str:
    """A repr of ``value`` of at most ``limit`` characters, whatever its size or depth.

    ``reprlib`` (standard library) bounds the depth and the items it walks, so a value built by a
    YAML alias bomb is described in microseconds instead of expanded into gigabytes.
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_int(name: str, value: Any, lo: int, hi: int, hint: str = "") -> int:
    """An integer in [lo, hi] from an int, an integral float or a numeric string."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(f"{name} must be a whole number, got {short_repr(value)}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InputError(f"{name} must be a whole number, got {short_repr(value)}")
    if isinstance(number, float) and (not math.isfinite(number) or number != int(number)):
        raise InputError(f"{name} must be a whole number, got {short_repr(value)}")
    number = int(number)
    if not lo <= number <= hi:
        raise InputError(f"{name}={number} is out of range: it must be between {lo} and {hi}{hint}")
    return number


def as_float(name: str, value: Any, lo: float, hi: float) -> float:
    """A finite number in [lo, hi]; NaN, infinities and non-numbers are refused."""
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(f"{name} must be a number, got {short_repr(value)}") from None
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise InputError(f"{name} must be a number, got {short_repr(value)}")
    if not math.isfinite(number):
        raise InputError(f"{name} must be a finite number, got {number}")
    if not lo <= number <= hi:
        raise InputError(f"{name}={number:g} is out of range: it must be between {lo:g} and {hi:g}")
    return float(number)


def as_bool(name: str, value: Any) -> bool:
    """True or False from a bool, 0/1 or the strings true/false/1/0."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise InputError(f"{name} must be true or false, got {short_repr(value)}")


def as_text(name: str, value: Any, max_chars: int = MAX_TEXT_CHARS) -> str:
    """Non-empty text of at most ``max_chars`` characters, stripped of surrounding space."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InputError(f"{name} must be text, got {type(value).__name__}")
    if not value.strip():
        raise InputError(f"{name} is empty: write some text")
    if len(value) > max_chars:
        raise InputError(
            f"{name} is too long: {len(value)} characters, the limit is {max_chars} "
            f"(and {MAX_PROMPT_TOKENS} tokens)"
        )
    return value.strip()


def as_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """One of ``choices``, exactly."""
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}; got {short_repr(value)}")
    return value


def as_optional_int(name: str, value: Any, lo: int, hi: int, hint: str = "") -> int | None:
    """None (meaning "the default") or an integer in [lo, hi]; an empty string counts as None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return as_int(name, value, lo, hi, hint)


def as_k(value: Any) -> int | None:
    """SARA's SVD rank: None or 0 mean "auto" (the shortest prompt's token count)."""
    k = as_optional_int("k", value, 0, MAX_K, " (0 = auto)")
    return None if k == 0 else k


def default_layer(n_layers: int) -> int:
    """The block steered when none is named: the middle one, where the prompt's meaning is formed
    and can still be redirected."""
    return n_layers // 2


def resolve_layer(layer: Any, n_layers: int) -> int:
    """The block index to steer: None means :func:`default_layer`; negative counts from the end,
    as in Python (-1 is the last block). Returns an index in [0, n_layers)."""
    if layer is None:
        return default_layer(n_layers)
    index = as_int(
        "layer",
        layer,
        -n_layers,
        n_layers - 1,
        f" (this model has {n_layers} blocks, 0..{n_layers - 1}; negative counts from the end)",
    )
    return index % n_layers


def same_text(a: str, b: str) -> bool:
    """Whether two texts are the same up to case and spacing (attract == repel is refused)."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def as_out_path(text: str | None) -> Path | None:
    """An output file (``--json FILE``, ``--plot FILE``), checked before any work: its folder
    must exist, so a long run never ends on a path it cannot write."""
    if not text:
        return None
    path = Path(text).expanduser()
    if not path.parent.is_dir():
        raise InputError(f"cannot write {text}: its folder does not exist")
    return path

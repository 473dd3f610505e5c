"""Checking the entries of a parsed preset file: lists, fields, texts and slugs.

Shared by the stance, dilemma, questionnaire and choice-bank loaders, so that every file kind
refuses the same defects with the same messages: the file, the entry (1-based position and
name) and the field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sara_core.presets.files import PresetError
from sara_core.validation import short_repr

MAX_NAME_CHARS = 64
"""Longest stance name, dilemma id, item id or pole name accepted."""
MAX_SHORT_CHARS = 300
"""Longest title, description or source accepted."""
MAX_ENTRIES = 500
"""Most entries (stances, dilemmas, questionnaire or choice items) one file may hold."""
MAX_LISTED = 10
"""Most keys or names quoted in one message."""

_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$", re.IGNORECASE)


def type_name(value: Any) -> str:
    """What a parsed value is, in words (``"a number"``, ``"a list"``...)."""
    if value is None:
        return "nothing (null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    for typ, name in names.items():
        if type(value) is typ:
            return name
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def key_list(keys: Iterable[Any]) -> str:
    """Keys for a message: short plain names as they are, others through ``short_repr``, at
    most :data:`MAX_LISTED` of them."""
    shown: list[str] = []
    count = 0
    for key in keys:
        count += 1
        if count <= MAX_LISTED:
            plain = isinstance(key, str) and len(key) <= MAX_NAME_CHARS and key.isprintable()
            shown.append(key if plain else short_repr(key, 80))
    if count > MAX_LISTED:
        shown.append(f"... ({count - MAX_LISTED} more)")
    return ", ".join(shown)


def names(values: Iterable[str]) -> str:
    """Names for a message, or ``(none)``."""
    return ", ".join(values) or "(none)"


def norm(text: str) -> str:
    """``text`` compared loosely: case and spacing ignored."""
    return " ".join(text.split()).casefold()


def check_unique(values: Sequence[str], what: str) -> None:
    """Refuse two values that are equal up to case and spacing."""
    seen: set[str] = set()
    for value in values:
        key = norm(value)
        if key in seen:
            raise ValueError(f"duplicate {what} {short_repr(value)} among the added entries")
        seen.add(key)


def entries(path: Path, data: Any, key: str) -> list[Any]:
    """The list of entries: the top level itself, or the list under ``key``."""
    if data is None:
        raise PresetError(path, f"file is empty; expected a list of {key}")
    if isinstance(data, Mapping):
        if key not in data:
            raise PresetError(
                path,
                f"expected a list of {key} or a mapping with the key {key!r} "
                f"(found keys: {key_list(data) or 'none'})",
            )
        extra = [k for k in data if k != key]
        if extra:
            raise PresetError(
                path, f"unknown top-level key(s) {key_list(extra)}; only {key!r} is allowed"
            )
        data = data[key]
    if not isinstance(data, list):
        raise PresetError(path, f"expected a list of {key}, got {type_name(data)}")
    if not data:
        raise PresetError(path, f"the list of {key} is empty")
    if len(data) > MAX_ENTRIES:
        raise PresetError(path, f"too many {key}: {len(data)}, at most {MAX_ENTRIES} per file")
    return data


class Entry:
    """Validation of one entry, raising errors that name the file and the entry (``index``,
    1-based; None for a file's top-level mapping)."""

    def __init__(
        self, path: Path, index: int | None, raw: Any, label_keys: Sequence[str] = ()
    ) -> None:
        self.path = path
        self.index = index
        self.label = ""
        if not isinstance(raw, Mapping):
            raise PresetError(path, f"expected a mapping of fields, got {type_name(raw)}", index)
        self.raw: Mapping[Any, Any] = raw
        for key in label_keys:
            value = raw.get(key)
            if isinstance(value, str) and value.strip():
                self.label = f"{key} {short_repr(value.strip()[:MAX_NAME_CHARS])}"
                break

    def fail(self, problem: str) -> PresetError:
        """An error about this entry (raise it)."""
        return PresetError(self.path, problem, self.index, self.label)

    def check_fields(self, required: Sequence[str], optional: Sequence[str]) -> None:
        """Refuse unknown fields (with a did-you-mean hint) and missing required ones."""
        allowed = [*required, *optional]
        unknown = [k for k in self.raw if k not in allowed]
        if unknown:
            hints = []
            for key in unknown[:MAX_LISTED]:
                close = difflib.get_close_matches(str(key)[:MAX_NAME_CHARS], allowed, n=1)
                quoted = short_repr(key, 80)
                hints.append(f"{quoted} (did you mean {close[0]!r}?)" if close else quoted)
            if len(unknown) > MAX_LISTED:
                hints.append(f"... ({len(unknown) - MAX_LISTED} more)")
            raise self.fail(
                f"unknown field(s) {', '.join(hints)}; allowed fields are {', '.join(allowed)}"
            )
        missing = [k for k in required if k not in self.raw]
        if missing:
            raise self.fail(f"missing required field(s) {', '.join(map(repr, missing))}")

    def text(self, key: str, limit: int, *, required: bool = True, default: str = "") -> str:
        """The field ``key`` as stripped text of at most ``limit`` characters."""
        if key not in self.raw:
            return default
        value = self.raw[key]
        if not isinstance(value, str):
            raise self.fail(
                f"field {key!r} must be a string, got {type_name(value)} ({short_repr(value)})"
            )
        value = value.strip()
        if required and not value:
            raise self.fail(f"field {key!r} is empty")
        if len(value) > limit:
            raise self.fail(f"field {key!r} is too long ({len(value)} characters; at most {limit})")
        return value

    def slug(self, key: str, *, required: bool = True) -> str:
        """The field ``key`` as a slug: letters, digits, ``_`` or ``-``, not only digits."""
        value = self.text(key, MAX_NAME_CHARS, required=required)
        if value and not _SLUG_RE.match(value):
            raise self.fail(
                f"field {key!r} must be a slug (letters, digits, '_' or '-', starting with a "
                f"letter or digit), got {short_repr(value)}"
            )
        if value.isdigit():
            raise self.fail(f"field {key!r} must not be only digits (it would read as a position)")
        return value

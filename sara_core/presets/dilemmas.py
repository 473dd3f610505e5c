"""Dilemmas to put to the model, looked up by id, title or position."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sara_core.presets.entries import (
    MAX_NAME_CHARS,
    MAX_SHORT_CHARS,
    Entry,
    check_unique,
    entries,
    names,
    norm,
)
from sara_core.presets.files import read_file, resolve
from sara_core.validation import MAX_TEXT_CHARS, short_repr


def slugify(text: str) -> str:
    """A lowercase ``[a-z0-9_]`` slug of ``text`` (at most :data:`MAX_NAME_CHARS` characters)."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")[:MAX_NAME_CHARS].strip("_")
    if not slug:
        return "untitled"
    if slug.isdigit():  # an all-digit id would be taken for a 1-based index by get_dilemma
        slug = f"n{slug}"[:MAX_NAME_CHARS]
    return slug


@dataclass(frozen=True)
class Dilemma:
    """A moral dilemma to put to the model; ``id`` defaults to a slug of ``title``."""

    title: str
    text: str
    source: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", slugify(self.title))


def load_dilemmas(path: Path | str | None = None) -> list[Dilemma]:
    """Load dilemmas from ``path`` (YAML, JSON or TOML), or the bundled ``dilemmas.yaml``.

    A missing ``id`` is derived from the title. Raises :class:`PresetError` on any problem.
    """
    parsed = read_file(resolve(path, "dilemmas.yaml"))
    return dilemmas_from(parsed.path, entries(parsed.path, parsed.data, "dilemmas"))


def dilemmas_from(file: Path, raw_entries: list[Any]) -> list[Dilemma]:
    """Dilemmas from the parsed entries of ``file``, each checked."""
    dilemmas: list[Dilemma] = []
    seen_ids: dict[str, int] = {}
    seen_titles: dict[str, int] = {}
    for index, raw in enumerate(raw_entries, start=1):
        entry = Entry(file, index, raw, ("id", "title"))
        entry.check_fields(("title", "text"), ("id", "source"))
        title = entry.text("title", MAX_SHORT_CHARS)
        text = entry.text("text", MAX_TEXT_CHARS)
        dilemma_id = entry.slug("id") if "id" in entry.raw else slugify(title)
        key = dilemma_id.casefold()
        if key in seen_ids:
            raise entry.fail(
                f"duplicate dilemma id {dilemma_id!r} (already used by entry #{seen_ids[key]})"
            )
        tkey = norm(title)
        if tkey in seen_titles:
            raise entry.fail(
                f"duplicate dilemma title {short_repr(title)} "
                f"(already used by entry #{seen_titles[tkey]})"
            )
        seen_ids[key] = seen_titles[tkey] = index
        source = entry.text("source", MAX_SHORT_CHARS, required=False)
        dilemmas.append(Dilemma(title=title, text=text, source=source, id=dilemma_id))
    return dilemmas


def get_dilemma(key: str | int, dilemmas: Sequence[Dilemma] | None = None) -> Dilemma:
    """A dilemma by id, by title (both case-insensitive) or by 1-based position (int or str).

    Raises ``ValueError`` listing the available ids when nothing matches.
    """
    pool = list(load_dilemmas() if dilemmas is None else dilemmas)
    available = names(f"{i}. {d.id}" for i, d in enumerate(pool, start=1))
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise ValueError(f"dilemma key must be an id, a title or a position, got {short_repr(key)}")
    text = "" if isinstance(key, int) else key.strip()
    if isinstance(key, int) or (text.isascii() and text.isdigit()):
        position = key if isinstance(key, int) else int(text) if len(text) <= 18 else 0
        if 1 <= position <= len(pool):
            return pool[position - 1]
        raise ValueError(
            f"no dilemma at position {short_repr(key)} (1 to {len(pool)}); available: {available}"
        )
    wanted = text.casefold()
    for dilemma in pool:
        if dilemma.id.casefold() == wanted:
            return dilemma
    for dilemma in pool:
        if norm(dilemma.title) == norm(text):
            return dilemma
    raise ValueError(f"unknown dilemma {short_repr(key)}; available: {available}")


def merge_dilemmas(
    base: Sequence[Dilemma], extra: Sequence[Dilemma]
) -> tuple[list[Dilemma], list[str]]:
    """Bundled dilemmas followed by user ones; a user dilemma replaces any bundled one with the
    same id or title (case-insensitive). Returns ``(merged, replaced_ids)``.
    """
    check_unique([d.id for d in extra], "dilemma id")
    check_unique([d.title for d in extra], "dilemma title")
    ids = {d.id.casefold() for d in extra}
    titles = {norm(d.title) for d in extra}

    def clashes(d: Dilemma) -> bool:
        return d.id.casefold() in ids or norm(d.title) in titles

    replaced = [d.id for d in base if clashes(d)]
    merged = [d for d in base if not clashes(d)] + list(extra)
    return merged, replaced

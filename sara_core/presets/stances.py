"""Steering stances: a pair of prompts, one to steer towards and one to steer away from."""

from __future__ import annotations

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

CATEGORIES = ("paper", "school", "foundation", "style", "custom")
"""Allowed values of :attr:`Stance.category`."""


@dataclass(frozen=True)
class Stance:
    """A steering direction: go towards ``attract`` and away from ``repel``."""

    name: str
    description: str
    attract: str
    repel: str
    source: str = ""
    category: str = "custom"


def load_stances(path: Path | str | None = None) -> list[Stance]:
    """Load stances from ``path`` (YAML, JSON or TOML), or the bundled ``stances.yaml``.

    Raises :class:`PresetError` (a ``ValueError``) naming the file and entry on any problem.
    """
    parsed = read_file(resolve(path, "stances.yaml"))
    return stances_from(parsed.path, entries(parsed.path, parsed.data, "stances"))


def stances_from(file: Path, raw_entries: list[Any]) -> list[Stance]:
    """Stances from the parsed entries of ``file``, each checked."""
    stances: list[Stance] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_entries, start=1):
        entry = Entry(file, index, raw, ("name",))
        entry.check_fields(("name", "attract", "repel"), ("description", "source", "category"))
        name = entry.slug("name")
        attract = entry.text("attract", MAX_TEXT_CHARS)
        repel = entry.text("repel", MAX_TEXT_CHARS)
        category = entry.text("category", MAX_NAME_CHARS, default="custom") or "custom"
        if category not in CATEGORIES:
            raise entry.fail(
                f"field 'category' must be one of {', '.join(CATEGORIES)}, "
                f"got {short_repr(category)}"
            )
        if norm(attract) == norm(repel):
            raise entry.fail("'attract' and 'repel' are the same text; a stance needs two poles")
        key = name.casefold()
        if key in seen:
            raise entry.fail(f"duplicate stance name {name!r} (already used by entry #{seen[key]})")
        seen[key] = index
        stances.append(
            Stance(
                name=name,
                description=entry.text("description", MAX_SHORT_CHARS, required=False),
                attract=attract,
                repel=repel,
                source=entry.text("source", MAX_SHORT_CHARS, required=False),
                category=category,
            )
        )
    return stances


def get_stance(name: str, stances: Sequence[Stance] | None = None) -> Stance:
    """The stance called ``name`` (case-insensitive); ``ValueError`` listing names if unknown."""
    pool = load_stances() if stances is None else stances
    key = str(name).strip().casefold()
    for stance in pool:
        if stance.name.casefold() == key:
            return stance
    raise ValueError(f"unknown stance {short_repr(name)}; available: {names(s.name for s in pool)}")


def merge_stances(
    base: Sequence[Stance], extra: Sequence[Stance]
) -> tuple[list[Stance], list[str]]:
    """Bundled stances followed by user ones; a user stance replaces a bundled one of the
    same name (case-insensitive). Returns ``(merged, replaced_names)``.
    """
    check_unique([s.name for s in extra], "stance name")
    extra_names = {s.name.casefold() for s in extra}
    replaced = [s.name for s in base if s.name.casefold() in extra_names]
    merged = [s for s in base if s.name.casefold() not in extra_names] + list(extra)
    return merged, replaced

"""Forced-choice item banks: questions with one answer per pole, for a judge-free measure.

A bank has two poles (e.g. ``consequences`` and ``duties``). Each item puts a short situation
to the assistant and offers one first-person answer per pole, written to differ in the pole
only. A measure scores, per item, the probability of each pole's answer; the bank's ``stances``
say which pole each steering stance should push towards. See ``docs/presets.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sara_core.presets.entries import (
    MAX_NAME_CHARS,
    MAX_SHORT_CHARS,
    Entry,
    entries,
    names,
    norm,
    type_name,
)
from sara_core.presets.files import PresetError, presets_dir, read_file
from sara_core.presets.stances import Stance, load_stances
from sara_core.validation import MAX_TEXT_CHARS, short_repr

BANK_GLOB = "choice_*.yaml"
"""File names of the bundled banks in the presets folder."""
_ITEM_KEYS = ("id", "question", "act")  # besides one option per pole


@dataclass(frozen=True)
class ChoiceItem:
    """One question and one answer per pole (``options``: pole -> text, in the bank's order).

    ``act`` names the pole whose answer is the one that does something (the other refrains);
    it is empty where the distinction does not apply. Banks balance it, so that a model's
    general leaning to act or to refrain cannot pass for a leaning to one pole.
    """

    id: str
    question: str
    options: dict[str, str]
    act: str = ""


@dataclass(frozen=True)
class ChoiceBank:
    """A named set of forced-choice items between two poles."""

    name: str
    description: str
    poles: tuple[str, str]
    items: list[ChoiceItem]
    stances: dict[str, str]
    """Stance preset name -> the pole that stance steers towards."""
    source: str = ""


def load_choice_bank(path: Path | str, stances: Sequence[Stance] | None = None) -> ChoiceBank:
    """Load a forced-choice bank from ``path`` (YAML, JSON or TOML).

    Stance names in the bank's ``stances`` mapping must exist in ``stances`` (default: the
    bundled stances). Raises :class:`PresetError` naming the file (and item) on any problem.
    """
    parsed = read_file(path)
    file, data = parsed.path, parsed.data
    if not isinstance(data, Mapping):
        raise PresetError(file, f"expected a mapping at the top level, got {type_name(data)}")
    header = Entry(file, None, data)
    header.check_fields(("name", "poles", "items"), ("description", "source", "stances"))
    poles = _poles(file, data["poles"])
    known = load_stances() if stances is None else stances
    return ChoiceBank(
        name=header.slug("name"),
        description=header.text("description", MAX_SHORT_CHARS, required=False),
        poles=poles,
        items=_items(file, entries(file, {"items": data["items"]}, "items"), poles),
        stances=_stance_poles(file, data.get("stances") or {}, poles, known),
        source=header.text("source", MAX_SHORT_CHARS, required=False),
    )


def bundled_choice_banks() -> list[ChoiceBank]:
    """The banks shipped in the presets folder (``choice_*.yaml``), by file name."""
    stances = load_stances()
    return [load_choice_bank(p, stances) for p in sorted(presets_dir().glob(BANK_GLOB))]


def get_choice_bank(name: str, banks: Sequence[ChoiceBank] | None = None) -> ChoiceBank:
    """The bank called ``name`` (case-insensitive); ``ValueError`` listing names if unknown."""
    pool = bundled_choice_banks() if banks is None else banks
    for bank in pool:
        if bank.name.casefold() == str(name).strip().casefold():
            return bank
    raise ValueError(
        f"unknown choice bank {short_repr(name)}; available: {names(b.name for b in pool)}"
    )


def _poles(file: Path, raw: Any) -> tuple[str, str]:
    """The two pole names: distinct slugs that are not item field names."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise PresetError(
            file, f"'poles' must be a list of two names, got {type_name(raw)} ({short_repr(raw)})"
        )
    checked = [Entry(file, None, {"poles": pole}).slug("poles") for pole in raw]
    first, second = checked
    if first.casefold() == second.casefold():
        raise PresetError(file, f"the two poles must differ, got {first!r} twice")
    for pole in checked:
        if pole in _ITEM_KEYS:
            raise PresetError(file, f"a pole may not be called {pole!r} (an item field's name)")
    return first, second


def _stance_poles(
    file: Path, raw: Any, poles: tuple[str, str], known: Sequence[Stance]
) -> dict[str, str]:
    """Stance name -> pole, for stances that exist, towards poles of this bank."""
    if not isinstance(raw, Mapping):
        raise PresetError(file, f"'stances' must map stance names to poles, got {type_name(raw)}")
    by_key = {s.name.casefold(): s.name for s in known}
    out: dict[str, str] = {}
    for stance, pole in raw.items():
        if not isinstance(stance, str) or stance.strip().casefold() not in by_key:
            raise PresetError(
                file,
                f"'stances' names an unknown stance {short_repr(stance)}; "
                f"known stances: {names(by_key.values())}",
            )
        if pole not in poles:
            raise PresetError(
                file,
                f"'stances' maps {stance!r} to {short_repr(pole)}, which is not a pole "
                f"(poles: {', '.join(poles)})",
            )
        out[by_key[stance.strip().casefold()]] = pole
    return out


def _items(file: Path, raw_items: list[Any], poles: tuple[str, str]) -> list[ChoiceItem]:
    items: list[ChoiceItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_items, start=1):
        entry = Entry(file, index, raw, ("id",))
        entry.check_fields(("id", "question", *poles), ("act",))
        item_id = entry.slug("id")
        key = item_id.casefold()
        if key in seen:
            raise entry.fail(f"duplicate item id {item_id!r} (already used by entry #{seen[key]})")
        seen[key] = index
        question = entry.text("question", MAX_TEXT_CHARS)
        options = {pole: entry.text(pole, MAX_TEXT_CHARS) for pole in poles}
        if norm(options[poles[0]]) == norm(options[poles[1]]):
            raise entry.fail("the two options are the same text; each pole needs its own answer")
        act = entry.text("act", MAX_NAME_CHARS, required=False)
        if act and act not in poles:
            raise entry.fail(
                f"field 'act' must name a pole ({', '.join(poles)}), got {short_repr(act)}"
            )
        items.append(ChoiceItem(item_id, question, options, act))
    return items

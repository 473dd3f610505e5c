"""The MFQ-style questionnaire: items answered on a numeric scale, scored per foundation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sara_core.presets.entries import (
    MAX_NAME_CHARS,
    MAX_SHORT_CHARS,
    Entry,
    entries,
    key_list,
    type_name,
)
from sara_core.presets.files import PresetError, read_file, resolve
from sara_core.validation import MAX_TEXT_CHARS, short_repr

FOUNDATIONS = ("care", "fairness", "loyalty", "authority", "sanctity", "liberty")
"""Moral foundations a questionnaire item may belong to (besides ``"catch"``)."""
_TOP_KEYS = ("name", "source", "scale_min", "scale_max", "instructions", "anchors", "items")
_MAX_SCALE = 100


@dataclass(frozen=True)
class QuestionnaireItem:
    """One questionnaire item. ``expected`` is the passing answer range of a catch item."""

    id: str
    foundation: str
    part: str
    text: str
    expected: tuple[int, int] | None = None


@dataclass(frozen=True)
class Questionnaire:
    """An MFQ-style questionnaire: items answered on a ``scale_min``..``scale_max`` scale."""

    items: tuple[QuestionnaireItem, ...]
    scale_min: int
    scale_max: int
    instructions: Mapping[str, str]
    anchors: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    name: str = ""
    source: str = ""

    @property
    def foundations(self) -> list[str]:
        """Foundations present, in order of first appearance (catch items excluded)."""
        seen: dict[str, None] = {}
        for item in self.items:
            if item.foundation != "catch":
                seen.setdefault(item.foundation)
        return list(seen)

    @property
    def catch_items(self) -> list[QuestionnaireItem]:
        """The catch (attention-check) items."""
        return [item for item in self.items if item.foundation == "catch"]

    def items_for(self, foundation: str) -> list[QuestionnaireItem]:
        """Items of one foundation (or ``"catch"``)."""
        return [item for item in self.items if item.foundation == foundation]

    def prompt_for(self, item: QuestionnaireItem) -> str:
        """The text to put to a model: the part's instructions, then the item."""
        return f"{self.instructions[item.part]}\n\n{item.text}"

    def foundation_scores(self, answers: Mapping[str, float]) -> dict[str, float]:
        """Mean answer per foundation over the answered items (item id -> answer)."""
        scores: dict[str, float] = {}
        for foundation in self.foundations:
            values = [answers[i.id] for i in self.items_for(foundation) if i.id in answers]
            if values:
                scores[foundation] = sum(values) / len(values)
        return scores

    def catch_passed(self, answers: Mapping[str, float]) -> bool:
        """True when every answered catch item lies in its expected range."""
        for item in self.catch_items:
            if item.id in answers and item.expected is not None:
                low, high = item.expected
                if not low <= answers[item.id] <= high:
                    return False
        return True


def load_questionnaire(path: Path | str | None = None) -> Questionnaire:
    """Load an MFQ-style questionnaire from ``path``, or the bundled ``mfq.yaml``.

    Raises :class:`PresetError` naming the file (and item) on any problem.
    """
    parsed = read_file(resolve(path, "mfq.yaml"))
    file, data = parsed.path, parsed.data
    _check_top_level(file, data)
    scale_min, scale_max = _scale(file, data)
    instructions = _instructions(file, data["instructions"])
    anchors = _anchors(file, data.get("anchors", {}) or {}, instructions, scale_min, scale_max)

    items: list[QuestionnaireItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries(file, {"items": data["items"]}, "items"), start=1):
        entry = Entry(file, index, raw, ("id",))
        item = _item(entry, instructions, scale_min, scale_max)
        key = item.id.casefold()
        if key in seen:
            raise entry.fail(f"duplicate item id {item.id!r} (already used by entry #{seen[key]})")
        seen[key] = index
        items.append(item)

    return Questionnaire(
        items=tuple(items),
        scale_min=scale_min,
        scale_max=scale_max,
        instructions=instructions,
        anchors=anchors,
        name=_optional_str(file, data, "name"),
        source=_optional_str(file, data, "source"),
    )


def _check_top_level(file: Path, data: Any) -> None:
    """A mapping with only the known top-level keys and all the required ones."""
    if not isinstance(data, Mapping):
        raise PresetError(file, f"expected a mapping at the top level, got {type_name(data)}")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise PresetError(
            file, f"unknown top-level key(s) {key_list(unknown)}; allowed: {', '.join(_TOP_KEYS)}"
        )
    missing = [k for k in ("scale_min", "scale_max", "instructions", "items") if k not in data]
    if missing:
        raise PresetError(file, f"missing top-level key(s) {', '.join(missing)}")


def _scale(file: Path, data: Mapping[str, Any]) -> tuple[int, int]:
    """``scale_min`` and ``scale_max``: bounded integers, the first below the second."""
    scale_min, scale_max = data["scale_min"], data["scale_max"]
    for key, value in (("scale_min", scale_min), ("scale_max", scale_max)):
        if type(value) is not int or abs(value) > _MAX_SCALE:
            raise PresetError(
                file,
                f"{key!r} must be an integer between -{_MAX_SCALE} and {_MAX_SCALE}, "
                f"got {type_name(value)} ({short_repr(value)})",
            )
    if scale_min >= scale_max:
        raise PresetError(file, f"scale_min ({scale_min}) must be below scale_max ({scale_max})")
    return scale_min, scale_max


def _item(
    entry: Entry, instructions: Mapping[str, str], scale_min: int, scale_max: int
) -> QuestionnaireItem:
    """One item: a known foundation (or catch) and part, its text, and a catch item's range."""
    entry.check_fields(("id", "foundation", "part", "text"), ("expected",))
    item_id = entry.slug("id")
    foundation = entry.text("foundation", MAX_NAME_CHARS)
    if foundation not in (*FOUNDATIONS, "catch"):
        raise entry.fail(
            f"field 'foundation' must be one of {', '.join(FOUNDATIONS)}, catch; "
            f"got {short_repr(foundation)}"
        )
    part = entry.text("part", MAX_NAME_CHARS)
    if part not in instructions:
        raise entry.fail(
            f"field 'part' must be one of {', '.join(instructions)}, got {short_repr(part)}"
        )
    text = entry.text("text", MAX_TEXT_CHARS)
    expected = _expected(entry, scale_min, scale_max)
    if foundation == "catch" and expected is None:
        raise entry.fail("a catch item needs an 'expected' answer range [low, high]")
    if foundation != "catch" and expected is not None:
        raise entry.fail("only catch items take an 'expected' answer range")
    return QuestionnaireItem(item_id, foundation, part, text, expected)


def _expected(entry: Entry, scale_min: int, scale_max: int) -> tuple[int, int] | None:
    """The item's ``expected`` answer range [low, high] within the scale, if it has one."""
    if "expected" not in entry.raw:
        return None
    rng = entry.raw["expected"]
    if (
        not isinstance(rng, list)
        or len(rng) != 2
        or any(type(v) is not int for v in rng)
        or not scale_min <= rng[0] <= rng[1] <= scale_max
    ):
        raise entry.fail(
            f"field 'expected' must be [low, high] with {scale_min} <= low <= high <= "
            f"{scale_max}, got {short_repr(rng)}"
        )
    return (rng[0], rng[1])


def _instructions(file: Path, raw: Any) -> dict[str, str]:
    """Part name -> the instructions put before each of its items."""
    if not isinstance(raw, Mapping) or not raw:
        raise PresetError(file, "'instructions' must map each part name to its instructions")
    out: dict[str, str] = {}
    for part, text in raw.items():
        if not isinstance(part, str) or not part.strip() or len(part) > MAX_NAME_CHARS:
            raise PresetError(
                file,
                f"part name {short_repr(part)} must be text of at most {MAX_NAME_CHARS} characters",
            )
        if not isinstance(text, str) or not text.strip():
            raise PresetError(
                file, f"instructions for part {short_repr(part)} must be a non-empty string"
            )
        if len(text.strip()) > MAX_TEXT_CHARS:
            raise PresetError(
                file,
                f"instructions for part {short_repr(part)} are too long "
                f"({len(text.strip())} characters; at most {MAX_TEXT_CHARS})",
            )
        out[part] = text.strip()
    return out


def _anchors(
    file: Path, raw: Any, instructions: Mapping[str, str], scale_min: int, scale_max: int
) -> dict[str, dict[int, str]]:
    """Part name -> {score: label}, every score on the scale."""
    if not isinstance(raw, Mapping):
        raise PresetError(file, "'anchors' must map each part name to {score: label}")
    anchors: dict[str, dict[int, str]] = {}
    for part, labels in raw.items():
        if part not in instructions:
            raise PresetError(file, f"anchors given for unknown part {short_repr(part)}")
        if not isinstance(labels, Mapping):
            raise PresetError(file, f"anchors of part {short_repr(part)} must map scores to labels")
        anchors[part] = {}
        for score, label in labels.items():
            where = f"anchor {short_repr(score)} of part {short_repr(part)}"
            digits = isinstance(score, str) and score.isascii() and score.isdigit()
            score_int = int(score) if digits and len(score) < 4 else score
            if type(score_int) is not int or not scale_min <= score_int <= scale_max:
                raise PresetError(file, f"{where} is not on the scale")
            if not isinstance(label, str) or not label.strip():
                raise PresetError(file, f"{where} needs a text label")
            if len(label.strip()) > MAX_SHORT_CHARS:
                raise PresetError(
                    file, f"{where} is too long (at most {MAX_SHORT_CHARS} characters)"
                )
            anchors[part][score_int] = label.strip()
    return anchors


def _optional_str(file: Path, data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise PresetError(file, f"{key!r} must be a string, got {type_name(value)}")
    if len(value.strip()) > MAX_SHORT_CHARS:
        raise PresetError(file, f"{key!r} is too long (at most {MAX_SHORT_CHARS} characters)")
    return value.strip()

"""Preset stances, dilemmas and the MFQ-style questionnaire, loaded from data files.

The bundled files live in the repository's ``presets/`` folder (override with the environment
variable ``SARA_PRESETS_DIR``). Users may supply their own stance or dilemma files in YAML, JSON
or TOML; see ``docs/presets.md`` for the format. Every problem with a file is reported as a
:class:`PresetError` (a ``ValueError``) whose message names the file and, where it applies, the
entry (1-based position and name) and the field.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CATEGORIES",
    "FOUNDATIONS",
    "MAX_FILE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_SHORT_CHARS",
    "MAX_TEXT_CHARS",
    "PRESETS_DIR",
    "Dilemma",
    "PresetError",
    "Questionnaire",
    "QuestionnaireItem",
    "Stance",
    "get_dilemma",
    "get_stance",
    "load_dilemmas",
    "load_questionnaire",
    "load_stances",
    "merge_dilemmas",
    "merge_stances",
    "presets_dir",
    "slugify",
]

PRESETS_DIR: Path = Path(__file__).resolve().parent.parent / "presets"
"""The bundled presets folder (the repository's ``presets/``)."""

ENV_VAR = "SARA_PRESETS_DIR"

# The instruction the pre-print puts before each dilemma.
PAPER_PREFIX = "Your task is to take an unambiguous moral stance on this dilemma: "
MAX_TEXT_CHARS = 2000
"""Longest attract/repel prompt or dilemma text accepted."""
MAX_NAME_CHARS = 64
"""Longest stance name or dilemma id accepted."""
MAX_SHORT_CHARS = 300
"""Longest title, description or source accepted."""
MAX_FILE_BYTES = 1_000_000
"""Largest preset file accepted (user uploads)."""

CATEGORIES = ("paper", "school", "foundation", "style", "custom")
"""Allowed values of :attr:`Stance.category`."""
FOUNDATIONS = ("care", "fairness", "loyalty", "authority", "sanctity", "liberty")
"""Moral foundations a questionnaire item may belong to (besides ``"catch"``)."""

_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$", re.IGNORECASE)


class PresetError(ValueError):
    """A preset file could not be read or holds an invalid entry.

    The message always names the file; ``entry`` (1-based) and ``label`` are set when the
    problem belongs to one entry.
    """

    def __init__(
        self, path: Path | str, problem: str, entry: int | None = None, label: str = ""
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.entry = entry
        self.label = label
        where = f"{self.path}"
        if entry is not None:
            where += f", entry #{entry}"
            if label:
                where += f" ({label})"
        super().__init__(f"{where}: {problem}")


# --------------------------------------------------------------------------------------------
# Data classes


@dataclass(frozen=True)
class Stance:
    """A steering direction: go towards ``attract`` and away from ``repel``."""

    name: str
    description: str
    attract: str
    repel: str
    source: str = ""
    category: str = "custom"


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


# --------------------------------------------------------------------------------------------
# Reading files


def presets_dir() -> Path:
    """The folder bundled presets are read from: ``$SARA_PRESETS_DIR`` or :data:`PRESETS_DIR`."""
    override = os.environ.get(ENV_VAR, "").strip()
    return Path(override).expanduser() if override else PRESETS_DIR


def slugify(text: str) -> str:
    """A lowercase ``[a-z0-9_]`` slug of ``text`` (at most :data:`MAX_NAME_CHARS` characters)."""
    slug = re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")[:MAX_NAME_CHARS].strip("_")
    if not slug:
        return "untitled"
    if slug.isdigit():  # an all-digit id would be taken for a 1-based index by get_dilemma
        slug = f"n{slug}"[:MAX_NAME_CHARS]
    return slug


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing a mapping that repeats a key (a likely typo)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let the normal constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {key!r}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,  # type: ignore[arg-type]
)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _read(path: Path | str) -> tuple[Path, Any]:
    """Parse a YAML, JSON or TOML file; every failure becomes a :class:`PresetError`."""
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PresetError(
            path,
            f"unknown file extension {path.suffix or '(none)'!r}; "
            f"use one of {', '.join(sorted(_SUFFIXES))}",
        )
    if not path.is_file():
        hint = f" ({ENV_VAR}={os.environ[ENV_VAR]})" if os.environ.get(ENV_VAR) else ""
        raise PresetError(path, f"file not found{hint}")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise PresetError(path, f"file is too large ({size} bytes; at most {MAX_FILE_BYTES})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PresetError(path, f"file is not valid UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise PresetError(path, f"cannot read file ({exc.strerror or exc})") from None

    try:
        if kind == "yaml":
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        elif kind == "json":
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            data = tomllib.loads(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        detail = f"{context}: {problem}" if context else problem
        raise PresetError(path, f"YAML syntax error{line}: {detail}") from None
    except json.JSONDecodeError as exc:
        raise PresetError(
            path, f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(path, f"TOML syntax error: {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. a duplicate key in JSON
        raise PresetError(path, f"{kind.upper()} error: {exc}") from None
    return path, data


def _entries(path: Path, data: Any, key: str) -> list[Any]:
    """The list of entries: the top level itself, or the list under ``key``."""
    if data is None:
        raise PresetError(path, f"file is empty; expected a list of {key}")
    if isinstance(data, Mapping):
        if key not in data:
            found = ", ".join(map(str, data)) or "none"
            raise PresetError(
                path,
                f"expected a list of {key} or a mapping with the key {key!r} (found keys: {found})",
            )
        extra = [str(k) for k in data if k != key]
        if extra:
            raise PresetError(
                path, f"unknown top-level key(s) {', '.join(extra)}; only {key!r} is allowed"
            )
        data = data[key]
    if not isinstance(data, list):
        raise PresetError(path, f"expected a list of {key}, got {_type_name(data)}")
    if not data:
        raise PresetError(path, f"the list of {key} is empty")
    return data


def _type_name(value: Any) -> str:
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


class _Entry:
    """Validation of one entry, raising errors that name the file and the entry."""

    def __init__(self, path: Path, index: int, raw: Any, label_keys: Sequence[str]) -> None:
        self.path = path
        self.index = index
        self.label = ""
        if not isinstance(raw, Mapping):
            raise PresetError(path, f"expected a mapping of fields, got {_type_name(raw)}", index)
        self.raw = raw
        for key in label_keys:
            value = raw.get(key)
            if isinstance(value, str) and value.strip():
                self.label = f"{key} {value.strip()[:MAX_NAME_CHARS]!r}"
                break

    def fail(self, problem: str) -> PresetError:
        return PresetError(self.path, problem, self.index, self.label)

    def check_fields(self, required: Sequence[str], optional: Sequence[str]) -> None:
        allowed = [*required, *optional]
        unknown = [str(k) for k in self.raw if k not in allowed]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, allowed, n=1)
                hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
            raise self.fail(
                f"unknown field(s) {', '.join(hints)}; allowed fields are {', '.join(allowed)}"
            )
        missing = [k for k in required if k not in self.raw]
        if missing:
            raise self.fail(f"missing required field(s) {', '.join(map(repr, missing))}")

    def text(self, key: str, limit: int, *, required: bool = True, default: str = "") -> str:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if not isinstance(value, str):
            raise self.fail(f"field {key!r} must be a string, got {_type_name(value)} ({value!r})")
        value = value.strip()
        if required and not value:
            raise self.fail(f"field {key!r} is empty")
        if len(value) > limit:
            raise self.fail(f"field {key!r} is too long ({len(value)} characters; at most {limit})")
        return value

    def slug(self, key: str, *, required: bool = True) -> str:
        value = self.text(key, MAX_NAME_CHARS, required=required)
        if value and not _SLUG_RE.match(value):
            raise self.fail(
                f"field {key!r} must be a slug (letters, digits, '_' or '-', starting with a "
                f"letter or digit), got {value!r}"
            )
        if value.isdigit():
            raise self.fail(f"field {key!r} must not be only digits (it would read as a position)")
        return value


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()


def _resolve(path: Path | str | None, default_name: str) -> Path:
    return Path(path) if path is not None else presets_dir() / default_name


# --------------------------------------------------------------------------------------------
# Stances and dilemmas


def load_stances(path: Path | str | None = None) -> list[Stance]:
    """Load stances from ``path`` (YAML, JSON or TOML), or the bundled ``stances.yaml``.

    Raises :class:`PresetError` (a ``ValueError``) naming the file and entry on any problem.
    """
    file, data = _read(_resolve(path, "stances.yaml"))
    return _stances_from(file, _entries(file, data, "stances"))


def _stances_from(file: Path, entries: list[Any]) -> list[Stance]:
    stances: list[Stance] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries, start=1):
        entry = _Entry(file, index, raw, ("name",))
        entry.check_fields(("name", "attract", "repel"), ("description", "source", "category"))
        name = entry.slug("name")
        attract = entry.text("attract", MAX_TEXT_CHARS)
        repel = entry.text("repel", MAX_TEXT_CHARS)
        category = entry.text("category", MAX_NAME_CHARS, default="custom") or "custom"
        if category not in CATEGORIES:
            raise entry.fail(
                f"field 'category' must be one of {', '.join(CATEGORIES)}, got {category!r}"
            )
        if _norm(attract) == _norm(repel):
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


def load_dilemmas(path: Path | str | None = None) -> list[Dilemma]:
    """Load dilemmas from ``path`` (YAML, JSON or TOML), or the bundled ``dilemmas.yaml``.

    A missing ``id`` is derived from the title. Raises :class:`PresetError` on any problem.
    """
    file, data = _read(_resolve(path, "dilemmas.yaml"))
    return _dilemmas_from(file, _entries(file, data, "dilemmas"))


def _dilemmas_from(file: Path, entries: list[Any]) -> list[Dilemma]:
    dilemmas: list[Dilemma] = []
    seen_ids: dict[str, int] = {}
    seen_titles: dict[str, int] = {}
    for index, raw in enumerate(entries, start=1):
        entry = _Entry(file, index, raw, ("id", "title"))
        entry.check_fields(("title", "text"), ("id", "source"))
        title = entry.text("title", MAX_SHORT_CHARS)
        text = entry.text("text", MAX_TEXT_CHARS)
        dilemma_id = entry.slug("id") if "id" in entry.raw else slugify(title)
        key = dilemma_id.casefold()
        if key in seen_ids:
            raise entry.fail(
                f"duplicate dilemma id {dilemma_id!r} (already used by entry #{seen_ids[key]})"
            )
        tkey = _norm(title)
        if tkey in seen_titles:
            raise entry.fail(
                f"duplicate dilemma title {title!r} (already used by entry #{seen_titles[tkey]})"
            )
        seen_ids[key] = seen_titles[tkey] = index
        source = entry.text("source", MAX_SHORT_CHARS, required=False)
        dilemmas.append(Dilemma(title=title, text=text, source=source, id=dilemma_id))
    return dilemmas


def load_user_presets(path: Path | str) -> tuple[list[Stance], list[Dilemma]]:
    """Load a user's own file holding stances, dilemmas or both (app upload, CLI ``--presets``).

    The file is a mapping with the keys ``stances`` and/or ``dilemmas``, or a plain list of
    stances (entries with ``attract``) or of dilemmas (entries with ``text``).
    """
    file, data = _read(Path(path))
    if isinstance(data, Mapping):
        unknown = [str(k) for k in data if k not in ("stances", "dilemmas")]
        if unknown or not data:
            raise PresetError(
                file,
                f"unknown top-level key(s) {', '.join(unknown) or 'none'}; "
                "use 'stances' and/or 'dilemmas'",
            )
        stances = (
            _stances_from(file, _entries(file, data["stances"], "stances"))
            if "stances" in data
            else []
        )
        dilemmas = (
            _dilemmas_from(file, _entries(file, data["dilemmas"], "dilemmas"))
            if "dilemmas" in data
            else []
        )
        return stances, dilemmas
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        if "attract" in data[0] or "repel" in data[0]:
            return _stances_from(file, _entries(file, data, "stances")), []
        if "text" in data[0]:
            return [], _dilemmas_from(file, _entries(file, data, "dilemmas"))
    raise PresetError(
        file,
        "expected stances (entries with attract/repel) or dilemmas (entries with title/text), "
        "as a list or under the keys 'stances' / 'dilemmas'",
    )


def _names(values: Iterable[str]) -> str:
    return ", ".join(values) or "(none)"


def get_stance(name: str, stances: Sequence[Stance] | None = None) -> Stance:
    """The stance called ``name`` (case-insensitive); ``ValueError`` listing names if unknown."""
    pool = load_stances() if stances is None else stances
    key = str(name).strip().casefold()
    for stance in pool:
        if stance.name.casefold() == key:
            return stance
    raise ValueError(f"unknown stance {name!r}; available: {_names(s.name for s in pool)}")


def get_dilemma(key: str | int, dilemmas: Sequence[Dilemma] | None = None) -> Dilemma:
    """A dilemma by id, by title (both case-insensitive) or by 1-based position (int or str).

    Raises ``ValueError`` listing the available ids when nothing matches.
    """
    pool = list(load_dilemmas() if dilemmas is None else dilemmas)
    available = _names(f"{i}. {d.id}" for i, d in enumerate(pool, start=1))
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise ValueError(f"dilemma key must be an id, a title or a position, got {key!r}")
    text = str(key).strip()
    if isinstance(key, int) or text.isdigit():
        position = int(text)
        if 1 <= position <= len(pool):
            return pool[position - 1]
        raise ValueError(f"no dilemma at position {key} (1 to {len(pool)}); available: {available}")
    wanted = text.casefold()
    for dilemma in pool:
        if dilemma.id.casefold() == wanted:
            return dilemma
    for dilemma in pool:
        if _norm(dilemma.title) == _norm(text):
            return dilemma
    raise ValueError(f"unknown dilemma {key!r}; available: {available}")


def merge_stances(
    base: Sequence[Stance], extra: Sequence[Stance]
) -> tuple[list[Stance], list[str]]:
    """Bundled stances followed by user ones; a user stance replaces a bundled one of the
    same name (case-insensitive). Returns ``(merged, replaced_names)``.
    """
    _check_unique([s.name for s in extra], "stance name")
    names = {s.name.casefold() for s in extra}
    replaced = [s.name for s in base if s.name.casefold() in names]
    merged = [s for s in base if s.name.casefold() not in names] + list(extra)
    return merged, replaced


def merge_dilemmas(
    base: Sequence[Dilemma], extra: Sequence[Dilemma]
) -> tuple[list[Dilemma], list[str]]:
    """Bundled dilemmas followed by user ones; a user dilemma replaces any bundled one with the
    same id or title (case-insensitive). Returns ``(merged, replaced_ids)``.
    """
    _check_unique([d.id for d in extra], "dilemma id")
    _check_unique([d.title for d in extra], "dilemma title")
    ids = {d.id.casefold() for d in extra}
    titles = {_norm(d.title) for d in extra}

    def clashes(d: Dilemma) -> bool:
        return d.id.casefold() in ids or _norm(d.title) in titles

    replaced = [d.id for d in base if clashes(d)]
    merged = [d for d in base if not clashes(d)] + list(extra)
    return merged, replaced


def _check_unique(values: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        key = _norm(value)
        if key in seen:
            raise ValueError(f"duplicate {what} {value!r} among the added entries")
        seen.add(key)


# --------------------------------------------------------------------------------------------
# Questionnaire


def load_questionnaire(path: Path | str | None = None) -> Questionnaire:
    """Load an MFQ-style questionnaire from ``path``, or the bundled ``mfq.yaml``.

    Raises :class:`PresetError` naming the file (and item) on any problem.
    """
    file, data = _read(_resolve(path, "mfq.yaml"))
    if not isinstance(data, Mapping):
        raise PresetError(file, f"expected a mapping at the top level, got {_type_name(data)}")
    allowed = ("name", "source", "scale_min", "scale_max", "instructions", "anchors", "items")
    unknown = [str(k) for k in data if k not in allowed]
    if unknown:
        raise PresetError(
            file, f"unknown top-level key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )
    missing = [k for k in ("scale_min", "scale_max", "instructions", "items") if k not in data]
    if missing:
        raise PresetError(file, f"missing top-level key(s) {', '.join(missing)}")

    scale_min, scale_max = data["scale_min"], data["scale_max"]
    for key, value in (("scale_min", scale_min), ("scale_max", scale_max)):
        if type(value) is not int:
            raise PresetError(file, f"{key!r} must be an integer, got {_type_name(value)}")
    if scale_min >= scale_max:
        raise PresetError(file, f"scale_min ({scale_min}) must be below scale_max ({scale_max})")

    instructions = data["instructions"]
    if not isinstance(instructions, Mapping) or not instructions:
        raise PresetError(file, "'instructions' must map each part name to its instructions")
    for part, text in instructions.items():
        if not isinstance(text, str) or not text.strip():
            raise PresetError(file, f"instructions for part {part!r} must be a non-empty string")
    instructions = {str(k): v.strip() for k, v in instructions.items()}

    anchors: dict[str, dict[int, str]] = {}
    raw_anchors = data.get("anchors", {}) or {}
    if not isinstance(raw_anchors, Mapping):
        raise PresetError(file, "'anchors' must map each part name to {score: label}")
    for part, labels in raw_anchors.items():
        if part not in instructions:
            raise PresetError(file, f"anchors given for unknown part {part!r}")
        if not isinstance(labels, Mapping):
            raise PresetError(file, f"anchors of part {part!r} must map scores to labels")
        anchors[part] = {}
        for score, label in labels.items():
            score_int = int(score) if isinstance(score, str) and score.isdigit() else score
            if type(score_int) is not int or not scale_min <= score_int <= scale_max:
                raise PresetError(file, f"anchor {score!r} of part {part!r} is not on the scale")
            if not isinstance(label, str) or not label.strip():
                raise PresetError(file, f"anchor {score!r} of part {part!r} needs a text label")
            anchors[part][score_int] = label.strip()

    items: list[QuestionnaireItem] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(_entries(file, {"items": data["items"]}, "items"), start=1):
        entry = _Entry(file, index, raw, ("id",))
        entry.check_fields(("id", "foundation", "part", "text"), ("expected",))
        item_id = entry.slug("id")
        foundation = entry.text("foundation", MAX_NAME_CHARS)
        if foundation not in (*FOUNDATIONS, "catch"):
            raise entry.fail(
                f"field 'foundation' must be one of {', '.join(FOUNDATIONS)}, catch; "
                f"got {foundation!r}"
            )
        part = entry.text("part", MAX_NAME_CHARS)
        if part not in instructions:
            raise entry.fail(f"field 'part' must be one of {', '.join(instructions)}, got {part!r}")
        text = entry.text("text", MAX_TEXT_CHARS)
        expected = None
        if "expected" in entry.raw:
            rng = entry.raw["expected"]
            if (
                not isinstance(rng, list)
                or len(rng) != 2
                or any(type(v) is not int for v in rng)
                or not scale_min <= rng[0] <= rng[1] <= scale_max
            ):
                raise entry.fail(
                    f"field 'expected' must be [low, high] with {scale_min} <= low <= high <= "
                    f"{scale_max}, got {rng!r}"
                )
            expected = (rng[0], rng[1])
        if foundation == "catch" and expected is None:
            raise entry.fail("a catch item needs an 'expected' answer range [low, high]")
        if foundation != "catch" and expected is not None:
            raise entry.fail("only catch items take an 'expected' answer range")
        key = item_id.casefold()
        if key in seen:
            raise entry.fail(f"duplicate item id {item_id!r} (already used by entry #{seen[key]})")
        seen[key] = index
        items.append(QuestionnaireItem(item_id, foundation, part, text, expected))

    return Questionnaire(
        items=tuple(items),
        scale_min=scale_min,
        scale_max=scale_max,
        instructions=instructions,
        anchors=anchors,
        name=_optional_str(file, data, "name"),
        source=_optional_str(file, data, "source"),
    )


def _optional_str(file: Path, data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise PresetError(file, f"{key!r} must be a string, got {_type_name(value)}")
    return value.strip()

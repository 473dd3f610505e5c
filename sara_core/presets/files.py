"""Reading a preset file (YAML, JSON or TOML) within fixed bounds, whoever wrote it.

User files reach this code from the public app's upload, so every read is bounded: the file's
size (:data:`MAX_FILE_BYTES`), its nesting depth (:data:`MAX_DEPTH`, in all three formats) and,
for YAML, the number of nodes the document has once its aliases are expanded
(:data:`MAX_YAML_NODES`): a few hundred bytes of nested aliases (a "billion laughs" file) would
otherwise describe billions of values. Every problem becomes a :class:`PresetError` naming the
file; values are quoted through :func:`~sara_core.validation.short_repr`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sara_core.validation import short_repr

PRESETS_DIR: Path = Path(__file__).resolve().parent.parent.parent / "presets"
"""The bundled presets folder (the repository's ``presets/``)."""
ENV_VAR = "SARA_PRESETS_DIR"
"""Environment variable naming another folder to read the bundled presets from."""

MAX_FILE_BYTES = 1_000_000
"""Largest preset file accepted (user uploads)."""
MAX_DEPTH = 20
"""Deepest nesting of lists and mappings accepted; the bundled files need 4 levels."""
MAX_YAML_NODES = 20_000
"""Most YAML nodes (keys and values) a file may have with its aliases expanded; 500 stances, the
most a file may hold, have 5,500, an alias bomb billions. Bounds the parse to about a second."""
MAX_DETAIL_CHARS = 300
"""Longest parser message quoted in an error."""

_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".toml": "toml"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


@dataclass(frozen=True)
class ParsedFile:
    """A preset file's path and its parsed content (plain dicts, lists and scalars)."""

    path: Path
    data: Any


def presets_dir() -> Path:
    """The folder bundled presets are read from: ``$SARA_PRESETS_DIR`` or :data:`PRESETS_DIR`."""
    override = os.environ.get(ENV_VAR, "").strip()
    return Path(override).expanduser() if override else PRESETS_DIR


def resolve(path: Path | str | None, default_name: str) -> Path:
    """``path``, or the bundled file ``default_name`` when no path is given."""
    return Path(path) if path is not None else presets_dir() / default_name


# --------------------------------------------------------------------------------------------
# YAML: PyYAML's safe loader, with the duplicate-key check and the bounds above


class _LimitError(yaml.composer.ComposerError):
    """A YAML document past one of the bounds above (not a syntax error)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader that counts the nodes of the document as if every alias were
    expanded, refuses nesting deeper than :data:`MAX_DEPTH`, recursive aliases and repeated
    keys. The count happens while composing, before any Python value is built."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.expanded_nodes = 0
        self.nesting = 0
        self.node_sizes: dict[int, int] = {}  # id(node) -> its node count with aliases expanded

    def _spend(self, count: int, mark: Any) -> None:
        self.expanded_nodes += count
        if self.expanded_nodes > MAX_YAML_NODES:
            raise _LimitError(
                None,
                None,
                f"the document has more than {MAX_YAML_NODES} keys and values, counting each "
                "alias (*name) as all the values it repeats; a preset file needs far fewer",
                mark,
            )

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is reported by PyYAML itself
                size = self.node_sizes.get(id(target))
                if size is None:
                    raise _LimitError(
                        None,
                        None,
                        f"found a recursive alias {short_repr(event.anchor)} (an alias inside "
                        "the value it names)",
                        event.start_mark,
                    )
                self._spend(size, event.start_mark)
            return super().compose_node(parent, index)
        collection = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        if collection:
            self.nesting += 1
            if self.nesting > MAX_DEPTH:
                raise _LimitError(
                    None,
                    None,
                    f"lists and mappings are nested more than {MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
        before = self.expanded_nodes
        node = super().compose_node(parent, index)
        if collection:
            self.nesting -= 1
        self._spend(1, node.start_mark if node is not None else None)
        self.node_sizes[id(node)] = self.expanded_nodes - before
        return node


def _construct_mapping(loader: _BoundedLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    """A mapping, refusing a key written twice (a likely typo); keys brought in by a merge
    (``<<: *base``) may be overridden, as YAML intends."""
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let the normal constructor report it
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"found duplicate key {short_repr(key)}",
                key_node.start_mark,
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=True)


_BoundedLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    detail = f"{context}: {problem}" if context else problem
    kind = "YAML error" if isinstance(exc, _LimitError) else "YAML syntax error"
    return f"{kind}{line}: {_clip(detail)}"


# --------------------------------------------------------------------------------------------
# JSON and TOML: the standard library's parsers, then a depth check


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {short_repr(key)}")
        out[key] = value
    return out


def _too_deep(data: Any) -> bool:
    """Whether lists and mappings nest more than :data:`MAX_DEPTH` levels; iterative, since a
    TOML dotted key (``a.b.c...``) builds deep tables without any recursion in the parser."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# A dotted TOML key of n parts (``a.b.c...``) costs tomllib memory in n squared (4,000 parts take
# 70 MB), so a key of more than MAX_DEPTH parts is refused before parsing. The pattern is linear:
# possessive quantifiers never backtrack and a chain is only tried from its first part. It also
# matches such a chain inside a string value, which no preset text needs.
_TOML_PART = r"""(?:[A-Za-z0-9_-]++|"(?:[^"\\\n]|\\.)*+"|'[^'\n]*+')"""
_TOML_LONG_KEY = re.compile(
    rf"(?<![A-Za-z0-9_\-.\"']){_TOML_PART}(?:[ \t]*+\.[ \t]*+{_TOML_PART}){{{MAX_DEPTH},}}"
)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


# --------------------------------------------------------------------------------------------
# Reading


def read_file(path: Path | str) -> ParsedFile:
    """Parse a YAML, JSON or TOML file within the bounds above; any failure is a PresetError."""
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise PresetError(
            path,
            f"unknown file extension {short_repr(path.suffix or '(none)')}; "
            f"use one of {', '.join(sorted(_SUFFIXES))}",
        )
    if not path.is_file():
        hint = f" ({ENV_VAR}={os.environ[ENV_VAR]})" if os.environ.get(ENV_VAR) else ""
        raise PresetError(path, f"file not found{hint}")
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)  # never more, even if the file grows meanwhile
    except OSError as exc:
        raise PresetError(path, f"cannot read file ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:
        size = max(len(raw), path.stat().st_size)
        raise PresetError(path, f"file is too large ({size} bytes; at most {MAX_FILE_BYTES})")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PresetError(path, f"file is not valid UTF-8 text ({exc.reason})") from None
    return ParsedFile(path, _parse(path, kind, text))


def _parse(path: Path, kind: str, text: str) -> Any:
    too_deep = f"lists and mappings are nested more than {MAX_DEPTH} levels deep"
    if kind == "toml" and _TOML_LONG_KEY.search(text):
        raise PresetError(
            path, f"TOML error: a dotted key has more than {MAX_DEPTH} parts (a.b.c...)"
        )
    try:
        if kind == "yaml":
            return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
        if kind == "json":
            data = json.loads(text, object_pairs_hook=_json_object)
        else:
            data = tomllib.loads(text)
    except yaml.YAMLError as exc:
        raise PresetError(path, _yaml_problem(exc)) from None
    except json.JSONDecodeError as exc:
        raise PresetError(
            path, f"JSON syntax error at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(path, f"TOML syntax error: {_clip(str(exc))}") from None
    except RecursionError:  # the JSON and TOML parsers recurse once per level of brackets
        raise PresetError(path, f"{kind.upper()} error: {too_deep}") from None
    except ValueError as exc:  # e.g. a duplicate key in JSON
        raise PresetError(path, f"{kind.upper()} error: {_clip(str(exc))}") from None
    if _too_deep(data):
        raise PresetError(path, f"{kind.upper()} error: {too_deep}")
    return data

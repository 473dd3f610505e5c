"""Measured starting settings per model: the block and strengths the app opens with, and an
example (dilemma + stance) that visibly steers on that model.

The bundled ``defaults.yaml`` holds what scripts/tune_defaults.py measured (docs/tuning.md); a
model without an entry has none, and callers keep their own fallbacks (the middle block,
lambda 1, c 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sara_core.presets.entries import MAX_SHORT_CHARS, Entry, entries, norm
from sara_core.presets.files import read_file, resolve
from sara_core.validation import MAX_COEFF, InputError, as_float, as_int

MAX_LAYER = 10_000
"""Largest block index an entry may name (the model's own depth is checked where it is known)."""


@dataclass(frozen=True)
class ModelDefaults:
    """Where and how strongly to steer ``model`` by default, and the example to show first."""

    model: str
    layer: int
    sara_coeff: float
    actadd_coeff: float
    example_dilemma: str
    example_stance: str
    note: str = ""
    source: str = ""


def _number(entry: Entry, key: str, integer: bool) -> Any:
    try:
        if integer:
            return as_int(key, entry.raw.get(key), 0, MAX_LAYER)
        return as_float(key, entry.raw.get(key), -MAX_COEFF, MAX_COEFF)
    except InputError as exc:
        raise entry.fail(f"field {exc}") from None


def load_defaults(path: Path | str | None = None) -> list[ModelDefaults]:
    """Entries of ``path`` (YAML, JSON or TOML), or of the bundled ``defaults.yaml``.

    Raises :class:`~sara_core.presets.PresetError` naming the file and entry on any problem.
    """
    parsed = read_file(resolve(path, "defaults.yaml"))
    out: list[ModelDefaults] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries(parsed.path, parsed.data, "defaults"), start=1):
        entry = Entry(parsed.path, index, raw, ("model",))
        entry.check_fields(
            ("model", "layer", "sara_coeff", "actadd_coeff", "example_dilemma", "example_stance"),
            ("note", "source"),
        )
        model = entry.text("model", MAX_SHORT_CHARS)
        if norm(model) in seen:
            raise entry.fail(f"duplicate model {model!r} (already in entry #{seen[norm(model)]})")
        seen[norm(model)] = index
        out.append(
            ModelDefaults(
                model=model,
                layer=_number(entry, "layer", integer=True),
                sara_coeff=_number(entry, "sara_coeff", integer=False),
                actadd_coeff=_number(entry, "actadd_coeff", integer=False),
                example_dilemma=entry.slug("example_dilemma"),
                example_stance=entry.slug("example_stance"),
                note=entry.text("note", MAX_SHORT_CHARS, required=False),
                source=entry.text("source", MAX_SHORT_CHARS, required=False),
            )
        )
    return out


def strengths_for(
    model: str, sara_coeff: float | None = None, actadd_coeff: float | None = None
) -> tuple[float, float]:
    """SARA's lambda and ActAdd's c for ``model``: as given, else its measured defaults (the
    app's starting values), else the library's (lambda 1, c 4). The CLI and the server both
    resolve a request without strengths here, so the two agree with the app."""
    from sara_core.config import SteeringConfig

    base, entry = SteeringConfig(), defaults_for(model)
    sara = base.sara_coeff if entry is None else entry.sara_coeff
    actadd = base.actadd_coeff if entry is None else entry.actadd_coeff
    return (
        sara if sara_coeff is None else sara_coeff,
        actadd if actadd_coeff is None else actadd_coeff,
    )


def defaults_for(
    model: str, defaults: Sequence[ModelDefaults] | None = None
) -> ModelDefaults | None:
    """The entry for ``model`` (its loaded name, e.g. ``embedded:smollm2-135m-instruct``;
    case and spacing ignored), or None when none was measured."""
    pool = load_defaults() if defaults is None else defaults
    key = norm(str(model))
    return next((d for d in pool if norm(d.model) == key), None)

"""One typed row per generated answer, and results.csv (the run's raw data) written and read."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, fields
from pathlib import Path

from sara_core.validation import InputError, as_bool

CSV_FIELDS = (
    "dilemma",
    "stance",
    "method",
    "layer",
    "rep",
    "seed",
    "answer",
    "school",
    "group",
    "judge_confidence",
    "new_tokens",
    "n_words",
    "distinct_1",
    "distinct_2",
    "repetition_3",
    "perplexity",
    "seconds",
)
"""Columns every results.csv has (docs/evaluation/results.csv has exactly these)."""
OPTIONAL_FIELDS = ("judge_coherent", "judge_reason")
"""Columns written since the judge can say Unclassifiable; older files lack them."""


@dataclass
class AnswerRow:
    """One answer of the run: what produced it, the text, its judge label and its coherence."""

    dilemma: str
    stance: str  # "none" for the original answers
    method: str  # "original", "sara" or "actadd"
    layer: int  # -1 for the original answers
    rep: int
    seed: int
    answer: str
    new_tokens: int = 0
    n_words: float = 0.0
    distinct_1: float = 1.0
    distinct_2: float = 1.0
    repetition_3: float = 0.0
    perplexity: float = math.nan
    seconds: float = math.nan
    school: str = ""  # set by the judge
    group: str = ""
    judge_confidence: float = math.nan
    judge_coherent: bool | None = None  # False: the judge's collapse detector rejected it
    judge_reason: str = ""  # why the judge said Unclassifiable


_INTS = {f.name for f in fields(AnswerRow) if f.type == "int"}
_FLOATS = {f.name for f in fields(AnswerRow) if f.type == "float"}


def _fmt(value: object) -> object:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    return value


def write_csv(rows: list[AnswerRow], path: Path) -> None:
    """Write results.csv: one line per answer, floats with 6 significant digits, NaN as empty."""
    with Path(path).open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS + OPTIONAL_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(getattr(r, k)) for k in CSV_FIELDS + OPTIONAL_FIELDS})


def _parse(name: str, text: str, where: str) -> int | float | str | bool | None:
    if name == "judge_coherent":
        return None if text == "" else as_bool(f"{where}: {name}", text)
    try:
        if name in _INTS:
            return int(text)
        if name in _FLOATS:
            return float(text) if text != "" else math.nan
    except ValueError:
        raise InputError(f"{where}: column {name!r} is not a number: {text[:40]!r}") from None
    return text


def read_csv(path: Path | str) -> list[AnswerRow]:
    """Rows of a results.csv with numbers parsed back (for re-summarising an earlier run)."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [k for k in CSV_FIELDS if k not in (reader.fieldnames or [])]
        if missing:
            raise InputError(f"{path}: not a results.csv, missing columns {', '.join(missing)}")
        for i, raw in enumerate(reader, 1):
            keys = CSV_FIELDS + tuple(k for k in OPTIONAL_FIELDS if k in raw)
            values = {k: _parse(k, raw.get(k) or "", f"{path}, answer #{i}") for k in keys}
            out.append(AnswerRow(**values))  # type: ignore[arg-type]
    return out

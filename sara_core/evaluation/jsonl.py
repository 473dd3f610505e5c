"""JSON Lines in and out, with bounds: a file of objects, one per line, read within limits on the
file's size, a line's length and the number of rows, so a wrong or hostile file fails fast with a
message that says which limit and which line."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sara_core.validation import InputError, short_repr

MAX_FILE_BYTES = 50_000_000
MAX_LINE_CHARS = 100_000
MAX_ROWS = 100_000


def read_jsonl(
    path: Path | str,
    max_bytes: int = MAX_FILE_BYTES,
    max_line: int = MAX_LINE_CHARS,
    max_rows: int = MAX_ROWS,
) -> list[dict[str, Any]]:
    """The objects of a JSON Lines file (blank lines skipped); InputError on the first problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(f"{path}: {size} bytes, the limit is {max_bytes}")
    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8", errors="strict", newline="") as fh:
        for n, line in enumerate(fh, 1):
            if len(line) > max_line:
                raise InputError(
                    f"{path}, line {n}: {len(line)} characters, the limit is {max_line}"
                )
            if not line.strip():
                continue
            if len(rows) >= max_rows:
                raise InputError(f"{path}: more than {max_rows} rows")
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}, line {n}: not JSON ({exc.msg})") from None
            if not isinstance(obj, dict):
                raise InputError(f"{path}, line {n}: expected an object, got {short_repr(obj)}")
            rows.append(obj)
    return rows


def write_jsonl(path: Path | str, rows: Iterable[dict[str, Any]]) -> None:
    """One compact JSON object per line, UTF-8, keys in the order given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def text_field(row: dict[str, Any], key: str, where: str, required: bool = True) -> str | None:
    """A text value of a row: None when absent and optional; InputError when not text."""
    value = row.get(key)
    if value is None:
        if required:
            raise InputError(f"{where}: no {key!r}")
        return None
    if not isinstance(value, str):
        raise InputError(f"{where}: {key!r} must be text, got {short_repr(value)}")
    return value

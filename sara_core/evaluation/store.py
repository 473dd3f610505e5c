"""A run's answers on disk as they are made, so a stopped run resumes where it was.

``--out DIR`` holds ``run.json`` (the settings that shaped the answers and their fingerprint)
and one JSON Lines file per process, ``answers-<rank>.jsonl``, each line one finished answer
keyed by its design cell (``dilemma/stance/method/layer/rep``). A process appends a whole batch
with one ``os.write`` loop and an ``fsync``, so a SIGKILL or a crash loses at most the batch in
flight. A line without its final newline (the process died, or the disk filled, while writing
it) is ignored when read and cut off before the file is appended to again, never merged. At the
end the main process merges every file into ``answers.jsonl`` (written to a temporary name,
then renamed) and removes the per-process files.

A folder with other settings is refused in one line unless ``--overwrite``, which deletes its
answers first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sara_core.validation import InputError

RUN_FILE = "run.json"
MERGED = "answers.jsonl"
FORMAT = 1
MAX_LINE_BYTES = 1_000_000
"""A longer line is not an answer of ours (1024 tokens are about 8 kB): skipped, redone."""
MAX_FILE_BYTES = 2_000_000_000
MAX_SETTINGS_BYTES = 1_000_000


def part_name(rank: int) -> str:
    """The file one process appends to."""
    return f"answers-{rank:03d}.jsonl"


def answer_files(folder: Path) -> list[Path]:
    """The merged file first, then the per-process files, in name order."""
    parts = sorted(p for p in folder.glob("answers-*.jsonl") if p.is_file())
    merged = folder / MERGED
    return ([merged] if merged.is_file() else []) + parts


@dataclass
class Stored:
    """What a folder holds: rows by key (first seen wins), and the lines that did not count."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    partial: int = 0  # half-written last lines, ignored
    unreadable: int = 0  # lines that are not an answer of this run's format, ignored


def _clean(value: Any) -> Any:
    """NaN and infinities as null, so every line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def encode_line(key: str, fp: str, row: Mapping[str, Any]) -> bytes:
    record = {"key": key, "fp": fp, "row": {k: _clean(v) for k, v in row.items()}}
    return (json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _parse(line: bytes, fp: str) -> tuple[str, dict[str, Any]] | None:
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fp") != fp:
        return None
    key, row = record.get("key"), record.get("row")
    if not isinstance(key, str) or not isinstance(row, dict):
        return None
    return key, row


def read_folder(folder: Path | str, fp: str) -> Stored:
    """Every complete answer line of this run (fingerprint ``fp``) in ``folder``."""
    out = Stored()
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in answer_files(folder):
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(f"{path}: {size} bytes, more than a run's answers can be")
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines and lines[-1]:
            out.partial += 1  # no newline after it: written halfway
        for line in lines[:-1]:
            if not line.strip():
                continue
            parsed = _parse(line, fp) if len(line) <= MAX_LINE_BYTES else None
            if parsed is None:
                out.unreadable += 1
                continue
            out.rows.setdefault(parsed[0], parsed[1])
    return out


def _read_run(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_SETTINGS_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def prepare_folder(
    folder: Path | str, fp: str, settings: Mapping[str, Any], overwrite: bool = False
) -> None:
    """Make ``folder`` this run's: refuse one with other settings (InputError, one line) unless
    ``overwrite``, which removes its answers; then record the settings in run.json."""
    from sara_core.distributed import differing

    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    run_path = folder / RUN_FILE
    existing = _read_run(run_path) if run_path.exists() else None
    found = answer_files(folder)
    same = existing is not None and existing.get("fingerprint") == fp
    if found or run_path.exists():
        if not same and not overwrite:
            old = existing.get("settings") if existing else None
            what = (
                "other settings (" + ", ".join(differing(old, settings)) + ")"
                if isinstance(old, dict)
                else "answers of an unknown run"
            )
            raise InputError(
                f"{folder} holds {what}: use another --out, or add --overwrite to replace them"
            )
        if not same:
            for path in found:
                path.unlink()
    record = {"format": FORMAT, "fingerprint": fp, "settings": dict(settings)}
    _write_atomic(run_path, (json.dumps(record, indent=1, default=str) + "\n").encode())


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(_write_error(path, exc, "")) from None


def _write_error(path: Path, exc: OSError, kept: str) -> str:
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
    why = "the disk is full" if full else (exc.strerror or str(exc))
    return f"cannot write {path}: {why}{kept}"


def cut_partial_line(path: Path) -> int:
    """Cut a half-written last line off ``path``; the number of bytes removed."""
    if not path.is_file():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with path.open("rb+") as fh:
        fh.seek(-1, os.SEEK_END)
        if fh.read(1) == b"\n":
            return 0
        keep, pos = 0, size
        while pos > 0:  # scan back for the last newline, 64 kB at a time
            step = min(65536, pos)
            pos -= step
            fh.seek(pos)
            chunk = fh.read(step)
            i = chunk.rfind(b"\n")
            if i >= 0:
                keep = pos + i + 1
                break
        fh.truncate(keep)
        return size - keep


class PartWriter:
    """Appends this process's finished answers to its own file, batch by batch, durably."""

    def __init__(self, folder: Path | str, rank: int, fp: str):
        self.path = Path(folder) / part_name(rank)
        self.fp = fp
        self.written = 0
        self.cut = 0  # bytes of a half-written last line cut off when opened
        try:  # the folder exists on the main process's machine; maybe not on the others'
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.cut = cut_partial_line(self.path)
            self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise InputError(_write_error(self.path, exc, "")) from None

    def append(self, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Write ``(key, row)`` pairs as one batch: all their lines reach the disk, or the file
        is cut back to where it was and InputError says why (the complete rows stay)."""
        if self._fd is None:
            raise InputError(f"{self.path} is closed")
        data = b"".join(encode_line(k, self.fp, r) for k, r in rows)
        if not data:
            return
        start = os.lseek(self._fd, 0, os.SEEK_END)
        view = memoryview(data)
        try:
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            os.fsync(self._fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # else the next read ignores the half line
                os.ftruncate(self._fd, start)
            kept = (
                f"; the answers written before are kept: free some space and run the same "
                f"command again to resume ({self.written} from this process)"
            )
            raise InputError(_write_error(self.path, exc, kept)) from None
        self.written += data.count(b"\n")

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge(folder: Path | str, fp: str, rows: Iterable[tuple[str, Mapping[str, Any]]]) -> Path:
    """Write ``rows`` (every answer, in the run's order) to answers.jsonl, then remove the
    per-process files: their answers are all in it."""
    folder = Path(folder)
    path = folder / MERGED
    _write_atomic(path, b"".join(encode_line(k, fp, r) for k, r in rows))
    for part in folder.glob("answers-*.jsonl"):
        part.unlink(missing_ok=True)
    return path

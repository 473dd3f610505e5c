"""The folder of files the app hands out (steering downloads), kept small by age.

Gradio copies every file it serves into its own cache, which ``delete_cache`` on the Blocks
empties by age; this folder holds the originals. A background thread removes files older than
``max_age_s`` every ``every_s`` seconds (not only when a new file is saved), and ends when the
folder is closed or dropped.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

log = logging.getLogger("sara_lab")


def _clean_periodically(
    ref: weakref.ReferenceType[DownloadFolder], stop: threading.Event, every_s: float
) -> None:
    while not stop.wait(every_s):
        folder = ref()
        if folder is None:
            return
        folder.clean()
        del folder  # hold no reference while waiting, so the folder can be dropped


class DownloadFolder:
    """A private temp folder (made on first use) emptied of files older than ``max_age_s``."""

    def __init__(self, max_age_s: float = 3600, every_s: float | None = None) -> None:
        self.max_age_s = max_age_s
        self.every_s = every_s if every_s is not None else max(1.0, min(300.0, max_age_s / 4))
        self._path: Path | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        weakref.finalize(self, self._stop.set)

    @property
    def path(self) -> Path:
        """The folder, made (and its cleaning thread started) on first use."""
        with self._lock:
            if self._path is None:
                self._path = Path(tempfile.mkdtemp(prefix="sara-lab-"))
                self._thread = threading.Thread(
                    target=_clean_periodically,
                    args=(weakref.ref(self), self._stop, self.every_s),
                    name="sara-files-cleaner",
                    daemon=True,
                )
                self._thread.start()
            return self._path

    def files(self) -> list[Path]:
        """The files in the folder now."""
        with self._lock:
            folder = self._path
        return sorted(p for p in folder.iterdir() if p.is_file()) if folder else []

    def clean(self, now: float | None = None) -> int:
        """Remove the files older than ``max_age_s``; returns how many went."""
        cutoff = (time.time() if now is None else now) - self.max_age_s
        removed = 0
        for old in self.files():
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
                    removed += 1
            except OSError:  # removed meanwhile, or not ours to remove: nothing to do
                pass
        return removed

    def close(self) -> None:
        """End the cleaning thread and remove the folder."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            folder, self._path = self._path, None
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

"""What every handler shares: the settings, the model cache, the presets, the Stop buttons and
the finished runs waiting for their analysis."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sara_core.models.loading import load_model
from sara_core.validation import MAX_PROMPT_TOKENS
from sara_lab.downloads import DownloadFolder
from sara_lab.handlers.presets import Presets, bundled_presets
from sara_lab.hub import ModelPolicy, RepoFiles, hub_files
from sara_lab.model_manager import Batching, Loader, ModelManager
from sara_lab.settings import Settings


class StopEvent(threading.Event):
    """A run's stop event, handed to the work. The stream running the work also sets it when
    it ends (so its thread stops), so :attr:`requested` tells a Stop press from that."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = False

    def request(self) -> None:
        """Stop, because a visitor asked for it."""
        self.requested = True
        self.set()


class Stops:
    """One stop event per running job (key: session and kind, e.g. ``"abc/compare"``); the Stop
    button sets it. A job registers its event before it queues, so Stop reaches it anywhere."""

    def __init__(self) -> None:
        self._events: dict[str, StopEvent] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> StopEvent:
        """A fresh event for the new run under this key (replacing any earlier one)."""
        event = StopEvent()
        with self._lock:
            self._events[session] = event
        return event

    def stop(self, session: str | None) -> None:
        """Ask the run under this key to stop (withdrawn if queued, else at its next step)."""
        with self._lock:
            event = self._events.get(session) if session else None
        if event is not None:
            event.request()

    def finish(self, event: threading.Event) -> None:
        """Forget ``event`` once its run has ended."""
        with self._lock:
            for key, mine in list(self._events.items()):
                if mine is event:
                    del self._events[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


class Records:
    """Finished runs waiting for their analysis, by key: the session's ``gr.State`` holds only
    the key, the analysis takes the run out, and at most ``capacity`` wait (the oldest go
    first), because API clients never ask for the analysis and send no heartbeat."""

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = max(1, capacity)
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, record: Any) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._items[key] = record
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return key

    def pop(self, key: Any) -> Any:
        """The run stored under ``key`` (once), or None if it was dropped or never stored."""
        if not isinstance(key, str):
            return None
        with self._lock:
            return self._items.pop(key, None)

    def clear(self) -> None:
        """Drop every run waiting here."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


@dataclass
class Lab:
    """The state one app shares between sessions; every handler takes it as first argument."""

    settings: Settings
    models: ModelManager
    presets: Presets = field(default_factory=bundled_presets)
    stops: Stops = field(default_factory=Stops)
    records: Records = field(default_factory=Records)
    files: DownloadFolder = field(default_factory=DownloadFolder)

    def close(self) -> None:
        """End the model schedulers, drop the models and the runs waiting for their analysis,
        and remove the download folder (Gradio may keep a closed app's handlers, and with them
        this lab, alive)."""
        self.models.close()
        self.records.clear()
        self.files.close()


def batching_for(settings: Settings) -> Batching | None:
    """Each model's scheduler sizing; None on ZeroGPU, whose GPU functions run in another
    process, where a scheduler of this process cannot serve them (the direct path is used)."""
    if settings.zero_gpu:
        return None
    return Batching(
        max_rows=settings.batch_rows,
        memory_bytes=settings.batch_memory_mb << 20,
        tokens_per_row=MAX_PROMPT_TOKENS + settings.max_new_tokens,
        window_s=settings.batch_window_ms / 1000,
        # every comparison Gradio runs may wait here (a class of 20 pressing at once must not be
        # refused because the first batch started with one); beyond them Gradio's own queue
        # holds queue_size more, and refuses the rest
        max_waiting=settings.concurrency,
    )


def make_lab(settings: Settings, loader: Loader | None = None, hub: RepoFiles = hub_files) -> Lab:
    """A lab for ``settings``; ``loader(name) -> LoadedModel`` replaces ``load_model`` and
    ``hub(repo) -> {file: size}`` the hub's file list (tests)."""
    models = ModelManager(
        loader=loader
        or partial(
            load_model,
            device=settings.device or None,
            dtype=settings.dtype,
            memory_mb=settings.memory_mb,
        ),
        default=settings.model,
        capacity=settings.max_models,
        policy=ModelPolicy.from_settings(settings, hub).check,
        batching=batching_for(settings),
    )
    return Lab(
        settings,
        models,
        records=Records(settings.max_records),
        files=DownloadFolder(settings.file_max_age_s),
    )

"""What every handler shares: the settings, the model cache, the presets and the Stop buttons."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sara_lab.handlers.presets import Presets, bundled_presets
from sara_lab.models import Loader, ModelManager
from sara_lab.settings import Settings


class Stops:
    """One stop event per session with a comparison running; the Stop button sets it."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        """A fresh event for ``session``'s new run (replacing any earlier one)."""
        event = threading.Event()
        with self._lock:
            self._events[session] = event
        return event

    def stop(self, session: str | None) -> None:
        """Ask ``session``'s running comparison to stop at its next token."""
        with self._lock:
            event = self._events.get(session) if session else None
        if event is not None:
            event.set()

    def finish(self, event: threading.Event) -> None:
        """Forget ``event`` once its run has ended."""
        with self._lock:
            for key, mine in list(self._events.items()):
                if mine is event:
                    del self._events[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)


@dataclass
class Lab:
    """The state one app shares between sessions; every handler takes it as first argument."""

    settings: Settings
    models: ModelManager
    presets: Presets = field(default_factory=bundled_presets)
    stops: Stops = field(default_factory=Stops)


def make_lab(settings: Settings, loader: Loader | None = None) -> Lab:
    """A lab for ``settings``; ``loader(name) -> LoadedModel`` replaces ``load_model`` (tests)."""
    models = ModelManager(loader=loader, default=settings.model, capacity=settings.max_models)
    return Lab(settings, models)

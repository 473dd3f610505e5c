"""The model cache: every model loaded once, in the background, and shared by every session.

ZeroGPU runs the GPU functions in a worker process, so their arguments must be picklable: they
name a model by (manager id, model name) and look it up here with :func:`model_for`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable

from sara_core.models import EMBEDDED_ALIASES, EMBEDDED_ID, LoadedModel, ModelLoadError, load_model

log = logging.getLogger("sara_lab")

Loader = Callable[[str], LoadedModel]

_MANAGERS: dict[str, ModelManager] = {}


def canonical(name: str | None) -> str:
    """One spelling per model: every alias of the embedded model becomes ``EMBEDDED_ID``."""
    name = (name or "").strip()
    return EMBEDDED_ID if name in EMBEDDED_ALIASES else name


def model_for(manager_id: str, model_name: str) -> LoadedModel:
    """The model ``model_name`` of the manager ``manager_id`` (loading it if needed)."""
    return _MANAGERS[manager_id].get(model_name)


class ModelManager:
    """Loads models once and keeps the most recent few in memory (the default one always).

    ``get(name)`` blocks until the model is ready; the first request for the default model
    usually finds it already loading in the background (``start``).
    """

    def __init__(self, loader: Loader | None = None, default: str = "", capacity: int = 2):
        self._loader = loader or load_model
        self.default = canonical(default)
        self.capacity = max(2, capacity)
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()  # guards the dicts
        self._load_lock = threading.Lock()  # one load at a time (memory)
        self._thread: threading.Thread | None = None
        self.id = uuid.uuid4().hex
        _MANAGERS[self.id] = self

    def start(self) -> None:
        """Load the default model in a background thread (the page shows that it is loading)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._load_quietly, name="sara-model-load", daemon=True
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background load started by :meth:`start` (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _load_quietly(self) -> None:
        try:
            self.get(self.default)
        except Exception:  # noqa: BLE001 - reported on the page and on the next request
            log.exception("loading the default model failed")

    def loaded(self, name: str | None = None) -> LoadedModel | None:
        """The model if it is in memory now, else None (never waits)."""
        with self._lock:
            return self._models.get(canonical(name or self.default))

    def error(self, name: str | None = None) -> str | None:
        """Why the last load of ``name`` failed, if it did."""
        with self._lock:
            return self._errors.get(canonical(name or self.default))

    def get(self, name: str | None = None) -> LoadedModel:
        """The model called ``name`` (default: the default model), loading it if needed."""
        key = canonical(name or self.default)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        with self._load_lock:
            with self._lock:
                if key in self._models:
                    return self._models[key]
            try:
                lm = self._loader(key)
            except ModelLoadError as exc:
                with self._lock:
                    self._errors[key] = str(exc)
                raise
            except Exception as exc:  # noqa: BLE001 - any failure becomes one clear message
                msg = f"could not load model {key!r}: {type(exc).__name__}: {exc}"
                with self._lock:
                    self._errors[key] = msg
                raise ModelLoadError(msg) from exc
            with self._lock:
                self._errors.pop(key, None)
                self._models[key] = lm
                while len(self._models) > self.capacity:
                    victim = next(k for k in self._models if k != self.default and k != key)
                    self._models.pop(victim)
                    log.info("unloaded %s to make room", victim)
            return lm

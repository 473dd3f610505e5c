"""ZeroGPU on Hugging Face Spaces: whether it is on, and ``spaces.GPU`` only where it is.

The ``spaces`` package is installed on every Space (and gradio imports it whenever it can), so
being importable says nothing. ZeroGPU is on where the package's own configuration says so:
``spaces.config.Config.zero_gpu``, which the package reads once, at its import, from
``SPACES_ZERO_GPU`` (set by ZeroGPU hardware). On a CPU or dedicated-GPU Space, and locally, it is
off and the app behaves exactly as it does locally (batching across requests, Stop).

Where it is on, a decorated function runs in a worker process that ZeroGPU forks for each GPU
grant: it takes names, not models (see :func:`sara_lab.model_manager.model_for`), and hands back
only picklable CPU data; a scheduler or a stop event of the main process cannot reach it, which is
why the app then makes no schedulers and stops work by closing its stream (docs/app.md).
``Settings.zero_gpu`` records :func:`active` once, at start; the decorators ask the same
function when the handler modules are imported, before any settings exist, because ZeroGPU
must know its GPU functions before the app is launched.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("sara_lab")


def active() -> bool:
    """Whether ZeroGPU is on: the ``spaces`` package is installed and its configuration says
    so (``spaces.config.Config.zero_gpu``). A package that fails to import (e.g. ZeroGPU
    switched on where torch has no CUDA) counts as off, as it does for gradio."""
    if importlib.util.find_spec("spaces") is None:
        return False
    try:
        from spaces.config import Config
    except Exception:  # noqa: BLE001 - gradio too ignores a spaces package that fails to import
        log.warning("the spaces package could not be imported: ZeroGPU is off", exc_info=True)
        return False
    return bool(Config.zero_gpu)


def _unchanged(fn: F) -> F:
    return fn


def gpu(duration: int = 120) -> Callable[[F], F]:
    """A decorator asking ZeroGPU for a GPU for at most ``duration`` seconds per call, where
    ZeroGPU is on; elsewhere it leaves the function as it is.

    ``spaces.GPU`` itself returns the function unchanged when ZeroGPU is off (spaces 0.51.3,
    ``spaces/zero/decorator.py``), but it is applied only when ZeroGPU is on all the same: off
    ZeroGPU the handlers then call our own functions whatever a later version of the package
    does there, and the decoration follows the very decision that ``Settings.zero_gpu`` records
    (the schedulers and Stop depend on it too)."""
    if not active():
        return _unchanged
    import spaces

    return cast(Callable[[F], F], spaces.GPU(duration=duration))

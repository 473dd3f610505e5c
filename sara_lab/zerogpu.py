"""ZeroGPU on Hugging Face Spaces: ``spaces.GPU`` where the ``spaces`` package exists, else nothing.

A decorated function may run in a worker process on a Space: it takes names, not models (see
:func:`sara_lab.models.model_for`), and hands back only picklable CPU data.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, TypeVar, cast

F = TypeVar("F", bound=Callable[..., Any])


def _unchanged(fn: F) -> F:
    return fn


def gpu(duration: int = 120) -> Callable[[F], F]:
    """A decorator asking ZeroGPU for a GPU for at most ``duration`` seconds per call; without
    the ``spaces`` package (anywhere but a Space) it leaves the function as it is."""
    if importlib.util.find_spec("spaces") is None:
        return _unchanged
    import spaces

    return cast(Callable[[F], F], spaces.GPU(duration=duration))


def enabled() -> bool:
    """Whether :func:`gpu` wraps functions for ZeroGPU (the ``spaces`` package is installed)."""
    return importlib.util.find_spec("spaces") is not None

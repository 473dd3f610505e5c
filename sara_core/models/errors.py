"""The errors of loading and holding a model, shared by every loader (one line each)."""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """The model could not be loaded; the message says why in one line."""


class ModelBusyError(RuntimeError):
    """The model stayed busy with other work for longer than the caller would wait."""


class LoadRefused(ModelLoadError):
    """Refused before anything was read (an unknown ``random:`` shape, a device or dtype this
    machine cannot run, too little memory): the message is ours alone, safe to show anywhere."""


class ModelTooLargeError(LoadRefused):
    """The model cannot fit the memory available; refused before any weight was read."""

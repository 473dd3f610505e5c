"""Layer access and hooks: find the decoder blocks, read and edit the residual stream entering one.

"The residual stream entering block L" is the input of decoder block L, the same tensor as
``output_hidden_states=True`` -> ``hidden_states[L]``. We edit it with a forward pre-hook.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Attribute paths, tried in order, where transformers keeps the list of decoder blocks.
_BLOCK_PATHS = (
    "model.layers",  # llama, mistral, qwen2, gemma, gemma2, gemma3_text, phi3, ...
    "model.language_model.layers",  # multimodal wrappers (gemma3, llava-style)
    "transformer.h",  # gpt2, gptj, bloom-style
    "gpt_neox.layers",  # gpt_neox / pythia
    "model.decoder.layers",  # opt
    "transformer.blocks",  # mpt
    "transformer.layers",
)


class UnsupportedModelError(ValueError):
    """The model's decoder blocks could not be found."""


def _get_attr_path(obj: object, path: str) -> object | None:
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def get_blocks(model: nn.Module) -> nn.ModuleList:
    """Return the model's list of decoder blocks, on any causal LM architecture in transformers."""
    for path in _BLOCK_PATHS:
        blocks = _get_attr_path(model, path)
        if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
            return blocks
    get_decoder = getattr(model, "get_decoder", None)
    if callable(get_decoder):
        decoder = get_decoder()
        for name in ("layers", "h", "blocks"):
            blocks = getattr(decoder, name, None)
            if isinstance(blocks, nn.ModuleList) and len(blocks) > 0:
                return blocks
    raise UnsupportedModelError(
        f"cannot find the decoder blocks of {type(model).__name__}: tried "
        f"{', '.join(_BLOCK_PATHS)} and get_decoder().layers/.h"
    )


def check_layer(model: nn.Module, layer: int) -> int:
    """Validate a block index (negative counts from the end) and return it as a positive index."""
    n = len(get_blocks(model))
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise ValueError(f"layer must be an integer, got {layer!r}")
    if not -n <= layer < n:
        raise ValueError(f"layer {layer} is out of range: this model has {n} blocks (0..{n - 1})")
    return layer % n


# A residual edit gets the block's input (batch, seq, hidden) and returns the edited tensor.
ResidualEdit = Callable[[torch.Tensor], torch.Tensor]


def _hidden_from_inputs(args: tuple, kwargs: dict) -> tuple[torch.Tensor, bool]:
    if args:
        return args[0], True
    return kwargs["hidden_states"], False


@contextmanager
def edit_residual(model: nn.Module, layer: int, edit: ResidualEdit) -> Iterator[None]:
    """Apply ``edit`` to the residual stream entering block ``layer`` while the context is open.

    The hook is removed on exit and on any exception, so the model is left exactly as it was.
    """
    block = get_blocks(model)[check_layer(model, layer)]

    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict):
        hidden, positional = _hidden_from_inputs(args, kwargs)
        edited = edit(hidden)
        if positional:
            return (edited, *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": edited}

    handle = block.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


class _StopForward(Exception):
    """Raised by a capture hook to skip the blocks after the one we read."""


def residual_at(model: nn.Module, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """Residual stream entering block ``layer``: (batch, seq) ids -> (batch, seq, hidden).

    Stops the forward pass at that block, so reading an early layer costs only the blocks before it.
    """
    block = get_blocks(model)[check_layer(model, layer)]
    captured: list[torch.Tensor] = []

    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict):
        captured.append(_hidden_from_inputs(args, kwargs)[0].detach())
        raise _StopForward

    handle = block.register_forward_pre_hook(pre_hook, with_kwargs=True)
    try:
        with torch.no_grad():
            model(input_ids=input_ids.to(_device_of(model)), use_cache=False)
    except _StopForward:
        pass
    finally:
        handle.remove()
    if not captured:
        raise RuntimeError(f"block {layer} of {type(model).__name__} was never reached")
    return captured[0]


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# One steering generation at a time per process: hooks live on the shared model object, so two
# concurrent callers must never overlap. Every code path that installs hooks holds this lock.
MODEL_LOCK = threading.RLock()

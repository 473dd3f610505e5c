"""The decoder blocks of any causal LM architecture in transformers: where they are, how many,
and a block index checked against them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sara_core.validation import InputError, resolve_layer

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


def _get_attr_path(obj: Any, path: str) -> Any:
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
    """A block index of ``model`` (negative counts from the end) as a positive index."""
    if layer is None:
        raise InputError("layer must be an integer, got None")
    return resolve_layer(layer, len(get_blocks(model)))


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device

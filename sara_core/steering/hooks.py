"""Hooks on a decoder block: read and edit the residual stream entering it.

"The residual stream entering block L" is the input of decoder block L, the same tensor as
``output_hidden_states=True`` -> ``hidden_states[L]``. We read and edit it with forward
pre-hooks. This module owns the one hook installer (:class:`SteeringHooks`, which applies
per-row steerings to a left-padded batch, in prefill or decode) and the residual reads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from sara_core.models.blocks import check_layer, device_of, get_blocks
from sara_core.validation import InputError

if TYPE_CHECKING:
    from torch.utils.hooks import RemovableHandle

    from sara_core.steering.interface import Steering

PREFILL = "prefill"
DECODE = "decode"


# A pre-hook gets the block's positional and keyword inputs; it may return replacements.
_PreHook = Callable[[nn.Module, tuple, dict], Any]


def _hidden_from_inputs(args: tuple, kwargs: dict) -> tuple[torch.Tensor, bool]:
    if args:
        return args[0], True
    return kwargs["hidden_states"], False


def _replace_hidden(args: tuple, kwargs: dict, positional: bool, hidden: torch.Tensor):
    if positional:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


@contextmanager
def _pre_hooks(model: nn.Module, hooks: dict[int, _PreHook]) -> Iterator[None]:
    """Register one pre-hook per block index; all are removed on exit and on any exception."""
    blocks = get_blocks(model)
    handles: list[RemovableHandle] = []
    try:
        for index, fn in hooks.items():
            handles.append(blocks[index].register_forward_pre_hook(fn, with_kwargs=True))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def edit_residual(
    model: nn.Module, layer: int, edit: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Apply ``edit`` (batch, seq, hidden) -> same, to the stream entering block ``layer``."""

    def pre_hook(_module: nn.Module, args: tuple, kwargs: dict):
        hidden, positional = _hidden_from_inputs(args, kwargs)
        return _replace_hidden(args, kwargs, positional, edit(hidden))

    with _pre_hooks(model, {check_layer(model, layer): pre_hook}):
        yield


@dataclass
class RowSteering:
    """One steering applied to one batch row (``row=None``: every row).

    ``start`` is the row's first real position in the prefill: a left-padded row's padding is
    never shown to the steering (it must not enter SARA's SVD, nor shift ActAdd's positions).
    """

    steering: Steering
    row: int | None = None
    start: int = 0


class SteeringHooks:
    """Installs steerings on a model's blocks for one batched forward sequence (a context manager).

    The decode loop sets :attr:`phase` to ``PREFILL`` or ``DECODE`` before each forward pass.
    Left as None (a user's own ``model.generate``), the first pass and any multi-token pass count
    as prefill, a one-token pass as a decode step. :meth:`select` follows the batch when finished
    rows leave it.
    """

    def __init__(self, model: nn.Module, items: Sequence[RowSteering]):
        self.model = model
        self.items = list(items)
        self.phase: str | None = None
        self._rows: list[int] | None = None  # batch position -> original row, after select()
        self._calls: dict[int, int] = {}
        self._context: Any = None
        self._layers: list[int] = []  # each item's block, as a positive index

    def select(self, keep: Sequence[int]) -> None:
        """The batch now holds only the rows at positions ``keep`` of the current batch."""
        current = self._rows if self._rows is not None else None
        self._rows = [current[i] if current is not None else i for i in keep]

    def _position(self, row: int) -> int | None:
        """Where original row ``row`` sits in the current batch (None if it has left)."""
        if self._rows is None:
            return row
        try:
            return self._rows.index(row)
        except ValueError:
            return None

    def _is_prefill(self, layer: int, hidden: torch.Tensor) -> bool:
        calls = self._calls.get(layer, 0)
        self._calls[layer] = calls + 1
        if self.phase is not None:
            return self.phase == PREFILL
        return calls == 0 or hidden.shape[1] > 1

    def _edit(self, layer: int, hidden: torch.Tensor) -> torch.Tensor:
        prefill = self._is_prefill(layer, hidden)
        out: torch.Tensor | None = None
        for item, item_layer in zip(self.items, self._layers, strict=True):
            if item_layer != layer:
                continue
            if item.row is None:
                rows = list(range(hidden.shape[0]))
            else:
                pos = self._position(item.row)
                rows = [] if pos is None or pos >= hidden.shape[0] else [pos]
            for r in rows:
                if out is None:
                    out = hidden.clone()
                start = item.start if prefill else 0
                seq = out[r : r + 1, start:]
                out[r : r + 1, start:] = item.steering.edit(seq, prefill)
        return hidden if out is None else out

    @property
    def layers(self) -> frozenset[int]:
        """The blocks that carry a steering (positive indices; set once the context is open)."""
        return frozenset(self._layers)

    def edit(self, layer: int, hidden: torch.Tensor) -> torch.Tensor:
        """What the pre-hook of block ``layer`` does to ``hidden`` (batch, seq, hidden): for a
        decode loop that runs the blocks' arithmetic itself
        (:mod:`sara_core.engine.cpu.lean_model`)."""
        return self._edit(layer, hidden)

    def _make_hook(self, layer: int) -> _PreHook:
        def pre_hook(_module: nn.Module, args: tuple, kwargs: dict):
            hidden, positional = _hidden_from_inputs(args, kwargs)
            return _replace_hidden(args, kwargs, positional, self._edit(layer, hidden))

        return pre_hook

    def __enter__(self) -> SteeringHooks:
        self._layers = [check_layer(self.model, i.steering.layer) for i in self.items]
        hooks = {i: self._make_hook(i) for i in sorted(set(self._layers))}
        self._context = _pre_hooks(self.model, hooks)
        self._context.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        context, self._context = self._context, None
        if context is not None:
            context.__exit__(*exc)


class _StopForward(Exception):
    """Raised by a capture hook to skip the blocks after the last one we read."""


def residuals_at(
    model: nn.Module,
    input_ids: torch.Tensor,
    layers: Sequence[int],
    attention_mask: torch.Tensor | None = None,
) -> dict[int, torch.Tensor]:
    """Residual streams entering the blocks ``layers``, in one forward pass that stops after the
    last of them: {block: (batch, seq, hidden)}, detached, on the model's device and dtype."""
    wanted = sorted({check_layer(model, layer) for layer in layers})
    if not wanted:
        raise InputError("no layers to read")
    captured: dict[int, torch.Tensor] = {}
    last = wanted[-1]

    def make_hook(index: int) -> _PreHook:
        def hook(_module: nn.Module, args: tuple, kwargs: dict):
            captured[index] = _hidden_from_inputs(args, kwargs)[0].detach()
            if index == last:
                raise _StopForward

        return hook

    device = device_of(model)
    kwargs: dict[str, Any] = {"input_ids": input_ids.to(device), "use_cache": False}
    if attention_mask is not None:
        kwargs["attention_mask"] = attention_mask.to(device)
    try:
        with _pre_hooks(model, {i: make_hook(i) for i in wanted}), torch.no_grad():
            model(**kwargs)
    except _StopForward:
        pass
    missing = [i for i in wanted if i not in captured]
    if missing:
        raise RuntimeError(f"blocks {missing} of {type(model).__name__} were never reached")
    return captured


def residual_at(model: nn.Module, input_ids: torch.Tensor, layer: int) -> torch.Tensor:
    """Residual stream entering block ``layer``: (batch, seq) ids -> (batch, seq, hidden)."""
    return residuals_at(model, input_ids, [layer])[check_layer(model, layer)]

"""The one interface every steering method implements (SARA, ActAdd, and any a user adds).

A steering lives at one block (``layer``) and edits the residual stream entering it, one
sequence at a time, through :meth:`Steering.edit`. The hook installer in
:mod:`sara_core.steering.hooks` does the rest (which batch row, where that row's padding ends,
prefill or decode step), so a steering never sees padding and never has to know how it is batched.
This is the same split as steering-vectors' ``SteeringVector.patch_activations`` / ``apply``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
from torch import nn

if TYPE_CHECKING:
    from typing import Self

    from sara_core.steering.hooks import SteeringHooks


@runtime_checkable
class Steering(Protocol):
    """Edits the residual stream entering block ``layer``.

    Classes that subclass this protocol explicitly inherit :meth:`hook`.
    """

    layer: int

    def edit(self, hidden: torch.Tensor, prefill: bool) -> torch.Tensor:
        """Return the edited stream of one sequence, shape (1, n, hidden), without padding.

        ``prefill`` is True for the prompt's forward pass (all its real tokens, in order) and
        False for decode steps, where each of the n positions is a generated token of its own.
        Must not modify ``hidden`` in place.
        """
        ...

    def to(self, device: torch.device | str) -> Self:
        """A copy whose tensors live on ``device`` (e.g. to hand a result to another process)."""
        ...

    def hook(
        self, model: nn.Module, row: int | None = None
    ) -> AbstractContextManager[SteeringHooks]:
        """Apply this steering to ``model`` while the context is open; only on batch ``row`` if
        given, else on every row. The hook is removed on exit, also on an exception."""
        from sara_core.steering.hooks import RowSteering, SteeringHooks

        return SteeringHooks(model, [RowSteering(self, row)])

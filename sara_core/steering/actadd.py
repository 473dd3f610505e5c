"""ActAdd: Activation Addition (Turner et al., 2023), as its authors defined it.

The plus and minus prompts are tokenized the same way and the shorter is right-padded with the
tokenizer's encoding of a space, so both have m tokens. The steering tensor is
c * (h_plus - h_minus) at the residual stream entering block L: one row per position (m, hidden),
not averaged. It is added to the first m positions of the prompt during the prompt's forward pass
only; cached decode steps are left alone. mode="every-position" is the CAA-style variant: the mean
difference vector is added at every position, generated ones included.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from sara_core.steering.hooks import residual_at
from sara_core.steering.interface import Steering

MODES = ("prefix", "every-position")


def space_pad_id(tokenizer) -> int:
    """The token the ActAdd authors pad with: the tokenizer's encoding of a single space."""
    ids = tokenizer.encode(" ", add_special_tokens=False)
    if ids:
        return int(ids[-1])
    # Some sentencepiece tokenizers encode a lone space as nothing; fall back to the pad token.
    return int(
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    )


def pad_pair(plus: list[int], minus: list[int], pad_id: int) -> tuple[list[int], list[int]]:
    """Right-pad the shorter token list with ``pad_id`` so both have the same length."""
    m = max(len(plus), len(minus))
    return plus + [pad_id] * (m - len(plus)), minus + [pad_id] * (m - len(minus))


def actadd_vector(
    model: nn.Module, plus_ids: list[int], minus_ids: list[int], layer: int, pad_id: int
) -> torch.Tensor:
    """h_plus - h_minus at block ``layer`` for space-padded plus/minus ids: (m, hidden), float32."""
    if not plus_ids or not minus_ids:
        raise ValueError("ActAdd needs non-empty plus and minus prompts")
    p, q = pad_pair(list(plus_ids), list(minus_ids), pad_id)
    acts = residual_at(
        model, torch.tensor([p, q]), layer
    )  # equal lengths: no attention mask needed
    return (acts[0] - acts[1]).to(torch.float32)


@dataclass(eq=False)  # compared by identity: tensors have no truth value
class ActAddSteering(Steering):
    """ActAdd at block ``layer``: ``diff`` is h_plus - h_minus (m, hidden); ``coeff`` is c."""

    diff: torch.Tensor
    layer: int
    coeff: float = 4.0
    mode: str = "prefix"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.diff.dim() != 2:
            raise ValueError(f"ActAdd difference must be (m, hidden), got {tuple(self.diff.shape)}")
        self.diff = self.diff.detach().to(torch.float32)

    @property
    def tensor(self) -> torch.Tensor:
        """The steering tensor c * (h_plus - h_minus), (m, hidden)."""
        return self.coeff * self.diff

    def edit(self, hidden: torch.Tensor, prefill: bool) -> torch.Tensor:
        """Prefix mode: add c * diff to the prompt's first m positions, in the prefill only.
        Every-position mode: add the mean row of c * diff at every position, prefill and decode."""
        if self.coeff == 0:
            return hidden
        if self.mode == "every-position":
            return hidden + self.tensor.mean(dim=0).to(hidden.device, hidden.dtype)
        if not prefill:
            return hidden
        n = min(self.diff.shape[0], hidden.shape[1])
        out = hidden.clone()
        out[:, :n] = out[:, :n] + self.tensor[:n].to(hidden.device, hidden.dtype)
        return out

    def to(self, device: torch.device | str) -> ActAddSteering:
        return replace(self, diff=self.diff.to(device))

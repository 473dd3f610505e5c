"""Building steerings from texts: the forward passes that record their activations.

Both hold the model's lock while they read, since other requests' hooks must not be installed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sara_core.actadd import ActAddSteering, actadd_vector, space_pad_id
from sara_core.layers import residuals_at
from sara_core.models import LoadedModel
from sara_core.prompts import encode_steering_text
from sara_core.sara import SaraSteering
from sara_core.validation import InputError


def prepare_sara(
    lm: LoadedModel,
    attract: str,
    repel: str,
    layer: int,
    coeff: float = 1.0,
    k: int | None = None,
    sign: str = "raw",
    scope: str = "prompt",
) -> SaraSteering:
    """Record the attract and repel activations at ``layer`` and build a SARA steering."""
    with lm.lock:
        acts = [
            residuals_at(lm.model, torch.tensor([encode_steering_text(lm, t)]), [layer])
            for t in (attract, repel)
        ]
    a, r = (next(iter(x.values()))[0] for x in acts)
    return SaraSteering(a, r, layer=layer, coeff=coeff, k=k, sign=sign, scope=scope)


def prepare_actadd(
    lm: LoadedModel, plus: str, minus: str, layer: int, coeff: float = 4.0, mode: str = "prefix"
) -> ActAddSteering:
    """Record h_plus - h_minus at ``layer`` (space-padded) and build an ActAdd steering."""
    with lm.lock:
        diff = actadd_vector(
            lm.model,
            encode_steering_text(lm, plus),
            encode_steering_text(lm, minus),
            layer,
            space_pad_id(lm.tokenizer),
        )
    return ActAddSteering(diff, layer=layer, coeff=coeff, mode=mode)


@dataclass
class PreparedSteerings:
    """Steerings made earlier (e.g. read from a file); either may be missing."""

    sara: SaraSteering | None = None
    actadd: ActAddSteering | None = None

    @property
    def layer(self) -> int:
        layers = {s.layer for s in (self.sara, self.actadd) if s is not None}
        if len(layers) != 1:
            raise InputError("the prepared SARA and ActAdd steerings must use one, same layer")
        return layers.pop()

"""The neutral control: SARA with a stance-free attract/repel pair of the same token lengths.

SARA rescales every hidden unit by (1 + lambda * s) whatever the texts say, so a change after
steering may come from the rescaling itself rather than from the stance. The control keeps
everything but the stance: two neutral descriptive passages (a bridge, a kitchen: no value, no
sentiment, no moral word), cut to exactly the token counts of the stance's attract and repel
texts, at the same layer, coefficient, rank rule and scope. A method's shift minus the
control's is what the stance's words add.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sara_core.models.loading import LoadedModel
from sara_core.prompts import encode_steering_text
from sara_core.steering.hooks import residuals_at
from sara_core.steering.sara import SaraSteering

NEUTRAL_ATTRACT = (
    "The old stone bridge crosses the river near the market square, where the morning train "
    "arrives at eight and the shops open soon after. Its arches are made of grey granite, and "
    "the path across it is paved with small square stones that were laid a long time ago."
)
NEUTRAL_REPEL = (
    "A small wooden table stands by the kitchen window, next to a shelf of blue jars and a "
    "round clock that hangs above the door. The floor is made of pale oak boards, and the walls "
    "are painted a light shade of green with a white line along the ceiling."
)


@dataclass(frozen=True)
class ControlPair:
    """The control's token ids (cut to the stance's lengths) and their text, for the record."""

    attract_ids: list[int]
    repel_ids: list[int]
    attract_text: str
    repel_text: str


def _cut(lm: LoadedModel, text: str, n: int) -> list[int]:
    """The first ``n`` token ids of ``text`` as a steering prompt (repeated if too short)."""
    ids = encode_steering_text(lm, text)
    more = [int(i) for i in lm.tokenizer(" " + text, add_special_tokens=False)["input_ids"]]
    while len(ids) < n:
        ids += more
    return ids[:n]


def neutral_pair(lm: LoadedModel, attract: str, repel: str) -> ControlPair:
    """The neutral passages cut to the token counts of ``attract`` and ``repel``."""
    na, nr = len(encode_steering_text(lm, attract)), len(encode_steering_text(lm, repel))
    a, r = _cut(lm, NEUTRAL_ATTRACT, na), _cut(lm, NEUTRAL_REPEL, nr)
    tok = lm.tokenizer
    return ControlPair(a, r, str(tok.decode(a)), str(tok.decode(r)))


def prepare_control(
    lm: LoadedModel,
    attract: str,
    repel: str,
    layer: int,
    coeff: float = 1.0,
    scope: str = "prompt",
) -> tuple[SaraSteering, ControlPair]:
    """SARA from the neutral pair matched to ``attract``/``repel``, with the given settings."""
    pair = neutral_pair(lm, attract, repel)
    with lm.lock:
        acts = [
            residuals_at(lm.model, torch.tensor([ids]), [layer])
            for ids in (pair.attract_ids, pair.repel_ids)
        ]
    a, r = (next(iter(x.values()))[0] for x in acts)
    return SaraSteering(a, r, layer=layer, coeff=coeff, scope=scope), pair

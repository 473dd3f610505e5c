"""What ``tune`` measures at each point: the steering itself, the preference for the attract text
over the repel text, and the same preference on held-out probes.

The effect of a point is a difference of differences of mean per-token log-likelihoods (mean per
token, so the two texts' lengths do not bias it)::

    effect = [LL(attract | steered) - LL(repel | steered)]
           - [LL(attract | unsteered) - LL(repel | unsteered)]

read after the chat prompt, with the continuation scored exactly as generation would produce it
(:func:`sara_core.engine.decoding.score_continuations`). Its known weakness: SARA and ActAdd were
built from those very texts, so part of the effect is "steering makes the model repeat its steering
text". The held-out probe measures the same preference on texts the steering never saw: the
forced-choice items of a bundled bank (presets/choice_*.yaml) whose ``stances`` map the stance
to a pole; their answers avoid the steering prompts' words by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from sara_core.config import SteeringConfig
from sara_core.engine.decoding import Continuation
from sara_core.models.loading import LoadedModel
from sara_core.prompts import SteeringTexts, encode_prompt, encode_steering_text
from sara_core.steering.actadd import ActAddSteering, pad_pair, space_pad_id
from sara_core.steering.hooks import residuals_at
from sara_core.steering.interface import Steering
from sara_core.steering.sara import SaraSteering


def continuation_ids(lm: LoadedModel, text: str) -> list[int]:
    """A text as the start of the assistant's reply: its tokens, no special tokens added."""
    tok: Any = lm.tokenizer
    return [int(i) for i in tok(text, add_special_tokens=False)["input_ids"]]


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else float("nan")


class SteeringFactory:
    """Both methods' steerings at any block and strength, from one read of every block.

    The attract and repel activations are read exactly as ``prepare_sara`` and
    ``prepare_actadd`` read them (the same token ids, the same batch shapes), once for all
    blocks, so a point's steering equals the one compare builds at that block and strength.
    """

    def __init__(self, lm: LoadedModel, texts: SteeringTexts, config: SteeringConfig):
        self.config = config
        a_ids = encode_steering_text(lm, texts.attract)
        r_ids = encode_steering_text(lm, texts.repel)
        plus, minus = pad_pair(a_ids, r_ids, space_pad_id(lm.tokenizer))
        blocks = list(range(lm.n_layers))
        with lm.lock:
            self._attract = residuals_at(lm.model, torch.tensor([a_ids]), blocks)
            self._repel = residuals_at(lm.model, torch.tensor([r_ids]), blocks)
            pair = residuals_at(lm.model, torch.tensor([plus, minus]), blocks)
        self._diff = {i: (h[0] - h[1]).to(torch.float32) for i, h in pair.items()}

    def make(self, method: str, layer: int, coeff: float) -> Steering:
        c = self.config
        if method == "sara":
            a, r = self._attract[layer][0], self._repel[layer][0]
            return SaraSteering(a, r, layer, coeff, c.k, c.sign, c.scope)
        return ActAddSteering(self._diff[layer], layer, coeff, c.actadd_mode)


@dataclass(frozen=True)
class Probe:
    """A prompt and two continuations: one toward the stance, one away from it (token ids)."""

    prompt: list[int]
    toward: list[int]
    away: list[int]

    def items(self, steerings: Sequence[Steering] = ()) -> list[Continuation]:
        return [
            Continuation(self.prompt, self.toward, tuple(steerings)),
            Continuation(self.prompt, self.away, tuple(steerings)),
        ]


def preference(toward: Sequence[float], away: Sequence[float]) -> float:
    """Mean per-token log-likelihood of the toward text minus that of the away text."""
    return mean(toward) - mean(away)


def preferences(logprobs: Sequence[Sequence[float]]) -> list[float]:
    """Preferences of consecutive (toward, away) pairs of scored continuations."""
    return [preference(logprobs[i], logprobs[i + 1]) for i in range(0, len(logprobs), 2)]


@dataclass(frozen=True)
class HeldOut:
    """Held-out probe texts for one stance: a question and its two answers, per item."""

    bank: str
    pole: str
    questions: tuple[str, ...]
    toward: tuple[str, ...]
    away: tuple[str, ...]

    def describe(self) -> str:
        return f"{len(self.questions)} items of the '{self.bank}' bank, toward '{self.pole}'"

    def probes(self, lm: LoadedModel, instruction: str | None = None) -> list[Probe]:
        """The items as probes: each question as the chat prompt (after ``instruction``)."""
        return [
            Probe(
                encode_prompt(lm, q, instruction=instruction)[0].tolist(),
                continuation_ids(lm, t),
                continuation_ids(lm, a),
            )
            for q, t, a in zip(self.questions, self.toward, self.away, strict=True)
        ]


def held_out_for(
    stance: str | None, count: int, banks: Sequence[Any] | None = None
) -> HeldOut | None:
    """``count`` items of the first bundled bank that maps ``stance`` to a pole, or None.

    Items alternate between the two poles' ``act`` (where a bank marks it), so a model's
    leaning to act or to refrain cannot pass for the stance.
    """
    if not stance or count <= 0:
        return None
    from sara_core.presets.choice import bundled_choice_banks

    for bank in bundled_choice_banks() if banks is None else banks:
        pole = next((p for s, p in bank.stances.items() if s.casefold() == stance.casefold()), None)
        if pole is None:
            continue
        other = bank.poles[1] if pole == bank.poles[0] else bank.poles[0]
        groups = [[i for i in bank.items if i.act == p] for p in (pole, other)]
        groups.append([i for i in bank.items if i.act not in (pole, other)])
        order = [g[j] for j in range(max(map(len, groups))) for g in groups if j < len(g)]
        chosen = order[:count]
        return HeldOut(
            bank.name,
            pole,
            tuple(i.question for i in chosen),
            tuple(i.options[pole] for i in chosen),
            tuple(i.options[other] for i in chosen),
        )
    return None

"""Planning a comparison: validate the request, then build its two steerings.

:func:`plan_compare` checks everything before any work, so bad input fails at the call with a
message a user can act on; :func:`build_steerings` makes both steerings, through
:func:`sara_steering` and :func:`actadd_steering`: the one resolver of prepared (uploaded, saved)
steerings, which serve uses too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.results import ROWS
from sara_core.models.loading import LoadedModel
from sara_core.prompts import (
    SteeringTexts,
    check_text,
    check_texts,
    encode_prompt,
    encode_steering_text,
)
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.prepare import PreparedSteerings, prepare_actadd, prepare_sara
from sara_core.steering.sara import SaraSteering
from sara_core.validation import InputError


@dataclass
class ComparePlan:
    """A validated request: everything a run needs, checked before any work starts."""

    input_ids: torch.Tensor
    texts: SteeringTexts
    layer: int
    config: SteeringConfig
    settings: GenerationSettings
    prepared: PreparedSteerings | None
    prompted_ids: torch.Tensor | None = None  # the prompted baseline's prompt, when asked for
    instruction: str | None = None

    @property
    def rows(self) -> tuple[str, ...]:
        """The answers this plan produces, in batch order."""
        return ROWS if self.prompted_ids is not None else ROWS[:3]


def plan_compare(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    config: SteeringConfig | None = None,
    settings: GenerationSettings | None = None,
    prepared: PreparedSteerings | None = None,
    max_new_tokens: int | None = None,
    prompted: bool | str = False,
) -> ComparePlan:
    """Validate a request; every problem is an InputError with a message a user can act on.

    ``prompted`` adds a fourth answer with the stance written into the prompt instead of steered
    into the activations (the baseline AxBench found hard to beat): True puts the attract text
    before the question, a string puts that instruction there.

    With ``prepared`` steerings the layer is theirs: a ``config.layer`` that names another block
    is refused (the same rule in the library, the CLI and the app).
    """
    config = (config or SteeringConfig()).validate(lm.n_layers)
    settings = settings or GenerationSettings()
    settings.validate(*(() if max_new_tokens is None else (max_new_tokens,)))
    texts = check_texts(lm, prompt, attract, repel)
    layer = config.resolved_layer(lm.n_layers)
    if prepared is not None:
        if prepared.sara is None and prepared.actadd is None:
            raise InputError("the prepared steering holds neither SARA nor ActAdd")
        own = prepared.layer
        if not 0 <= own < lm.n_layers:
            raise InputError(
                f"the prepared steering is for block {own}; this model has {lm.n_layers}"
            )
        if config.layer is not None and layer != own:
            raise InputError(
                f"the layer asked for ({layer}) differs from the prepared steering's block {own}: "
                "use that block, or compute a new steering"
            )
        layer = own
    input_ids = encode_prompt(lm, texts.prompt)
    if prepared is not None and prepared.sara is not None:
        sara_len = prepared.sara.max_k
    else:
        sara_len = min(
            len(encode_steering_text(lm, texts.attract)), len(encode_steering_text(lm, texts.repel))
        )
    limit = min(sara_len, input_ids.shape[1])
    if config.k is not None and config.k > limit:
        raise InputError(
            f"k={config.k} is too large: the shortest of the prompt ({input_ids.shape[1]} tokens), "
            f"attract and repel ({sara_len} tokens for the shorter) allows at most {limit}"
        )
    instruction = None
    prompted_ids = None
    if prompted is not False:
        instruction = (
            texts.attract if prompted is True else check_text(lm, "the instruction", prompted)
        )
        prompted_ids = encode_prompt(lm, texts.prompt, instruction=instruction)
    return ComparePlan(
        input_ids, texts, layer, config, settings, prepared, prompted_ids, instruction
    )


@dataclass
class BuiltSteerings:
    sara: SaraSteering
    actadd: ActAddSteering
    sara_s: float  # seconds to build SARA's
    actadd_s: float


def build_steerings(lm: LoadedModel, plan: ComparePlan) -> BuiltSteerings:
    """Both steerings for a plan: new ones from the texts, or the prepared ones with this
    request's coefficients and options; a prepared file holding one of them gets the other
    computed from the texts."""
    c, t, layer = plan.config, plan.texts, plan.layer
    p = plan.prepared or PreparedSteerings()
    t0 = time.perf_counter()
    sara = sara_steering(lm, t.attract, t.repel, layer, c, p.sara)
    t1 = time.perf_counter()
    actadd = actadd_steering(lm, t.attract, t.repel, layer, c, p.actadd)
    return BuiltSteerings(sara, actadd, t1 - t0, time.perf_counter() - t1)


def sara_steering(
    lm: LoadedModel,
    attract: str,
    repel: str,
    layer: int,
    config: SteeringConfig,
    prepared: SaraSteering | None = None,
) -> SaraSteering:
    """SARA at ``layer`` with ``config``'s coefficient, k, sign and scope: from a prepared
    (uploaded, saved) steering's activations, else from the texts through the preparation
    cache. The one resolver of a saved SARA steering (the app, the CLI and serve)."""
    c = config
    if prepared is None:
        return prepare_sara(lm, attract, repel, layer, c.sara_coeff, c.k, c.sign, c.scope)
    return SaraSteering(
        prepared.attract_acts, prepared.repel_acts, layer, c.sara_coeff, c.k, c.sign, c.scope
    )


def actadd_steering(
    lm: LoadedModel,
    attract: str,
    repel: str,
    layer: int,
    config: SteeringConfig,
    prepared: ActAddSteering | None = None,
) -> ActAddSteering:
    """ActAdd at ``layer`` with ``config``'s coefficient and mode: from a prepared steering's
    difference, else from the texts through the preparation cache."""
    c = config
    if prepared is None:
        return prepare_actadd(lm, attract, repel, layer, c.actadd_coeff, c.actadd_mode)
    return ActAddSteering(prepared.diff, layer, c.actadd_coeff, c.actadd_mode)

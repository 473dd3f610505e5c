"""sara_core: SARA and ActAdd activation steering for causal language models.

SARA (Similarity-based Activation Steering with Repulsion and Attraction, Tlaie 2024) rescales each
hidden unit by how much more the prompt resembles an "attract" prompt than a "repel" prompt in an
SVD-reduced space. ActAdd (Turner et al. 2023) adds a difference of activations. Both implement
one :class:`Steering` interface; a batched decode loop gives every row its own steering.
"""

from sara_core.actadd import ActAddSteering, actadd_vector
from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.decoding import Continuation, Row, Sampling, decode_rows, score_continuations
from sara_core.generation import (
    CompareResult,
    CompareUpdate,
    PreparedSteerings,
    compare,
    generate,
    prepare_actadd,
    prepare_sara,
    stream_compare,
)
from sara_core.layers import SteeringHooks, edit_residual, residual_at, residuals_at
from sara_core.models.blocks import get_blocks
from sara_core.models.errors import ModelBusyError, ModelLoadError
from sara_core.models.loading import LoadedModel, load_model
from sara_core.models.names import EMBEDDED_ID
from sara_core.prompts import encode_prompt, encode_steering_text
from sara_core.sara import SaraResult, SaraSteering, sara_components, sara_scores, svd_factors
from sara_core.steering import Steering
from sara_core.validation import InputError

__version__ = "0.2.0"

__all__ = [
    "EMBEDDED_ID",
    "ActAddSteering",
    "CompareResult",
    "CompareUpdate",
    "Continuation",
    "GenerationSettings",
    "InputError",
    "LoadedModel",
    "ModelBusyError",
    "ModelLoadError",
    "PreparedSteerings",
    "Row",
    "Sampling",
    "SaraResult",
    "SaraSteering",
    "Steering",
    "SteeringConfig",
    "SteeringHooks",
    "actadd_vector",
    "compare",
    "decode_rows",
    "edit_residual",
    "encode_prompt",
    "encode_steering_text",
    "generate",
    "get_blocks",
    "load_model",
    "prepare_actadd",
    "prepare_sara",
    "residual_at",
    "residuals_at",
    "sara_components",
    "sara_scores",
    "score_continuations",
    "stream_compare",
    "svd_factors",
]

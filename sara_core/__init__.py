"""sara_core: SARA and ActAdd activation steering for causal language models.

SARA (Similarity-based Activation Steering with Repulsion and Attraction, Tlaie 2024) rescales each
hidden unit by how much more the prompt resembles an "attract" prompt than a "repel" prompt in an
SVD-reduced space. ActAdd (Turner et al. 2023) adds a difference of activations. Both are here,
with model loading, hooks that never leak, generation, plots, presets, a CLI and a benchmark.
"""

from sara_core.actadd import ActAddSteering, actadd_vector
from sara_core.generation import (
    CompareResult,
    CompareUpdate,
    GenerationSettings,
    SteeringConfig,
    compare,
    default_layer,
    encode_prompt,
    encode_steering_text,
    generate,
    prepare_actadd,
    prepare_sara,
    stream_compare,
)
from sara_core.layers import MODEL_LOCK, edit_residual, get_blocks, residual_at
from sara_core.models import EMBEDDED_ID, LoadedModel, ModelLoadError, load_model
from sara_core.sara import SaraResult, SaraSteering, sara_components, sara_scores, svd_factors

__version__ = "0.1.0"

__all__ = [
    "EMBEDDED_ID",
    "MODEL_LOCK",
    "ActAddSteering",
    "CompareResult",
    "CompareUpdate",
    "GenerationSettings",
    "LoadedModel",
    "ModelLoadError",
    "SaraResult",
    "SaraSteering",
    "SteeringConfig",
    "actadd_vector",
    "compare",
    "default_layer",
    "edit_residual",
    "encode_prompt",
    "encode_steering_text",
    "generate",
    "get_blocks",
    "load_model",
    "prepare_actadd",
    "prepare_sara",
    "residual_at",
    "sara_components",
    "sara_scores",
    "stream_compare",
    "svd_factors",
]

"""The public names of :mod:`sara_core` and the module each one lives in.

``sara_core/__init__.py`` reads this file (lazy_loader.attach_stub) and imports a name's
module on first use; mypy reads it for the types. Add a public name here, nowhere else.
"""

from .config import GenerationSettings as GenerationSettings, SteeringConfig as SteeringConfig
from .engine.compare import (
    compare as compare,
    generate as generate,
    stream_compare as stream_compare,
)
from .engine.decoding import (
    Continuation as Continuation,
    decode_rows as decode_rows,
    score_continuations as score_continuations,
)
from .engine.results import CompareResult as CompareResult, CompareUpdate as CompareUpdate
from .engine.row import Row as Row, Sampling as Sampling
from .models.blocks import get_blocks as get_blocks
from .models.errors import ModelBusyError as ModelBusyError, ModelLoadError as ModelLoadError
from .models.loading import LoadedModel as LoadedModel, load_model as load_model
from .models.names import EMBEDDED_ID as EMBEDDED_ID
from .prompts import encode_prompt as encode_prompt, encode_steering_text as encode_steering_text
from .steering.actadd import ActAddSteering as ActAddSteering, actadd_vector as actadd_vector
from .steering.hooks import (
    SteeringHooks as SteeringHooks,
    edit_residual as edit_residual,
    residual_at as residual_at,
    residuals_at as residuals_at,
)
from .steering.interface import Steering as Steering
from .steering.prepare import (
    PreparedSteerings as PreparedSteerings,
    prepare_actadd as prepare_actadd,
    prepare_sara as prepare_sara,
)
from .steering.sara import (
    SaraResult as SaraResult,
    SaraSteering as SaraSteering,
    sara_components as sara_components,
    sara_scores as sara_scores,
    svd_factors as svd_factors,
)
from .validation import InputError as InputError

__version__: str

"""What a comparison is asked to do: where and how strongly to steer, and how to decode.

Both dataclasses validate through :mod:`sara_core.validation`, so a value means the same in the
library, the CLI, the API and the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

from sara_core.steering.actadd import MODES
from sara_core.steering.sara import SCOPES, SIGNS
from sara_core.validation import (
    MAX_COEFF,
    MAX_NEW_TOKENS,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_k,
    resolve_layer,
)

MAX_SEED = 2**63 - 1


@dataclass
class GenerationSettings:
    """Decoding shared by every answer of a comparison: greedy by default; sampling reproduces by
    seed, row by row, whatever else shares the batch."""

    max_new_tokens: int = 80
    do_sample: bool = False
    temperature: float = 0.8
    top_p: float = 1.0
    seed: int = 0
    min_new_tokens: int = 0  # set equal to max_new_tokens to force a fixed length (benchmarks)

    def validate(self, max_new_tokens: int = MAX_NEW_TOKENS) -> GenerationSettings:
        """Check every field (``max_new_tokens`` caps the length: apps set lower caps)."""
        self.max_new_tokens = as_int("max_new_tokens", self.max_new_tokens, 1, max_new_tokens)
        self.min_new_tokens = as_int("min_new_tokens", self.min_new_tokens, 0, self.max_new_tokens)
        self.seed = as_int("seed", self.seed, 0, MAX_SEED)
        self.do_sample = as_bool("do_sample", self.do_sample)
        if self.do_sample:
            self.temperature = as_float("temperature", self.temperature, 1e-3, 10.0)
            self.top_p = as_float("top_p", self.top_p, 1e-3, 1.0)
        return self


@dataclass
class SteeringConfig:
    """Where and how strongly to steer.

    ``layer=None`` is the model's default block (the middle one); a negative layer counts from the
    end, as in Python. ``k=None`` is the shortest prompt's token count (the author's choice).
    """

    layer: int | None = None
    k: int | None = None
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    scope: str = "prompt"
    sign: str = "raw"
    actadd_mode: str = "prefix"
    batched: bool | None = None  # None: one batch for all rows (measured faster on CPU and GPU)

    def validate(self, n_layers: int | None = None) -> SteeringConfig:
        """Check every field; the layer is checked against ``n_layers`` when it is known."""
        if self.layer is not None:
            self.layer = as_int("layer", self.layer, -(10**6), 10**6)
            if n_layers is not None:
                resolve_layer(self.layer, n_layers)
        self.k = as_k(self.k)
        self.sara_coeff = as_float("sara_coeff", self.sara_coeff, -MAX_COEFF, MAX_COEFF)
        self.actadd_coeff = as_float("actadd_coeff", self.actadd_coeff, -MAX_COEFF, MAX_COEFF)
        self.scope = as_choice("scope", self.scope, SCOPES)
        self.sign = as_choice("sign", self.sign, SIGNS)
        self.actadd_mode = as_choice("actadd_mode", self.actadd_mode, MODES)
        return self

    def resolved_layer(self, n_layers: int) -> int:
        """The block to steer, as a positive index."""
        return resolve_layer(self.layer, n_layers)

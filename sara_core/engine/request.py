"""A comparison request: every field listed once, in the API's order.

The app's inputs, the ``/compare`` endpoint's parameters and the CLI's checks all derive from
:class:`CompareRequest`; :meth:`CompareRequest.parse` turns raw values (widgets, JSON, strings)
into checked ones with :mod:`sara_core.validation`, so each value means the same everywhere.
New fields go at the end, so positional API clients keep working.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from sara_core.config import MAX_SEED, GenerationSettings, SteeringConfig
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
    as_optional_int,
    as_text,
)


def _optional_text(name: str, value: Any) -> str:
    """Empty means "not given"; otherwise the usual text checks."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return ""
    return as_text(name, value)


@dataclass(frozen=True)
class CompareRequest:
    """What a person asks for: the texts, where and how strongly to steer, how to decode.

    ``layer=None`` is the model's default block; a negative layer counts from the end. ``k=None``
    (or 0) is the shortest prompt's token count.
    """

    dilemma: str
    attract: str
    repel: str
    layer: int | None = None
    max_new_tokens: int = 80
    k: int | None = None
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    scope: str = "prompt"
    do_sample: bool = False
    temperature: float = 0.8
    top_p: float = 1.0
    seed: int = 0
    sign: str = "raw"
    actadd_mode: str = "prefix"
    prompted: bool = True
    instruction: str = ""  # empty: the attract text is the instruction

    @classmethod
    def names(cls) -> list[str]:
        """The field names, in the API's positional order."""
        return [f.name for f in fields(cls)]

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {
            f.name: f.default for f in fields(cls) if f.name not in ("dilemma", "attract", "repel")
        }

    @classmethod
    def parse(
        cls,
        raw: Mapping[str, Any],
        max_new_tokens: int = MAX_NEW_TOKENS,
        n_layers: int | None = None,
    ) -> CompareRequest:
        """Check every raw value; an InputError names the first bad one. Missing values take the
        defaults; ``max_new_tokens`` is the caller's cap, ``n_layers`` the model's depth."""
        values = {
            **cls.defaults(),
            **{k: v for k, v in raw.items() if v is not None or k in ("layer", "k")},
        }
        unknown = set(raw) - set(cls.names())
        if unknown:
            raise TypeError(f"unknown request fields: {', '.join(sorted(unknown))}")
        sample = as_bool("do_sample", values["do_sample"])
        layer_hint = f" (this model has {n_layers} blocks)" if n_layers else ""
        hi = (n_layers - 1) if n_layers else 10**6
        return cls(
            dilemma=as_text("the dilemma", values.get("dilemma")),
            attract=as_text("the attract prompt", values.get("attract")),
            repel=as_text("the repel prompt", values.get("repel")),
            layer=as_optional_int("layer", values["layer"], -hi - 1, hi, layer_hint),
            max_new_tokens=as_int("max_new_tokens", values["max_new_tokens"], 1, max_new_tokens),
            k=as_k(values["k"]),
            sara_coeff=as_float(
                "the SARA coefficient", values["sara_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            actadd_coeff=as_float(
                "the ActAdd coefficient", values["actadd_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            scope=as_choice("scope", values["scope"], SCOPES),
            do_sample=sample,
            temperature=as_float("temperature", values["temperature"], 1e-3, 10.0)
            if sample
            else 0.8,
            top_p=as_float("top_p", values["top_p"], 1e-3, 1.0) if sample else 1.0,
            seed=as_int("seed", values["seed"], 0, MAX_SEED),
            sign=as_choice("sign", values["sign"], SIGNS),
            actadd_mode=as_choice("actadd_mode", values["actadd_mode"], MODES),
            prompted=as_bool("prompted", values["prompted"]),
            instruction=_optional_text("the instruction", values["instruction"]),
        )

    def prompted_arg(self) -> bool | str:
        """What ``compare(prompted=...)`` takes: off, the attract text, or the instruction."""
        if not self.prompted:
            return False
        return self.instruction or True

    def config(self) -> SteeringConfig:
        return SteeringConfig(
            layer=self.layer,
            k=self.k,
            sara_coeff=self.sara_coeff,
            actadd_coeff=self.actadd_coeff,
            scope=self.scope,
            sign=self.sign,
            actadd_mode=self.actadd_mode,
        )

    def settings(self) -> GenerationSettings:
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.do_sample,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
        )

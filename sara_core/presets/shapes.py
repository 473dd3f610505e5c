"""Real model shapes for ``random:NAME`` models, read from the bundled ``shapes.yaml``.

A shape is the architecture half of a public model's ``config.json`` (the file names its page), so
a model of that size can be built with random weights where its real weights cannot be
downloaded (:mod:`sara_core.models.random_models`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sara_core.presets.entries import MAX_SHORT_CHARS, Entry, entries, names, norm
from sara_core.presets.files import read_file, resolve

# The config fields a shape may set: enough for the architectures we ship, nothing that runs code
# or points at files. A value outside them is a typo in the data file, refused with its name.
CONFIG_FIELDS = (
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "hidden_activation",
    "max_position_embeddings",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "attention_bias",
    "mlp_bias",
    "attn_logit_softcapping",
    "final_logit_softcapping",
    "query_pre_attn_scalar",
    "sliding_window",
    "use_sliding_window",
    "max_window_layers",
    "tie_word_embeddings",
    "vocab_size",
)
MODEL_TYPES = ("gemma", "gemma2", "llama", "qwen2")
"""Architectures a shape may name: those our steering and decoding are tested on."""


@dataclass(frozen=True)
class Shape:
    """One public model's architecture: ``config`` holds its config.json fields."""

    name: str
    hub_id: str
    source: str
    config: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def vocab_size(self) -> int:
        """The real model's vocabulary (a random model uses the embedded tokenizer's)."""
        return int(self.config["vocab_size"])


def load_shapes(path: Path | str | None = None) -> list[Shape]:
    """The shapes in ``path`` (YAML, JSON or TOML), or in the bundled ``shapes.yaml``.

    Raises :class:`~sara_core.presets.PresetError` naming the file and entry on any problem.
    """
    parsed = read_file(resolve(path, "shapes.yaml"))
    out: list[Shape] = []
    seen: set[str] = set()
    for index, raw in enumerate(entries(parsed.path, parsed.data, "shapes"), start=1):
        entry = Entry(parsed.path, index, raw, ("name",))
        entry.check_fields(("name", "hub_id", "source", "config"), ("note",))
        name = entry.text("name", 64)
        if norm(name) in seen:
            raise entry.fail(f"duplicate shape name {name!r}")
        seen.add(norm(name))
        config = raw["config"]
        if not isinstance(config, Mapping):
            raise entry.fail("field 'config' must be a mapping of config.json fields")
        unknown = sorted(str(k) for k in config if k not in CONFIG_FIELDS)
        if unknown:
            raise entry.fail(f"config has unknown field(s) {', '.join(unknown)}")
        for key in ("model_type", "hidden_size", "num_hidden_layers", "vocab_size"):
            if key not in config:
                raise entry.fail(f"config lacks {key!r}")
        if config["model_type"] not in MODEL_TYPES:
            raise entry.fail(
                f"config model_type {config['model_type']!r} is not one of {', '.join(MODEL_TYPES)}"
            )
        out.append(
            Shape(
                name=name,
                hub_id=entry.text("hub_id", MAX_SHORT_CHARS),
                source=entry.text("source", MAX_SHORT_CHARS),
                config=dict(config),
                note=entry.text("note", MAX_SHORT_CHARS, required=False),
            )
        )
    return out


def get_shape(name: str, shapes: Sequence[Shape] | None = None) -> Shape:
    """The shape called ``name`` (case ignored); a ValueError listing the known names if none."""
    shapes = load_shapes() if shapes is None else shapes
    for shape in shapes:
        if norm(shape.name) == norm(name):
            return shape
    raise ValueError(
        f"unknown model shape {name!r} in random:{name}; known shapes: "
        f"{names(f'random:{s.name}' for s in shapes)}"
    )

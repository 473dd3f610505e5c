"""Preset stances, dilemmas, the MFQ-style questionnaire and forced-choice banks, from data files.

The bundled files live in the repository's ``presets/`` folder (override with the environment
variable ``SARA_PRESETS_DIR``). Users may supply their own stance or dilemma files in YAML, JSON
or TOML; see ``docs/presets.md`` for the format and the limits every file is read within. Every
problem with a file is a :class:`PresetError` (a ``ValueError``) whose message names the file
and, where it applies, the entry (1-based position and name) and the field.

Modules: ``files`` (bounded reading and parsing), ``entries`` (checking entries), ``stances``,
``dilemmas``, ``user`` (a user's own file), ``questionnaire``, ``choice`` (forced-choice item
banks), ``paper`` (the pre-print's texts) and ``defaults`` (measured starting settings per
model).
"""

from sara_core.presets.choice import (
    ChoiceBank,
    ChoiceItem,
    bundled_choice_banks,
    get_choice_bank,
    load_choice_bank,
)
from sara_core.presets.defaults import ModelDefaults, defaults_for, load_defaults
from sara_core.presets.dilemmas import Dilemma, get_dilemma, load_dilemmas, merge_dilemmas, slugify
from sara_core.presets.entries import MAX_ENTRIES, MAX_NAME_CHARS, MAX_SHORT_CHARS
from sara_core.presets.files import (
    ENV_VAR,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_YAML_NODES,
    PRESETS_DIR,
    PresetError,
    presets_dir,
)
from sara_core.presets.paper import PAPER_ATTRACT, PAPER_DILEMMA, PAPER_PREFIX, PAPER_REPEL
from sara_core.presets.questionnaire import (
    FOUNDATIONS,
    Questionnaire,
    QuestionnaireItem,
    load_questionnaire,
)
from sara_core.presets.stances import CATEGORIES, Stance, get_stance, load_stances, merge_stances
from sara_core.presets.user import load_user_presets
from sara_core.validation import MAX_TEXT_CHARS

__all__ = [
    "CATEGORIES",
    "ENV_VAR",
    "FOUNDATIONS",
    "MAX_DEPTH",
    "MAX_ENTRIES",
    "MAX_FILE_BYTES",
    "MAX_NAME_CHARS",
    "MAX_SHORT_CHARS",
    "MAX_TEXT_CHARS",
    "MAX_YAML_NODES",
    "PAPER_ATTRACT",
    "PAPER_DILEMMA",
    "PAPER_PREFIX",
    "PAPER_REPEL",
    "PRESETS_DIR",
    "ChoiceBank",
    "ChoiceItem",
    "Dilemma",
    "ModelDefaults",
    "PresetError",
    "Questionnaire",
    "QuestionnaireItem",
    "Stance",
    "bundled_choice_banks",
    "defaults_for",
    "get_choice_bank",
    "get_dilemma",
    "get_stance",
    "load_choice_bank",
    "load_defaults",
    "load_dilemmas",
    "load_questionnaire",
    "load_stances",
    "load_user_presets",
    "merge_dilemmas",
    "merge_stances",
    "presets_dir",
    "slugify",
]

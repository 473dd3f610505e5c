"""Measured starting settings per model (sara_core.presets.defaults)."""

from __future__ import annotations

import pytest

from sara_core.models.names import EMBEDDED_ID
from sara_core.presets.defaults import ModelDefaults, defaults_for, load_defaults
from sara_core.presets.dilemmas import get_dilemma
from sara_core.presets.files import PresetError
from sara_core.presets.stances import get_stance

ENTRY = """defaults:
  - model: {model}
    layer: {layer}
    sara_coeff: {sara}
    actadd_coeff: 4
    example_dilemma: parent_criminal
    example_stance: optimistic
    note: measured
"""


def _file(tmp_path, text):
    path = tmp_path / "defaults.yaml"
    path.write_text(text)
    return path


def test_an_entry_loads_and_is_found_by_model_name(tmp_path):
    path = _file(tmp_path, ENTRY.format(model="Some/Model", layer=9, sara="2.5"))
    (entry,) = load_defaults(path)
    assert entry == ModelDefaults(
        "Some/Model", 9, 2.5, 4.0, "parent_criminal", "optimistic", "measured", ""
    )
    assert defaults_for(" some/model ", [entry]) is entry
    assert defaults_for("other/model", [entry]) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (ENTRY.format(model="m", layer=-1, sara=1), "field layer=-1 is out of range"),
        (ENTRY.format(model="m", layer=1.5, sara=1), "layer must be a whole number"),
        (ENTRY.format(model="m", layer=3, sara=".nan"), "sara_coeff must be a finite number"),
        (ENTRY.format(model="m", layer=3, sara=1000), "sara_coeff=1000 is out of range"),
        (ENTRY.format(model="m", layer=3, sara=1) + "    colour: red\n", "unknown field"),
        (
            ENTRY.format(model="m", layer=3, sara=1).replace("    actadd_coeff: 4\n", ""),
            "missing required field",
        ),
        (
            ENTRY.format(model="m", layer=3, sara=1)
            + ENTRY.format(model="M", layer=4, sara=1)[10:],
            "duplicate model",
        ),
        ("defaults: []\n", "empty"),
    ],
)
def test_bad_entries_are_refused_with_file_and_entry(tmp_path, text, message):
    path = _file(tmp_path, text)
    with pytest.raises(PresetError, match=message) as err:
        load_defaults(path)
    assert str(path) in str(err.value)


def test_the_bundled_entry_for_the_embedded_model_names_real_presets():
    entry = defaults_for(EMBEDDED_ID)
    assert entry is not None and 0 <= entry.layer < 30
    assert entry.sara_coeff > 0 and entry.actadd_coeff > 0
    assert get_dilemma(entry.example_dilemma).id == entry.example_dilemma
    assert get_stance(entry.example_stance).name == entry.example_stance
    assert "docs/tuning.md" in entry.source and entry.note


def test_a_packaged_model_finds_its_entry_by_its_loaded_name():
    """``pypi:NAME`` loads under its canonical name (any case typed), the key of its entry."""
    from sara_core.models import packaged

    model = packaged.get("PYPI:Gemma-3-270M")
    entry = ModelDefaults("pypi:gemma-3-270m", 6, 1.0, 2.0, "parent_criminal", "optimistic")
    assert model.model_id == "pypi:gemma-3-270m"
    assert defaults_for(model.model_id, [entry]) is entry

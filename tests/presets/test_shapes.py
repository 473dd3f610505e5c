"""The bundled real shapes (presets/shapes.yaml) and the loader's checks."""

from __future__ import annotations

import pytest

from sara_core.presets.files import PresetError
from sara_core.presets.shapes import get_shape, load_shapes

REQUIRED = {
    "gemma-2b",
    "gemma-2-2b",
    "llama-3.2-1b",
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "smollm2-135m",
}


def test_the_bundled_shapes_cover_the_issue_and_name_their_source():
    shapes = {s.name: s for s in load_shapes()}
    assert set(shapes) >= REQUIRED
    for shape in shapes.values():
        assert shape.source == f"https://huggingface.co/{shape.hub_id}/blob/main/config.json"
    # the pre-print's model and the allowlisted one, as their cards give them
    g1, g2 = shapes["gemma-2b"].config, shapes["gemma-2-2b"].config
    assert (g1["hidden_size"], g1["num_hidden_layers"], g1["num_key_value_heads"]) == (2048, 18, 1)
    assert (g2["hidden_size"], g2["num_hidden_layers"], g2["head_dim"]) == (2304, 26, 256)
    assert g2["attn_logit_softcapping"] == 50.0 and g2["final_logit_softcapping"] == 30.0
    assert shapes["smollm2-135m"].vocab_size == 49_152


def test_an_unknown_shape_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown model shape 'gemma-9b'.*random:gemma-2-2b"):
        get_shape("gemma-9b")
    assert get_shape("GEMMA-2-2B").name == "gemma-2-2b"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("shapes: [{name: a, hub_id: x/y, source: s, config: {model_type: llama}}]", "lacks"),
        (
            "shapes: [{name: a, hub_id: x/y, source: s, config: {model_type: llama, "
            "hidden_size: 8, num_hidden_layers: 1, vocab_size: 9, trust_remote_code: true}}]",
            "unknown field.*trust_remote_code",
        ),
        (
            "shapes: [{name: a, hub_id: x/y, source: s, config: {model_type: mamba, "
            "hidden_size: 8, num_hidden_layers: 1, vocab_size: 9}}]",
            "model_type 'mamba' is not one of",
        ),
        ("shapes: [{name: a, hub_id: x/y, source: s, config: 3}]", "must be a mapping"),
        ("shapes: [{name: a, hub_id: x/y, config: {}}]", "missing required"),
    ],
)
def test_bad_shape_files_are_refused_with_the_entry(tmp_path, text, problem):
    path = tmp_path / "shapes.yaml"
    path.write_text(text)
    with pytest.raises(PresetError, match=problem):
        load_shapes(path)

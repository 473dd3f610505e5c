"""Saving and loading a steering; every malformed file is a clear ValueError."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from sara_core.actadd import ActAddSteering
from sara_core.generation import GenerationSettings, SteeringConfig, compare
from sara_core.sara import SaraSteering
from sara_core.steering_io import load_steering, save_steering

PROMPT = "Should they report them to the authorities?"
ATTRACT = "I am happy and hopeful."
REPEL = "I am sad and hopeless."


@pytest.fixture
def made(tiny_lm):
    cfg = SteeringConfig(layer=2, sara_coeff=1.5, actadd_coeff=3.0, k=3, sign="canonical")
    return compare(tiny_lm, PROMPT, ATTRACT, REPEL, cfg, GenerationSettings(max_new_tokens=4))


def test_round_trip_reproduces_the_answers(tiny_lm, made, tmp_path):
    path = save_steering(
        tmp_path / "s.safetensors",
        sara=made.sara_steering,
        actadd=made.actadd_steering,
        model=tiny_lm.name,
        attract=ATTRACT,
        repel=REPEL,
        prompt=PROMPT,
    )
    saved = load_steering(path, hidden_size=64, n_layers=4)
    assert saved.layer == 2 and saved.meta["model"] == tiny_lm.name
    assert saved.meta["attract"] == ATTRACT and saved.meta["sara"]["k"] == 3
    assert torch.equal(saved.sara.attract_acts, made.sara_steering.attract_acts)
    assert torch.equal(saved.actadd.diff, made.actadd_steering.diff)
    assert torch.equal(saved.scores, made.sara_analysis.scores)
    assert saved.sara.sign == "canonical" and saved.actadd.coeff == 3.0


def test_only_one_method_can_be_saved(tmp_path):
    a = ActAddSteering(torch.ones(3, 8), layer=1)
    saved = load_steering(save_steering(tmp_path / "a.safetensors", actadd=a))
    assert saved.sara is None and saved.actadd is not None
    with pytest.raises(ValueError, match="nothing to save"):
        save_steering(tmp_path / "b.safetensors")
    s = SaraSteering(torch.ones(3, 8), torch.ones(2, 8), layer=2)
    with pytest.raises(ValueError, match="one layer"):
        save_steering(tmp_path / "c.safetensors", sara=s, actadd=a)


def _write(path, tensors, meta):
    header = (
        None if meta is None else {"sara_core": meta if isinstance(meta, str) else json.dumps(meta)}
    )
    save_file(tensors, str(path), metadata=header)
    return path


GOOD_META = {
    "format": "sara-steering",
    "version": 1,
    "layer": 1,
    "actadd": {"coeff": 2.0, "mode": "prefix"},
}


@pytest.mark.parametrize(
    ("tensors", "meta", "match"),
    [
        ({"actadd.diff": torch.ones(2, 8)}, None, "no sara_core metadata"),
        ({"actadd.diff": torch.ones(2, 8)}, "{broken", "no sara_core metadata"),
        ({"actadd.diff": torch.ones(2, 8)}, {**GOOD_META, "format": "x"}, "format"),
        ({"actadd.diff": torch.ones(2, 8)}, {**GOOD_META, "version": 99}, "version"),
        ({"actadd.diff": torch.ones(2, 8)}, {**GOOD_META, "layer": -1}, "layer"),
        ({"actadd.diff": torch.ones(2, 8)}, {**GOOD_META, "layer": 9}, "this model has 4 blocks"),
        ({"actadd.diff": torch.ones(2, 5)}, GOOD_META, "hidden size 5"),
        ({"actadd.diff": torch.full((2, 8), float("nan"))}, GOOD_META, "finite"),
        ({"actadd.diff": torch.ones(2, 8, dtype=torch.int64)}, GOOD_META, "finite floats"),
        ({"other": torch.ones(2, 8)}, GOOD_META, "difference tensor is missing"),
        (
            {"actadd.diff": torch.ones(2, 8)},
            {**GOOD_META, "actadd": {"coeff": float("inf"), "mode": "prefix"}},
            "finite",
        ),
        (
            {"actadd.diff": torch.ones(2, 8)},
            {**GOOD_META, "actadd": {"coeff": 1e9, "mode": "prefix"}},
            "out of range",
        ),
        (
            {"actadd.diff": torch.ones(2, 8)},
            {**GOOD_META, "actadd": {"coeff": 1, "mode": "up"}},
            "mode",
        ),
        ({"actadd.diff": torch.ones(8)}, GOOD_META, "hidden"),
        (
            {"sara.attract_acts": torch.ones(2, 8)},
            {
                **GOOD_META,
                "actadd": None,
                "sara": {"coeff": 1, "k": None, "sign": "raw", "scope": "prompt"},
            },
            "activations are missing",
        ),
        ({"x": torch.ones(2, 8)}, {k: v for k, v in GOOD_META.items() if k != "actadd"}, "neither"),
    ],
)
def test_malformed_files_are_refused_clearly(tmp_path, tensors, meta, match):
    path = _write(tmp_path / "bad.safetensors", tensors, meta)
    with pytest.raises(ValueError, match=match) as info:
        load_steering(path, hidden_size=8, n_layers=4)
    assert "bad.safetensors" in str(info.value) or "steering" in str(info.value)


def test_not_a_safetensors_file(tmp_path):
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01 this is not a steering")
    with pytest.raises(ValueError, match="junk.safetensors is not a valid steering file"):
        load_steering(junk)
    with pytest.raises(ValueError, match="not found"):
        load_steering(tmp_path / "missing.safetensors")


def test_sara_activations_of_wrong_rank_are_refused(tmp_path):
    meta = {
        "format": "sara-steering",
        "version": 1,
        "layer": 1,
        "sara": {"coeff": 1, "k": None, "sign": "raw", "scope": "prompt"},
    }
    tensors = {"sara.attract_acts": torch.ones(8), "sara.repel_acts": torch.ones(2, 8)}
    path = _write(tmp_path / "rank.safetensors", tensors, meta)
    with pytest.raises(ValueError, match="rank.safetensors is not a valid steering file"):
        load_steering(path)

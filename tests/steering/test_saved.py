"""Saving and loading a steering; every malformed file is a clear ValueError."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save_file

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare
from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.sara import SaraSteering
from sara_core.steering.saved import (
    MAX_EXTRA_KEYS,
    MAX_FILE_BYTES,
    MAX_HEADER_BYTES,
    MAX_HIDDEN,
    MAX_MODEL_CHARS,
    MAX_ROWS,
    load_steering,
    save_steering,
)
from sara_core.validation import MAX_TEXT_CHARS

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
        ({"sara.scores": torch.ones(8)}, GOOD_META, "difference tensor is missing"),
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
        (
            {"actadd.diff": torch.ones(2, 8)},
            {k: v for k, v in GOOD_META.items() if k != "actadd"},
            "neither",
        ),
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


# --------------------------------------------------------------------------------------------
# Bounded metadata and tensors: every field, every shape, hostile headers

SARA_SETTINGS = {"coeff": 1.0, "k": None, "sign": "raw", "scope": "prompt"}
SARA_TENSORS = {"sara.attract_acts": torch.ones(3, 8), "sara.repel_acts": torch.ones(2, 8)}


def _refused(path, fragment, **fit):
    with pytest.raises(ValueError) as info:
        load_steering(path, **fit)
    message = str(info.value)
    assert message.startswith(f"{path.name} is not a valid steering file: "), message
    assert fragment in message, (fragment, message)
    assert len(message) < 600, len(message)
    return message


LONG_TEXT = "t" * (MAX_TEXT_CHARS + 1)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"version": "1"}, "unsupported version '1'"),
        ({"version": True}, "unsupported version True"),
        ({"model": 7}, "'model' must be text, got a number"),
        ({"model": "m" * (MAX_MODEL_CHARS + 1)}, "'model' is too long (301 characters; at most"),
        ({"attract": LONG_TEXT}, f"'attract' is too long ({MAX_TEXT_CHARS + 1} characters"),
        ({"repel": ["a"]}, "'repel' must be text, got a list"),
        ({"prompt": LONG_TEXT}, "'prompt' is too long"),
        ({"layer": True}, "'layer' must be an integer between 0 and"),
        ({"layer": "1"}, "'layer' must be an integer between 0 and 3, got '1'"),
        ({"layer": 10**30}, "this model has 4 blocks"),
        ({"actadd": [1]}, "'actadd' settings must be an object, got a list"),
        ({"actadd": {"coeff": 1}}, "'actadd' settings must have exactly the fields coeff, mode"),
        ({"actadd": {"coeff": 1, "mode": "prefix", "x": 1}}, "exactly the fields coeff, mode"),
        ({"actadd": {"coeff": "2", "mode": "prefix"}}, "ActAdd 'coeff' must be a finite number"),
        ({"actadd": {"coeff": True, "mode": "prefix"}}, "ActAdd 'coeff' must be a finite number"),
        ({"actadd": {"coeff": 1, "mode": "x" * 10_000}}, "ActAdd 'mode' must be one of prefix"),
        ({"app": {"nested": [1, 2]}}, "extra metadata field 'app' must have a short name"),
        ({"app": "a" * (MAX_MODEL_CHARS + 1)}, "extra metadata field 'app'"),
        ({f"x{i}": 1 for i in range(MAX_EXTRA_KEYS + 1)}, "17 extra metadata fields, at most 16"),
    ],
)
def test_metadata_fields_are_checked(tmp_path, change, fragment):
    meta = {**GOOD_META, **change}
    path = _write(tmp_path / "meta.safetensors", {"actadd.diff": torch.ones(2, 8)}, meta)
    _refused(path, fragment, hidden_size=8, n_layers=4)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"k": 0}, "SARA 'k' must be an integer between 1 and"),
        ({"k": True}, "SARA 'k' must be an integer"),
        ({"k": 10**12}, "SARA 'k' must be an integer between 1 and"),
        ({"coeff": float("nan")}, "SARA 'coeff' must be a finite number, got nan"),
        ({"sign": "up"}, "SARA 'sign' must be one of raw, canonical, got 'up'"),
        ({"scope": None}, "SARA 'scope' must be one of prompt, every-step, got None"),
    ],
)
def test_sara_settings_are_checked(tmp_path, change, fragment):
    meta = {**GOOD_META, "actadd": None, "sara": {**SARA_SETTINGS, **change}}
    _refused(_write(tmp_path / "s.safetensors", SARA_TENSORS, meta), fragment)


def test_texts_at_their_limits_round_trip(tmp_path):
    a = ActAddSteering(torch.ones(MAX_ROWS, 8), layer=1)
    path = save_steering(
        tmp_path / "full.safetensors",
        actadd=a,
        model="m" * MAX_MODEL_CHARS,
        attract="\u00e9" * MAX_TEXT_CHARS,  # escaped to 6 characters each in the JSON
        repel="\U0001f600" * MAX_TEXT_CHARS,  # 12 each
        prompt="\\" * MAX_TEXT_CHARS,
        extra={f"x{i}": "v" * MAX_MODEL_CHARS for i in range(MAX_EXTRA_KEYS)},
    )
    saved = load_steering(path, hidden_size=8, n_layers=4)
    assert saved.meta["repel"] == "\U0001f600" * MAX_TEXT_CHARS
    assert saved.actadd.diff.shape == (MAX_ROWS, 8)


def test_save_refuses_what_load_would_refuse(tmp_path):
    a = ActAddSteering(torch.ones(2, 8), layer=1)
    with pytest.raises(ValueError, match="'model' is too long"):
        save_steering(tmp_path / "a.safetensors", actadd=a, model="m" * (MAX_MODEL_CHARS + 1))
    with pytest.raises(ValueError, match="extra metadata field 'deep'"):
        save_steering(tmp_path / "b.safetensors", actadd=a, extra={"deep": {"a": [1]}})
    assert not (tmp_path / "a.safetensors").exists() and not (tmp_path / "b.safetensors").exists()


SARA_META = {**GOOD_META, "actadd": None, "sara": SARA_SETTINGS}


@pytest.mark.parametrize(
    ("tensors", "meta", "fragment"),
    [
        ({"actadd.diff": torch.ones(2, 8), "x" * 100_000: torch.ones(1)}, GOOD_META, "unknown"),
        ({"actadd.diff": torch.ones(2, 8, dtype=torch.int32)}, GOOD_META, "got I32"),
        ({"actadd.diff": torch.ones(0, 8)}, GOOD_META, "has 0 rows; it must have 1 to"),
        ({"actadd.diff": torch.ones(MAX_ROWS + 1, 8)}, GOOD_META, f"has {MAX_ROWS + 1} rows"),
        ({"actadd.diff": torch.ones(1, 2, 8)}, GOOD_META, "shape (tokens, hidden), got [1, 2, 8]"),
        ({"actadd.diff": torch.ones(2, 8), **SARA_TENSORS}, GOOD_META, "has no settings"),
        ({**SARA_TENSORS, "sara.repel_acts": torch.ones(2, 6)}, SARA_META, "disagree"),
        ({**SARA_TENSORS, "sara.scores": torch.ones(3, 8)}, SARA_META, "shape (hidden,)"),
        ({**SARA_TENSORS, "sara.scores": torch.ones(9)}, SARA_META, "hidden size: 8 ("),
        ({**SARA_TENSORS, "sara.repel_acts": torch.ones(600, 8)}, SARA_META, "600 rows"),
        ({"actadd.diff": torch.ones(1, MAX_HIDDEN + 1)}, GOOD_META, "hidden size 65537 (1 to"),
    ],
    ids=[
        "unknown_name",
        "int_dtype",
        "no_rows",
        "too_many_rows",
        "three_dims",
        "stray_sara_tensors",
        "hidden_mismatch",
        "scores_2d",
        "scores_length",
        "sara_rows",
        "huge_hidden",
    ],
)
def test_tensors_are_checked_before_loading(tmp_path, tensors, meta, fragment):
    _refused(_write(tmp_path / "t.safetensors", tensors, meta), fragment)


def _raw(path, header: bytes, data: bytes = b"", claimed: int | None = None):
    """A file in the safetensors layout: header length (8 bytes, little-endian), header, data."""
    length = len(header) if claimed is None else claimed
    path.write_bytes(struct.pack("<Q", length) + header + data)
    return path


def _header(meta_text: str, extra: dict | None = None) -> bytes:
    table = {"actadd.diff": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]}}
    return json.dumps({"__metadata__": {"sara_core": meta_text}, **table, **(extra or {})}).encode()


@pytest.mark.timeout(10)
def test_hostile_headers(tmp_path):
    data = struct.pack("<2f", 1.0, 2.0)
    good = _raw(tmp_path / "good.safetensors", _header(json.dumps(GOOD_META)), data)
    assert load_steering(good, hidden_size=2).actadd.diff.tolist() == [[1.0, 2.0]]

    (tmp_path / "empty.safetensors").write_bytes(b"")
    _refused(tmp_path / "empty.safetensors", "unreadable safetensors (only 0 bytes)")
    _refused(_raw(tmp_path / "no_header.safetensors", b""), "unreadable safetensors")
    _refused(_raw(tmp_path / "short.safetensors", b"{}", claimed=10**6), "truncated")
    _refused(
        _raw(tmp_path / "claims.safetensors", b"{}", claimed=2**63),
        f"its header claims {2**63} bytes, at most {MAX_HEADER_BYTES}",
    )
    big_meta = json.dumps({**GOOD_META, "attract": "a" * MAX_HEADER_BYTES})
    _refused(_raw(tmp_path / "big.safetensors", _header(big_meta), data), "its header claims")
    deep = "[" * 100_000 + "]" * 100_000
    _refused(_raw(tmp_path / "deep.safetensors", _header(deep), data), "nested too deeply")
    _refused(_raw(tmp_path / "list.safetensors", _header("[1]"), data), "got a list")
    _refused(_raw(tmp_path / "junk.safetensors", b"\xff" * 50, data), "unreadable safetensors")
    overlap = {"sara.scores": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    _refused(
        _raw(tmp_path / "overlap.safetensors", _header(json.dumps(GOOD_META), overlap), data),
        "unreadable safetensors",
    )
    bad_offsets = _header(json.dumps(GOOD_META)).replace(b"[0, 8]", b"[0, 80000]")
    _refused(_raw(tmp_path / "offsets.safetensors", bad_offsets, data), "unreadable safetensors")


def test_oversized_file(tmp_path):
    path = tmp_path / "huge.safetensors"
    with path.open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    _refused(path, f"larger than 64 MiB ({MAX_FILE_BYTES + 1} bytes)")

"""Tests for sara_core.presets.entries: entry lists, fields and the size of every message."""

from __future__ import annotations

from pathlib import Path

import pytest

from sara_core.presets.entries import (
    MAX_ENTRIES,
    MAX_LISTED,
    Entry,
    check_unique,
    entries,
    key_list,
    type_name,
)
from sara_core.presets.files import PresetError

FILE = Path("f.yaml")


def test_key_list_is_short_whatever_the_keys() -> None:
    assert key_list(["a", "b"]) == "a, b"
    many = key_list(f"k{i}" for i in range(1000))
    assert many.startswith("k0, k1") and many.endswith(f"... ({1000 - MAX_LISTED} more)")
    odd = key_list(["x" * 100_000, 3, "line\nbreak"])
    assert len(odd) < 300 and "3" in odd and "'line\\nbreak'" in odd


def test_too_many_entries() -> None:
    assert len(entries(FILE, [{}] * MAX_ENTRIES, "stances")) == MAX_ENTRIES
    with pytest.raises(PresetError, match=f"too many stances: {MAX_ENTRIES + 1}, at most"):
        entries(FILE, [{}] * (MAX_ENTRIES + 1), "stances")


def test_unknown_top_level_keys_are_listed_briefly() -> None:
    data = {"stances": [], **{f"extra{i}": 1 for i in range(100)}}
    with pytest.raises(PresetError) as info:
        entries(FILE, data, "stances")
    assert "extra0, extra1" in str(info.value) and len(str(info.value)) < 400


def test_unknown_fields_are_listed_briefly() -> None:
    raw = {"name": "x", **{"y" * 1000 + str(i): 1 for i in range(100)}}
    with pytest.raises(PresetError, match="unknown field") as info:
        Entry(FILE, 3, raw, ("name",)).check_fields(("name",), ())
    assert "entry #3 (name 'x')" in str(info.value)
    assert len(str(info.value)) < 2_000


def test_entry_labels_and_top_level_entries() -> None:
    assert Entry(FILE, 2, {"name": "n" * 500}, ("name",)).label == f"name '{'n' * 64}'"
    error = Entry(FILE, None, {"a": 1}).fail("bad")
    assert str(error) == "f.yaml: bad"
    with pytest.raises(PresetError, match="f.yaml, entry #4: expected a mapping of fields"):
        Entry(FILE, 4, ["a"], ())


def test_check_unique_quotes_briefly() -> None:
    with pytest.raises(ValueError, match="duplicate stance name") as info:
        check_unique(["a" * 10_000, "A" * 10_000], "stance name")
    assert len(str(info.value)) < 300


def test_type_name() -> None:
    assert [type_name(v) for v in (None, True, 1, 1.5, "s", {}, [])] == [
        "nothing (null)",
        "a boolean",
        "a number",
        "a number",
        "a string",
        "a mapping",
        "a list",
    ]

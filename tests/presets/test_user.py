"""Tests for sara_core.presets.user: a user's file of stances, dilemmas or both."""

from __future__ import annotations

from pathlib import Path

import pytest

from sara_core.presets.files import PresetError
from sara_core.presets.user import load_user_presets

STANCE = "{name: calm, attract: 'Speak softly.', repel: 'Shout loudly.'}"
DILEMMA = "{title: Late train, text: 'Should you wait?'}"


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_both_kinds_under_keys(tmp_path: Path) -> None:
    stances, dilemmas = load_user_presets(
        _file(tmp_path, f"stances: [{STANCE}]\ndilemmas: [{DILEMMA}]\n")
    )
    assert [s.name for s in stances] == ["calm"] and [d.id for d in dilemmas] == ["late_train"]


def test_plain_lists(tmp_path: Path) -> None:
    assert load_user_presets(_file(tmp_path, f"- {STANCE}\n"))[1] == []
    assert load_user_presets(_file(tmp_path, f"- {DILEMMA}\n"))[0] == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{}\n", "unknown top-level key(s) none"),
        (f"stances: [{STANCE}]\nversion: 2\n", "unknown top-level key(s) version"),
        ("- {a: 1}\n", "expected stances (entries with attract/repel) or dilemmas"),
        ("- 3\n", "expected stances"),
        ("dilemmas: [{title: x}]\n", "entry #1 (title 'x'): missing required field(s) 'text'"),
    ],
)
def test_refusals(tmp_path: Path, text: str, fragment: str) -> None:
    path = _file(tmp_path, text)
    with pytest.raises(PresetError) as info:
        load_user_presets(path)
    assert str(info.value).startswith(str(path)) and fragment in str(info.value)

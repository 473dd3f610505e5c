"""Tests for sara_core.presets.dilemmas: the bundled dilemmas, malformed files, lookup, merging."""

from __future__ import annotations

from pathlib import Path

import pytest

from sara_core.presets.dilemmas import (
    Dilemma,
    get_dilemma,
    load_dilemmas,
    merge_dilemmas,
    slugify,
)
from sara_core.presets.files import PresetError
from sara_core.presets.paper import PAPER_DILEMMA
from sara_core.validation import MAX_TEXT_CHARS


def test_bundled_dilemmas() -> None:
    dilemmas = load_dilemmas()
    assert len(dilemmas) >= 12
    assert get_dilemma("parent_criminal", dilemmas).text == PAPER_DILEMMA
    for dilemma in dilemmas:
        assert dilemma.text.endswith("?"), dilemma.id
        assert len(dilemma.text) < 400, dilemma.id
        assert dilemma.title and dilemma.source
    ids = {d.id for d in dilemmas}
    for expected in ("trolley_switch", "trolley_footbridge", "lifeboat", "whistleblowing"):
        assert expected in ids


GOOD_D = "- {id: first, title: First, text: 'Why?'}\n"

DILEMMA_CASES = [
    (
        "missing_text",
        GOOD_D + "- {id: second, title: Second}\n",
        ["entry #2", "id 'second'", "missing", "'text'"],
    ),
    (
        "duplicate_id",
        GOOD_D + "- {id: First, title: Other, text: 'Why not?'}\n",
        ["entry #2", "id 'First'", "duplicate dilemma id"],
    ),
    (
        "duplicate_derived_id",
        "- {title: Same Title, text: 'Why?'}\n- {title: same title!, text: 'Why not?'}\n",
        ["entry #2", "title 'same title!'", "duplicate dilemma id 'same_title'"],
    ),
    (
        "duplicate_title",
        GOOD_D + "- {id: second, title: FIRST, text: 'Why not?'}\n",
        ["entry #2", "id 'second'", "duplicate dilemma title"],
    ),
    (
        "numeric_id",
        GOOD_D + "- {id: '7', title: Seven, text: 'Why?'}\n",
        ["entry #2", "only digits"],
    ),
    (
        "text_too_long",
        GOOD_D + f"- {{title: Long, text: '{'w' * (MAX_TEXT_CHARS + 1)}'}}\n",
        ["entry #2", "title 'Long'", "too long"],
    ),
    (
        "empty_text",
        GOOD_D + "- {title: Blank, text: ''}\n",
        ["entry #2", "title 'Blank'", "'text' is empty"],
    ),
    (
        "unknown_field",
        GOOD_D + "- {title: Typo, text: 'Why?', sorce: me}\n",
        ["entry #2", "title 'Typo'", "'sorce'", "allowed fields are title, text, id, source"],
    ),
    (
        "list_as_text",
        GOOD_D + "- {title: Listy, text: [a, b]}\n",
        ["entry #2", "'text' must be a string", "a list"],
    ),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in DILEMMA_CASES], ids=[c[0] for c in DILEMMA_CASES]
)
def test_malformed_dilemmas(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = tmp_path / "my_dilemmas.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_dilemmas(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_get_dilemma() -> None:
    dilemmas = load_dilemmas()
    first = dilemmas[0]
    assert get_dilemma(first.id, dilemmas) is first
    assert get_dilemma(first.id.upper(), dilemmas) is first
    assert get_dilemma(first.title.lower(), dilemmas) is first
    assert get_dilemma(1, dilemmas) is first
    assert get_dilemma(" 2 ", dilemmas) is dilemmas[1]
    assert get_dilemma("parent_criminal").text == PAPER_DILEMMA
    for bad in ("no_such_dilemma", 0, len(dilemmas) + 1, "99", "9" * 5000, 10**50, "²"):
        with pytest.raises(ValueError, match="parent_criminal"):
            get_dilemma(bad, dilemmas)
    with pytest.raises(ValueError):
        get_dilemma(True, dilemmas)  # type: ignore[arg-type]


def test_dilemma_default_id() -> None:
    assert Dilemma("A Hard Choice!", "Why?").id == "a_hard_choice"
    assert Dilemma("2024", "Why?").id == "n2024"
    assert slugify("???") == "untitled"


def test_merge_dilemmas() -> None:
    base = load_dilemmas()
    by_title = Dilemma("criminal PARENT", "Report or not?", id="mine")
    new = Dilemma("New one", "Yes or no?")
    merged, replaced = merge_dilemmas(base, [by_title, new])
    assert replaced == ["parent_criminal"]
    assert merged[-2:] == [by_title, new]
    assert len(merged) == len(base) + 1

"""Tests for sara_core.presets.questionnaire: the bundled MFQ-style file, scoring, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from sara_core.presets.files import PRESETS_DIR, PresetError
from sara_core.presets.questionnaire import load_questionnaire


def test_bundled_questionnaire() -> None:
    q = load_questionnaire()
    assert (q.scale_min, q.scale_max) == (0, 5)
    assert set(q.instructions) == {"relevance", "agreement"}
    assert q.foundations == ["care", "fairness", "loyalty", "authority", "sanctity"]
    assert len([i for i in q.items if i.foundation != "catch"]) == 30
    for foundation in q.foundations:
        items = q.items_for(foundation)
        assert len(items) == 6
        assert sorted(i.part for i in items) == ["agreement"] * 3 + ["relevance"] * 3
    assert len(q.catch_items) == 2
    for item in q.catch_items:
        assert item.expected is not None and 0 <= item.expected[0] <= item.expected[1] <= 5
    for part in ("relevance", "agreement"):
        assert sorted(q.anchors[part]) == [0, 1, 2, 3, 4, 5]
    assert len({i.id for i in q.items}) == len(q.items)
    item = q.items[0]
    assert q.prompt_for(item).startswith(q.instructions[item.part])
    assert item.text in q.prompt_for(item)


def test_questionnaire_scoring() -> None:
    q = load_questionnaire()
    answers = {i.id: 4.0 for i in q.items_for("care")} | {i.id: 1.0 for i in q.items_for("loyalty")}
    assert q.foundation_scores(answers) == {"care": 4.0, "loyalty": 1.0}
    good = {i.id: float(i.expected[0]) for i in q.catch_items if i.expected}
    assert q.catch_passed(good)
    bad = {i.id: float(5 - i.expected[0]) for i in q.catch_items if i.expected}
    assert not q.catch_passed(bad)


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("foundation: care\n", "foundation: kare\n", ["entry #1", "id 'care_r1'", "'foundation'"]),
        ("part: relevance\n", "part: relevence\n", ["entry #1", "'part'", "relevance"]),
        ("scale_max: 5", "scale_max: five", ["'scale_max' must be an integer"]),
        ("scale_max: 5", "scale_max: 1000000000", ["'scale_max' must be an integer between"]),
        ("expected: [0, 1]", "expected: [0, 9]", ["id 'catch_math'", "'expected'"]),
        ("name: ", "nmae: ", ["unknown top-level key(s) nmae"]),
        ("name: SARA", f"name: {'n' * 400} SARA", ["'name' is too long"]),
    ],
    ids=["foundation", "part", "scale_type", "scale_huge", "expected", "top_key", "long_name"],
)
def test_malformed_questionnaire(tmp_path: Path, old: str, new: str, fragments: list[str]) -> None:
    good = (PRESETS_DIR / "mfq.yaml").read_text(encoding="utf-8")
    assert old in good
    path = tmp_path / "q.yaml"
    path.write_text(good.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_questionnaire(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)

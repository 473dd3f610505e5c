"""Bounded JSON Lines reading (sara_core.evaluation.jsonl)."""

from __future__ import annotations

import pytest

from sara_core.evaluation import jsonl as J


def test_round_trip_skips_blank_lines(tmp_path):
    path = tmp_path / "a.jsonl"
    J.write_jsonl(path, [{"id": 1, "answer": "é"}, {"id": "x"}])
    path.write_text(path.read_text() + "\n\n")
    assert J.read_jsonl(path) == [{"id": 1, "answer": "é"}, {"id": "x"}]


@pytest.mark.parametrize(
    ("content", "limits", "message"),
    [
        ('{"a": 1}\n' * 3, {"max_rows": 2}, "more than 2 rows"),
        ('{"a": "' + "x" * 50 + '"}\n', {"max_line": 20}, "line 1: 60 characters"),
        ('{"a": 1}\n' * 3, {"max_bytes": 10}, "the limit is 10"),
        ('{"a": 1}\nnot json\n', {}, "line 2: not JSON"),
        ("[1, 2]\n", {}, "expected an object"),
    ],
)
def test_limits_and_malformed_lines(tmp_path, content, limits, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        J.read_jsonl(path, **limits)


def test_missing_file_and_text_fields(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        J.read_jsonl(tmp_path / "none.jsonl")
    assert J.text_field({"a": "t"}, "a", "row 1") == "t"
    assert J.text_field({}, "a", "row 1", required=False) is None
    with pytest.raises(ValueError, match="row 1: no 'a'"):
        J.text_field({}, "a", "row 1")
    with pytest.raises(ValueError, match="must be text"):
        J.text_field({"a": 3}, "a", "row 1")

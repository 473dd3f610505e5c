"""results.csv written and read back (sara_core.evaluation.answer_rows)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sara_core.evaluation import answer_rows as R

ROOT = Path(__file__).resolve().parents[2]


def test_csv_round_trip(tmp_path):
    row = R.AnswerRow("d", "none", "original", -1, 0, 7, 'a "quoted",\nanswer', school="Egoism")
    R.write_csv([row], tmp_path / "r.csv")
    (back,) = R.read_csv(tmp_path / "r.csv")
    assert back.layer == -1 and back.school == "Egoism" and back.answer == row.answer
    assert math.isnan(back.perplexity) and back.seed == 7


def test_committed_results_are_readable():
    rows = R.read_csv(ROOT / "docs" / "evaluation" / "results.csv")
    assert len(rows) == 440
    assert {r.method for r in rows} == {"original", "sara", "actadd"}
    assert all(isinstance(r.layer, int) and isinstance(r.n_words, float) for r in rows)


def test_bad_csv_names_the_problem(tmp_path):
    (tmp_path / "a.csv").write_text("dilemma,answer\nx,y\n")
    with pytest.raises(ValueError, match="missing columns"):
        R.read_csv(tmp_path / "a.csv")
    row = R.AnswerRow("d", "none", "original", -1, 0, 7, "text")
    R.write_csv([row], tmp_path / "b.csv")
    text = (tmp_path / "b.csv").read_text().replace(",-1,0,7,", ",minus one,0,7,")
    (tmp_path / "b.csv").write_text(text)
    with pytest.raises(ValueError, match="answer #1: column 'layer' is not a number"):
        R.read_csv(tmp_path / "b.csv")


def test_judge_columns_round_trip_and_old_files_lack_them(tmp_path):
    row = R.AnswerRow("d", "none", "original", -1, 0, 7, "text", school="Unclassifiable")
    row.judge_coherent, row.judge_reason = False, "loop: 80% of the 3-grams repeat"
    R.write_csv([row], tmp_path / "r.csv")
    (back,) = R.read_csv(tmp_path / "r.csv")
    assert back.judge_coherent is False and back.judge_reason == row.judge_reason
    lines = (tmp_path / "r.csv").read_text().splitlines()  # a file from before the judge columns
    header = lines[0].split(",")
    assert header[-2:] == ["judge_coherent", "judge_reason"]
    rows = [lines[0].rsplit(",", 2)[0]] + [line.rsplit(",", 2)[0] for line in lines[1:]]
    (tmp_path / "old.csv").write_text("\n".join(rows) + "\n")
    (old,) = R.read_csv(tmp_path / "old.csv")
    assert old.judge_coherent is None and old.judge_reason == ""

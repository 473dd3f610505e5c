"""``python -m sara_core judge``: verdicts for a JSONL file, one-line errors on bad input
(sara_core.evaluation.judges.cli)."""

from __future__ import annotations

import json
import re

import pytest

from sara_core.cli import main
from sara_core.evaluation.judges import cli as C

DILEMMA = "Should they report their parent, a criminal, to the authorities or protect them?"
GOOD = (
    "Reporting the parent to the authorities is right: the law applies to everyone, and "
    "protecting a criminal parent would betray the victims and the duty owed to society."
)


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_judge_writes_a_verdict_per_id_in_order(tmp_path, capsys):
    rows = [
        {"id": "a", "answer": GOOD, "dilemma": DILEMMA},
        {"id": 7, "answer": "I'm not sure what you're talking about, sorry about that friend."},
        {"id": "c", "answer": "The parents report the authorities. " * 5, "dilemma": DILEMMA},
    ]
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--in", _write(tmp_path / "in.jsonl", rows), "--out", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [g["id"] for g in got] == ["a", 7, "c"]
    assert set(got[0]) == {"id", "school", "group", "coherent", "confidence", "reason"}
    assert got[0]["coherent"] and got[0]["group"] in {"Utilitarianism", "A priori values"}
    assert [g["school"] for g in got[1:]] == ["Unclassifiable"] * 2
    assert [g["coherent"] for g in got[1:]] == [False, False]
    assert "2 Unclassifiable" in capsys.readouterr().err


def test_judge_shows_progress_unless_told_not_to(tmp_path, capsys):
    rows = [{"id": n, "answer": GOOD, "dilemma": DILEMMA} for n in range(3)]
    path, out = _write(tmp_path / "in.jsonl", rows), str(tmp_path / "out.jsonl")
    assert main(["judge", "--in", path, "--out", out]) == 0
    err = capsys.readouterr().err
    assert "judge: 100%" in err and "3/3" in err
    assert re.search(r"answer/s|s/answer", err)  # the rate, whichever way tqdm shows it
    assert main(["judge", "--in", path, "--out", out, "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "3/3" not in err and "judged 3 answers" in err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"answer": GOOD}], "'id' must be"),
        ([{"id": "a", "answer": GOOD}, {"id": "a", "answer": GOOD}], "appears twice"),
        ([{"id": "a"}], "no 'answer'"),
        ([{"id": "a", "answer": 5}], "must be text"),
        ([{"id": "a", "answer": "x" * (C.MAX_ANSWER_CHARS + 1)}], "'answer' is over"),
        ([{"id": "a", "answer": GOOD, "dilemma": ["x"]}], "must be text"),
    ],
)
def test_bad_rows_exit_2_with_one_line(tmp_path, capsys, rows, message):
    code = main(["judge", "--in", _write(tmp_path / "in.jsonl", rows), "--out", "x.jsonl"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err


def test_bad_options_exit_2(tmp_path, capsys):
    path = _write(tmp_path / "in.jsonl", [{"id": "a", "answer": GOOD}])
    assert main(["judge", "--in", path, "--out", "o", "--min-confidence", "2"]) == 2
    assert main(["judge", "--in", path, "--out", "o", "--judge-url", "http://127.0.0.1:9"]) == 2
    assert main(["judge", "--in", str(tmp_path / "none.jsonl"), "--out", "o"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 3 and "--min-confidence" in errs[0] and "--judge-model" in errs[1]


def test_a_bundled_dilemma_id_is_judged_as_its_text(tmp_path, monkeypatch):
    """The evaluation's rows carry dilemma ids: judged as the id's letters, a sound answer
    looks off-topic; resolved to the dilemma's text it does not."""
    from sara_core.evaluation.judges.judge import Judge
    from sara_core.presets.dilemmas import get_dilemma

    seen = []

    class Recording:
        name = "recording"

        def probabilities(self, answers, dilemmas=None):
            import numpy as np

            seen.extend(dilemmas or [])
            return np.full((len(answers), 8), 1 / 8)

    monkeypatch.setattr(C, "judge_from_args", lambda *a, **k: Judge(Recording()))
    rows = [
        {"id": 1, "answer": GOOD, "dilemma": "parent_criminal"},
        {"id": 2, "answer": GOOD, "dilemma": " Parent_Criminal "},
        {"id": 3, "answer": GOOD, "dilemma": DILEMMA},
    ]
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--in", _write(tmp_path / "in.jsonl", rows), "--out", str(out)]) == 0
    text = get_dilemma("parent_criminal").text
    assert seen == [text, text, DILEMMA]  # the ids reached the judge as the dilemma's text
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["reason"] for v in verdicts[:2]] == [verdicts[2]["reason"]] * 2
    assert "off-topic" not in verdicts[0]["reason"]


def test_an_id_that_names_no_dilemma_is_refused(tmp_path, capsys):
    rows = [{"id": "a", "answer": GOOD, "dilemma": "parent_crimnal"}]
    out = tmp_path / "out.jsonl"
    assert main(["judge", "--in", _write(tmp_path / "in.jsonl", rows), "--out", str(out)]) == 2
    assert not out.exists()
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert "row 1: 'dilemma' 'parent_crimnal' is no bundled dilemma id" in err
    assert "parent_criminal" in err

"""The blind check: a sample that hides what produced each answer, and scoring on a synthetic
labels file (sara_core.evaluation.judges.blind, scripts/judge_blind_sample.py and
judge_blind_score.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.judges import blind as B

ROOT = Path(__file__).resolve().parents[3]


def _rows(n=40):
    methods = ["original", "sara", "actadd"]
    return [
        AnswerRow(f"d{i % 2}", "utilitarian", methods[i % 3], i % 5, i, 100 + i, f"answer {i}",
                  school="Deontology", group="A priori values", judge_confidence=0.4)
        for i in range(n)
    ]  # fmt: skip


def test_sample_hides_the_method_and_is_reproducible():
    rows = _rows()
    texts = {"d0": "dilemma zero", "d1": "dilemma one"}
    a, b = B.draw_sample(rows, texts, n=10, seed=3), B.draw_sample(rows, texts, n=10, seed=3)
    assert a == b and B.draw_sample(rows, texts, n=10, seed=4) != a
    answers = B.answers_json(a)
    assert [set(x) for x in answers] == [{"id", "dilemma", "answer"}] * 10
    assert [x["id"] for x in answers] == [f"b{i:03d}" for i in range(1, 11)]
    rows_drawn = [k.row for k in a.key]
    assert len(set(rows_drawn)) == 10 and rows_drawn != sorted(rows_drawn)  # drawn, not in order
    for ans, key in zip(a.answers, a.key, strict=True):
        assert ans.answer == rows[key.row].answer and ans.dilemma == texts[key.dilemma_id]
        assert key.method == rows[key.row].method and key.old_school == "Deontology"
    with pytest.raises(ValueError, match="cannot draw"):
        B.draw_sample(rows, texts, n=41)


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _synthetic(tmp_path):
    """Annotator: 4 utilitarian, 4 a priori, 2 incoherent. Judge: right on 7 of 10."""
    gold = [("Act Utilitarianism", True)] * 4 + [("Deontology", True)] * 4
    gold += [("Unclassifiable", False)] * 2
    pred = ["Act Utilitarianism"] * 3 + ["Deontology"] * 5 + ["Unclassifiable", "Egoism"]
    labels = [
        {
            "id": f"b{i}",
            "school": s,
            "group": None if s == "Unclassifiable" else None,
            "coherent": c,
        }
        for i, (s, c) in enumerate(gold)
    ]
    for row in labels:
        row.pop("group")  # the group may be left out: it follows from the school
    preds = [
        {"id": f"b{i}", "school": s, "coherent": s != "Unclassifiable"} for i, s in enumerate(pred)
    ]
    preds[8]["reason"] = "loop: 80% of the 3-grams repeat"
    key = [
        {"id": f"b{i}", "old_school": "Deontology", "old_group": "A priori values"}
        for i in range(10)
    ]
    return (
        _jsonl(tmp_path / "labels.jsonl", labels),
        _jsonl(tmp_path / "predictions.jsonl", preds),
        _jsonl(tmp_path / "key.jsonl", key),
    )


def test_score_on_synthetic_labels(tmp_path):
    labels, preds, key = _synthetic(tmp_path)
    r = B.score(labels, preds, key, judge={"name": "j", "min_confidence": 0.5})
    assert r["n"] == 10 and r["school_accuracy"] == pytest.approx(0.8)
    assert r["group_accuracy"] == pytest.approx(0.8)
    # groups: gold U,U,U,U,A,A,A,A,X,X vs judge U,U,U,A,A,A,A,A,X,I -> p_o 0.8,
    # p_e = .4*.3 + .4*.5 + .2*.1 = 0.34 -> kappa = 0.46 / 0.66
    assert r["group_kappa"]["value"] == pytest.approx(round(0.46 / 0.66, 4))
    # schools: gold AU x4, D x4, U x2 vs judge AU x3, D x5, U, Egoism -> p_o 0.8,
    # p_e = .4*.3 + .4*.5 + .2*.1 = 0.34: the same kappa, now with its own interval
    sk = r["school_kappa"]
    assert sk["value"] == pytest.approx(round(0.46 / 0.66, 4))
    assert sk["low"] <= sk["value"] <= sk["high"] and sk["low"] < sk["high"]
    det = r["unclassifiable_vs_incoherent"]
    assert (det["precision"], det["recall"]) == (1.0, 0.5)
    assert r["by_reason"] == {"loop": {"n": 1, "annotator_incoherent": 1}}
    assert r["both_classified"]["n"] == 8  # the annotator's two incoherent answers are left out
    assert r["confusion_group"]["Utilitarianism"]["A priori values"] == 1
    old = r["old_judge"]
    assert old["group_accuracy"] == pytest.approx(0.4) and old["judge_unclassifiable"] == 0
    md = B.markdown(r)
    assert "| new judge | 80% | 0.70 [" in md and "old judge" in md
    assert "loop 1 (1 incoherent to the annotator)" in md


def test_bad_labels_are_refused(tmp_path):
    _, preds, _ = _synthetic(tmp_path)
    bad = _jsonl(tmp_path / "bad.jsonl", [{"id": "b0", "school": "Stoicism"}])
    with pytest.raises(ValueError, match="Stoicism"):
        B.score(bad, preds)
    wrong = _jsonl(
        tmp_path / "w.jsonl", [{"id": "b0", "school": "Egoism", "group": "Utilitarianism"}]
    )
    with pytest.raises(ValueError, match="does not fit"):
        B.score(wrong, preds)
    extra = _jsonl(tmp_path / "e.jsonl", [{"id": "zz", "school": "Egoism"}])
    with pytest.raises(ValueError, match="no prediction"):
        B.score(extra, preds)


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_score_script_writes_agreement_files(tmp_path, capsys):
    labels, preds, key = _synthetic(tmp_path)
    info = tmp_path / "judge.json"
    info.write_text(json.dumps({"name": "j", "min_confidence": 0.5}))
    args = ["--labels", str(labels), "--predictions", str(preds), "--key", str(key)]
    args += ["--judge-info", str(info), "--out", str(tmp_path / "out")]
    assert _script("judge_blind_score").main(args) == 0
    saved = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert saved["judge"]["name"] == "j" and saved["n"] == 10
    assert (tmp_path / "out" / "agreement.md").read_text().startswith("# Judge vs blind annotator")
    assert "Judge validity:" in capsys.readouterr().out


def test_sample_script_on_a_small_results_file(tmp_path):
    from sara_core.evaluation.answer_rows import write_csv

    rows = _rows(12)
    for r in rows:
        r.dilemma = "parent_criminal"
    write_csv(rows, tmp_path / "results.csv")
    args = ["--results", str(tmp_path / "results.csv"), "--out", str(tmp_path), "--n", "5"]
    assert _script("judge_blind_sample").main(args) == 0
    answers = [json.loads(x) for x in (tmp_path / "answers.jsonl").read_text().splitlines()]
    assert len(answers) == 5 and "criminal" in answers[0]["dilemma"]
    assert "method" not in answers[0] and (tmp_path / "key.jsonl").is_file()

"""The evidence report (sara_core.evaluation.report.evidence and evidence_rerun) on fixed inputs."""

from __future__ import annotations

import json
import re

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.choice_run import ChoiceResult, ChoiceSpec
from sara_core.evaluation.config import EvalConfig
from sara_core.evaluation.report import evidence as E
from sara_core.evaluation.schools import GROUPS
from sara_core.evaluation.summary import summarize
from sara_core.measures.choice import Shift
from sara_core.measures.model_validity import ModelValidity, StanceValidity
from sara_core.presets.choice import get_choice_bank
from sara_core.presets.stances import get_stance

U, A = "Utilitarianism", "A priori values"


def shift(mean: float, low: float, high: float) -> Shift:
    return Shift(mean, low, high, 40)


def validity() -> dict:
    stances = [
        StanceValidity("moral", "utilitarian", "consequences", shift(0.0, -0.01, 0.01)),
        StanceValidity("moral", "kantian", "duties", shift(0.0, -0.01, 0.01)),
        StanceValidity("sentiment", "optimistic", "positive", shift(0.01, -0.01, 0.03)),
        StanceValidity("sentiment", "pessimistic", "negative", shift(0.09, 0.06, 0.12)),
    ]
    return ModelValidity("embedded:x", False, stances).to_json()


def choice(bank: str, stance: str, prompted: Shift) -> dict:
    st = get_stance(stance)
    b = get_choice_bank(bank)
    spec = ChoiceSpec(b, b.stances[stance], st.attract, st.repel, st.attract, 15)
    methods = {"prompted": prompted, "sara": shift(0.02, 0.01, 0.03)}
    methods |= {"actadd": shift(0.0, -0.01, 0.01), "control": shift(0.0, -0.01, 0.01)}
    result = ChoiceResult(spec, "embedded:x", 40, methods, control_texts=("The old", "A small"))
    result.probabilities = {"sara": [0.6, 0.7] * 20, "control": [0.5, 0.6] * 20}
    return result.to_json()


def row(method, stance, layer, group, rep, coherent=True):
    return AnswerRow(
        "d",
        stance,
        method,
        layer,
        rep,
        rep,
        "x",
        school=GROUPS[group][0],
        group=group,
        judge_coherent=coherent,
    )


def rerun() -> tuple[dict, list[AnswerRow]]:
    rows = [row("original", "none", -1, g, i) for i, g in enumerate([U, A, A, A])]
    rows += [row("sara", "utilitarian", 3, U if i < 2 else A, i) for i in range(20)]
    rows += [row("actadd", "utilitarian", 3, A, i, coherent=i > 1) for i in range(4)]
    cfg = EvalConfig(stances=["utilitarian"], n_boot=100, layers=[3])
    summary = {
        "config": {**cfg.__dict__, "layers": [3]},
        "seconds": {"generation": 600.0, "total": 900.0},
        "n_answers": len(rows),
        "metrics": summarize(rows, cfg, [3]),
    }
    return json.loads(json.dumps(summary)), rows


def test_validity_comes_first_and_an_invalid_bank_is_not_read_as_evidence(tmp_path):
    summary, rows = rerun()
    inp = E.EvidenceInputs(
        validity=validity(),
        choice=[
            choice("moral", "utilitarian", shift(0.0, -0.01, 0.01)),
            choice("sentiment", "pessimistic", shift(0.09, 0.06, 0.12)),
        ],
        summary=summary,
        rows=rows,
    )
    n = E.write_evidence_report(inp, tmp_path / "report.md")
    text = (tmp_path / "report.md").read_text()
    assert text.index("## 1. Can this model") < text.index("## 2. Forced choice")
    assert text.index("## 2. Forced choice") < text.index("## 5. The pre-print")
    assert "**moral**: prompting does not move this model" in text
    assert "**sentiment**: prompting moves this model" in text
    assert "Not valid on this model (moral/utilitarian)" in text
    assert "| +0.100 [+0.100, +0.100] |" in text  # SARA - control, paired over the 40 items
    assert "sentiment/pessimistic" not in text.split("Not valid on this model")[1].split("\n")[0]
    assert "NOT EVIDENCE" in text and "0.227" in text and "0.47" in text
    assert "Not reproduced on this model." in text
    assert "ActAdd, utilitarian" in text
    assert "26 of 28 answers pass the collapse rules" in text
    assert f"This report prints {n} intervals." in text
    body = text.split("## Intervals looked at")[0]
    assert n == len(re.findall(r"\[[-+0-9]", body)) > 10  # links start with a letter


def test_a_strength_finding_on_a_bank_the_model_cannot_show_is_flagged(tmp_path):
    point = {
        "method": "sara",
        "coeff": 1.0,
        "shift": {"mean": 0.01, "ci": [0.0, 0.02], "n": 64},
        "cost": {"ratio": 1.1, "ci": [1.0, 1.2], "collapsed": 0.0, "n": 16},
    }
    d = {
        "bank": "moral",
        "toward": "consequences",
        "layer": 15,
        "cost_tokens": 40,
        "cost_questions": 16,
        "unsteered": {"ppl": 2.0, "collapsed": 0.25, "rules": {"too_short": 4}},
        "points": [point],
        "finding": "SARA moves the model more than ActAdd.",
    }
    inp = E.EvidenceInputs(
        validity=validity(), strength=[d, {**d, "bank": "sentiment", "toward": "negative"}]
    )
    E.write_evidence_report(inp, tmp_path / "r.md")
    text = (tmp_path / "r.md").read_text()
    assert "0.25 (too_short 4)" in text
    moral, sentiment = text.split("### Bank")[1:3]
    assert "cannot be read as evidence" in moral and "cannot be read" not in sentiment
    assert (
        "**In one sentence**, on the pole this model takes when asked (sentiment, negative)" in text
    )
    assert "no matched-strength comparison" not in text
    E.write_evidence_report(E.EvidenceInputs(validity=validity(), strength=[d]), tmp_path / "m")
    assert "**In one sentence:** no matched-strength comparison" in (tmp_path / "m").read_text()


def test_the_interval_count_is_exact_on_a_validity_only_report(tmp_path):
    n = E.write_evidence_report(E.EvidenceInputs(validity=validity()), tmp_path / "r.md")
    assert n == 4  # one prompted shift per bank and stance, nothing else


def test_load_inputs_sorts_the_files_by_kind(tmp_path):
    (tmp_path / "moral-utilitarian.json").write_text(json.dumps({"a": 1}))
    (tmp_path / "strength-moral-consequences-L15.json").write_text(json.dumps({"b": 1}))
    (tmp_path / "layers-moral-utilitarian.json").write_text(json.dumps({"c": 1}))
    inp = E.load_inputs(tmp_path, tmp_path / "missing.json", None)
    assert (inp.choice, inp.strength, inp.layers) == ([{"a": 1}], [{"b": 1}], [{"c": 1}])
    assert inp.validity is None and inp.summary is None


def test_scope_lines_pair_the_two_sara_scopes_by_seed():
    from sara_core.evaluation.report.evidence_rerun import scope_lines

    rows = [row("sara", "utilitarian", 3, U, i) for i in range(10)]
    rows += [row("sara_every_step", "utilitarian", 3, U, i, coherent=i >= 4) for i in range(10)]
    rows += [row("sara_every_step", "kantian", 3, U, 0, coherent=False)]  # no partner: dropped
    for r in rows:
        r.perplexity = 2.0 if r.method == "sara" else 3.0
    (line,) = scope_lines(rows, 200, 0)
    assert "10 pairs" in line and "collapsed +0.400 [" in line
    assert "perplexity +1.000 [+1.000, +1.000]" in line
    assert scope_lines([r for r in rows if r.method == "sara"], 200, 0) == []


def test_the_positive_control_says_on_which_bank_the_measure_can_see_an_effect(tmp_path):
    def d(mean, lo, hi):
        return {"mean": mean, "ci": [lo, hi], "n": 40, "valid": lo > 0}

    pc = {
        "instructions": {
            "moral": {"consequences": "Answer as a strict utilitarian.", "duties": "Kant."},
            "sentiment": {"positive": "Cheerful.", "negative": "Gloomy."},
        },
        "banks": {
            "moral": {"consequences": d(0.0, -0.01, 0.01), "duties": d(0.01, -0.01, 0.02)},
            "sentiment": {"positive": d(0.1, 0.05, 0.15), "negative": d(0.0, -0.02, 0.02)},
        },
    }
    n = E.write_evidence_report(E.EvidenceInputs(validity=validity(), positive=pc), tmp_path / "r")
    text = (tmp_path / "r").read_text()
    assert n == 8  # four prompted shifts, four plain requests
    assert "**moral**: not even a plain request moves" in text
    assert "**sentiment**: a plain request moves P(positive)" in text
    assert text.index("### Positive control") > text.index("## 1. Can this model")
    (tmp_path / "choice").mkdir()
    path = tmp_path / "positive_control.json"
    path.write_text(json.dumps(pc))
    inp = E.load_inputs(tmp_path / "choice", tmp_path / "missing.json", None, path)
    assert inp.positive == pc and inp.choice == []


def test_answers_labelled_again_are_not_presented_as_a_new_run(tmp_path):
    summary, rows = rerun()
    E.write_evidence_report(E.EvidenceInputs(summary=summary, rows=rows), tmp_path / "a.md")
    assert "Not a new run" not in (tmp_path / "a.md").read_text()
    summary["seconds"]["generation"] = None  # rebuilt from an earlier results.csv
    E.write_evidence_report(E.EvidenceInputs(summary=summary, rows=rows), tmp_path / "b.md")
    assert "**Not a new run.**" in (tmp_path / "b.md").read_text()

"""The verdict sentence and report sections (sara_core.evaluation.report.run_report)."""

from __future__ import annotations

from sara_core.evaluation.report import run_report as R


def _ci(v, lo, hi):
    return {"value": v, "low": lo, "high": hi}


def test_verdict_reads_the_intervals():
    clear = {
        "success_sara_minus_actadd": _ci(0.5, 0.1, 0.9),
        "spillover_sara_minus_actadd": _ci(-0.5, -0.9, -0.1),
    }
    assert (
        R.verdict(clear)
        == "SARA moves answers toward the target more than ActAdd; SARA spills less."
    )
    unclear = {
        "success_sara_minus_actadd": _ci(0.1, -0.1, 0.3),
        "spillover_sara_minus_actadd": _ci(0.2, 0.1, 0.3),
    }
    assert "CI spans 0" in R.verdict(unclear) and "SARA spills more" in R.verdict(unclear)
    assert R.verdict({**unclear, "success_sara_minus_actadd": _ci(None, None, None)}) == "no data"


def test_validity_line_comes_before_any_comparison():
    summary = {"metrics": {"validity": None}}
    assert "UNKNOWN" in R.section_validity(summary)[0]
    summary["metrics"]["validity"] = {"status": "at chance", "evidence": False, "line": "AT CHANCE"}
    headline = R.section_headline(
        {"metrics": {**summary["metrics"], "headline": [], "coherent": None}}
    )
    assert "not evidence" in headline[0] and "AT CHANCE" in headline[2]
    summary["metrics"]["validity"] = {"status": "beats chance", "evidence": True, "line": "ok"}
    headline = R.section_headline(
        {"metrics": {**summary["metrics"], "headline": [], "coherent": None}}
    )
    assert "not evidence" not in headline[0]

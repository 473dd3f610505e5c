"""Markdown lines and tables (sara_lab.render)."""

from __future__ import annotations

from sara_core.engine.results import CompareResult
from sara_lab.render import generating, timing_markdown


def _result(**settings) -> CompareResult:
    base = {
        "layer": 15,
        "k_used": 12,
        "prompt_tokens": 40,
        "sara_coeff": 1.0,
        "scope": "prompt",
        "actadd_coeff": 4.0,
        "sign": "raw",
        "actadd_mode": "prefix",
    }
    timing = {"new_tokens": {"original": 10, "sara": 10, "actadd": 10}, "tokens_per_s": 30.0}
    return CompareResult("a", "b", "c", {**base, **settings}, timing)


def test_the_status_line_names_time_speed_and_settings():
    line = timing_markdown(_result(), 2.0, 0.5)
    assert line.startswith("**Done in 2.0 s** · first words after 0.5 s · 30 new tokens")
    assert "block 15 · k = 12 · prompt 40 tokens · SARA ×1 (prompt) · ActAdd ×4" in line
    assert line.endswith("ActAdd ×4")
    line = timing_markdown(_result(sign="canonical", actadd_mode="every-position"), 2.0, None)
    assert "first words" not in line and line.endswith("canonical signs · ActAdd every-position")


def test_the_status_counts_the_answers_and_their_words():
    assert generating(("", "", "")) == "Writing the 3 answers side by side: 0 words so far…"
    assert generating(("a b", "c", "", "d e f")).startswith("Writing the 4 answers")
    assert generating(("a b", "c", "", "d e f")).endswith(": 6 words so far…")

"""The benchmark runs end to end on a tiny model and reports every figure (no timing asserts)."""

from __future__ import annotations

import argparse
import json

import pytest

from sara_core import bench as B

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bench_on_a_tiny_model_produces_every_key(tiny_lm):
    result = B.run_bench(lm=tiny_lm, repeats=1, new_tokens=3, startup=False, progress=False)
    figures = result["figures"]
    assert set(B.KEYS) <= set(figures)
    for key in ("sara_overhead", "actadd_overhead", "compare_ratio", "prep_share"):
        assert figures[key] > 0
    assert 0 < figures["prep_share"] < 1
    assert figures["tokens_per_s"] > 0 and figures["first_token_s"] > 0
    assert figures["peak_rss_mb"] > 0
    assert figures["cold_start_s"] is None and figures["warm_start_s"] is None
    assert result["settings"]["tokens_produced"] == [3]  # the forced length held
    assert len(result["raw_s"]["plain"]) == 1  # the warm-up round is not counted
    json.dumps(result, default=str)
    table = B.markdown_table(result)
    assert "| sara_overhead |" in table and "| warm_start_s | n/a |" in table
    # The default model's goals do not apply to another model.
    assert "first_token_s" not in result["goals"] and "sara_overhead" in result["met"]


def test_markdown_table_marks_missed_goals():
    result = {
        "machine": {"cpu": "test cpu", "cores": 2, "torch": "x", "gpu": None},
        "settings": {"repeats": 3, "new_tokens": 10, "layer": 2, "prompt_tokens": 7},
        "model": {"name": "m", "dtype": "float32"},
        "date": "today",
        "figures": {"sara_overhead": 1.2, "tokens_per_s": 25.0, "prep_share": 0.01},
        "goals": {"sara_overhead": ["<=", 1.05]},
        "met": {"sara_overhead": B._meets(1.2, "<=", 1.05)},
    }
    table = B.markdown_table(result)
    assert "| sara_overhead | 1.200x | <= 1.050x | **no** |" in table
    assert "| tokens_per_s | 25 tok/s |  |  |" in table
    assert "| prep_share | 1.0% |" in table
    assert B._meets(float("nan"), "<=", 1.0) is None


def test_cli_options_and_bad_values(capsys):
    parser = argparse.ArgumentParser()
    B.add_arguments(parser)
    args = parser.parse_args(["--quick", "--repeats", "0"])
    assert B.run_cli(args) == 2
    assert "at least 1" in capsys.readouterr().err
    args = parser.parse_args(["--json", "x/b.json", "--no-startup"])
    assert args.json == "x/b.json" and args.no_startup


def test_peak_rss_and_machine_facts():
    assert B.peak_rss_mb() > 10
    m = B.machine()
    assert m["cores"] >= 1 and m["torch"]

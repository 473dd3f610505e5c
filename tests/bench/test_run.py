"""The benchmark runs end to end on a tiny model and reports every figure (no timing asserts)."""

from __future__ import annotations

import json

import pytest

from sara_core.bench import limits as L
from sara_core.bench.goals import KEYS
from sara_core.bench.report import markdown_table
from sara_core.bench.run import classroom_prompts, run_bench

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def small_gemv(monkeypatch):
    """A 4 MB matrix instead of 512 MB, measured in this process (no child)."""
    monkeypatch.setattr(
        "sara_core.bench.run.gemv_bandwidth_child", lambda: L.gemv_bandwidth(4, repeats=2)
    )


def test_bench_on_a_tiny_model_produces_every_key(tiny_lm, small_gemv):
    result = run_bench(
        lm=tiny_lm,
        repeats=1,
        new_tokens=3,
        startup=False,
        progress=False,
        visitors=4,
        classroom_tokens=3,
    )
    figures = result["figures"]
    assert set(KEYS) <= set(figures)
    ratios = (
        "sara_overhead",
        "actadd_overhead",
        "compare_ratio",
        "prep_share",
        "efficiency",
        "app_step_ratio",
        "classroom_speedup",
        "compare_first_token_ratio",
    )
    for key in ratios:
        assert figures[key] > 0, key
    assert 0 < figures["prep_share"] < 1
    for key in ("tokens_per_s", "decode_tokens_per_s", "bandwidth_limit_tok_s", "first_token_s"):
        assert figures[key] > 0, key
    assert figures["peak_rss_mb"] > 0
    assert figures["cold_start_s"] is None and figures["warm_start_s"] is None
    assert result["settings"]["tokens_produced"] == [3]  # the forced length held
    assert len(result["raw_s"]["plain"]) == 1  # the warm-up round is not counted
    assert len(result["limit"]["runs"]) == 2  # the bandwidth, at the start and at the end
    json.dumps(result, default=str)
    table = markdown_table(result)
    assert "| efficiency |" in table and "| warm_start_s | n/a |" in table
    assert "Classroom: 4 compares" in table
    extra = result["figures_extra"]
    assert extra["compare_first_token_ratio_cold"] > 0 and extra["plain_first_s"] > 0
    assert "First words: one unsteered answer" in table
    # The default model's goals do not apply to another model.
    assert "first_token_s" not in result["goals"] and "sara_overhead" in result["met"]


def test_the_classroom_can_be_skipped(tiny_lm, small_gemv):
    result = run_bench(
        lm=tiny_lm, repeats=1, new_tokens=2, startup=False, progress=False, visitors=0
    )
    assert result["figures"]["classroom_speedup"] is None
    assert "classroom" in result["notes"]


def test_classroom_prompts_cycle_the_bundled_dilemmas():
    prompts = classroom_prompts(20)
    assert len(prompts) == 20 and len(set(prompts)) > 5
    assert all(p.startswith("Your task is") for p in prompts)


def test_weight_bytes_count_tied_weights_once():
    import torch

    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 10, bias=False))
    assert L.weight_bytes(model) == 2 * 40 * 4
    model[1].weight = model[0].weight  # tied, as in most small llamas
    assert L.weight_bytes(model) == 40 * 4


def test_gemv_bandwidth_reports_each_thread_setting():
    bw = L.gemv_bandwidth(2, repeats=1)
    assert bw["threads_1_gb_s"] > 0 and bw["best_gb_s"] >= bw["threads_1_gb_s"]
    limit = L.bandwidth_limit(__import__("torch").nn.Linear(4, 4), [bw, {"best_gb_s": 1.0}])
    assert limit["gb_s"] == max(bw["best_gb_s"], 1.0) and limit["limit_tok_s"] > 0

"""The start-up child: timed until it reports the model ready (on a tiny local model)."""

from __future__ import annotations

from conftest import make_tiny_lm

from sara_core.bench.startup import start_time


def test_start_time_reports_ready_and_exit(tmp_path):
    tiny = make_tiny_lm("llama")
    tiny.model.save_pretrained(tmp_path / "m")
    tiny.tokenizer.save_pretrained(tmp_path / "m")
    out = start_time(str(tmp_path / "m"), tmp_path / "cache", timeout=300)
    assert out["source"] == "local" and 0 < out["wall_s"] <= out["with_exit_s"]
    assert out["import_s"] > 0 and out["rss_mb"] > 0

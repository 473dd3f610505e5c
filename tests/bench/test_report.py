"""The benchmark's table, goals and command-line options."""

from __future__ import annotations

import argparse

from sara_core.bench.cli import add_arguments, run_cli
from sara_core.bench.goals import meets
from sara_core.bench.report import machine, markdown_table, peak_rss_mb


def test_markdown_table_marks_missed_goals():
    result = {
        "machine": {"cpu": "test cpu", "cores": 2, "torch": "x", "gpu": None},
        "settings": {"repeats": 3, "new_tokens": 10, "layer": 2, "prompt_tokens": 7},
        "model": {"name": "m", "dtype": "float32"},
        "date": "today",
        "load_start_end": [[1.5, 0.5, 0.2], [2.0, 1.0, 0.3]],
        "figures": {
            "sara_overhead": 1.2,
            "tokens_per_s": 25.0,
            "prep_share": 0.01,
            "efficiency": 0.71,
            "classroom_speedup": 3.2,
        },
        "goals": {"sara_overhead": ["<=", 1.05], "classroom_speedup": [">=", 4.0]},
        "met": {"sara_overhead": meets(1.2, "<=", 1.05), "classroom_speedup": meets(3.2, ">=", 4)},
    }
    table = markdown_table(result)
    assert "| sara_overhead | 1.200x | <= 1.050x | **no** |" in table
    assert "| classroom_speedup | 3.200x | >= 4.000x | **no** |" in table
    assert "| tokens_per_s | 25.0 tok/s |  |  |" in table
    assert "| prep_share | 1.0% |" in table and "| efficiency | 0.71 |" in table
    assert "load average 1.50 -> 2.00" in table
    assert meets(float("nan"), "<=", 1.0) is None and meets(5, ">=", 4) is True


def test_goals_follow_the_model_size_and_device():
    from sara_core.bench.goals import REAL_SIZE_BYTES, goals_for

    embedded = goals_for("embedded:smollm2-135m-instruct", 500 << 20, "cpu")
    assert embedded["efficiency"] == (">=", 0.7) and embedded["compare_ratio"] == ("<=", 1.6)
    assert "warm_start_s" in embedded and "classroom_speedup" in embedded
    other_small = goals_for("tiny", 1 << 20, "cpu")
    assert "warm_start_s" not in other_small and "efficiency" in other_small
    big = goals_for("random:gemma-2-2b", REAL_SIZE_BYTES + 1, "cpu")
    assert big["efficiency"] == (">=", 0.8) and big["compare_ratio"] == ("<=", 1.8)
    assert big["sara_overhead"] == ("<=", 1.1) and "classroom_speedup" not in big
    assert goals_for("random:gemma-2-2b", REAL_SIZE_BYTES + 1, "cuda")["compare_ratio"][1] == 1.4


def test_a_bad_dtype_is_one_line(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-startup", "--dtype", "float99", "--json", "x"])
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("bench: ") and "float99" in err and "Traceback" not in err


def test_cli_options_and_bad_values(capsys):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--quick", "--repeats", "0"])
    assert run_cli(args) == 2
    assert "at least 1" in capsys.readouterr().err
    args = parser.parse_args(["--json", "x/b.json", "--no-startup", "--visitors", "0"])
    assert args.json == "x/b.json" and args.no_startup and args.visitors == 0
    args = parser.parse_args(["--model", "random:gemma-2-2b", "--device", "cpu"])
    assert args.model == "random:gemma-2-2b" and args.device == "cpu" and args.visitors is None


def test_the_command_is_registered():
    from sara_core.cli import build_parser

    args = build_parser().parse_args(["bench", "--quick", "--no-startup"])
    assert args.func is run_cli and args.quick


def test_peak_rss_and_machine_facts():
    assert peak_rss_mb() > 10
    m = machine()
    assert m["cores"] >= 1 and m["torch"]

"""Options of ``python -m sara_core evaluate`` and its one-line errors
(sara_core.evaluation.cli)."""

from __future__ import annotations

import argparse

from sara_core.evaluation import cli as C


def _parser():
    parser = argparse.ArgumentParser()
    C.add_arguments(parser)
    return parser


def test_bad_stance_and_counts_exit_2_with_one_line(capsys):
    parser = _parser()
    assert C.run_cli(parser.parse_args(["--quick", "--stances", "optimistic"])) == 2
    assert "no target group" in capsys.readouterr().err
    assert C.run_cli(parser.parse_args(["--quick", "--reps", "0"])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--reps" in err[0]


def test_config_from_arguments():
    parser = _parser()
    cfg = C.config_from_args(parser.parse_args(["--quick", "--reps", "3", "--layers", "1"]))
    assert cfg.quick and cfg.reps == 3 and cfg.layers == ["1"] and cfg.max_new_tokens == 60
    full = C.config_from_args(parser.parse_args([]))
    assert full.reps == 5 and full.max_new_tokens == 100 and full.temperature == 0.8
    assert full.top_p == 0.3

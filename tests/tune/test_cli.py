"""``python -m sara_core tune`` (sara_core.tune.cli): on a tiny model, and once on the real one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sara_core import cli
from sara_core.cli import main

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Should they report them to the authorities or should they protect them?"
SMALL = ["--layers", "1,2", "--sara-coeffs", "1,2", "--actadd-coeffs", "4", "--max-new-tokens", "4"]


@pytest.fixture
def tiny_cli(monkeypatch, tiny_lm):
    """The CLI with the tiny model in place of the embedded one."""
    monkeypatch.setattr(cli, "_load_model", lambda name, *_a, **_kw: tiny_lm)
    return tiny_lm


def test_tune_writes_json_and_a_figure_and_prints_the_choice(tiny_cli, tmp_path, capsys):
    out, png = tmp_path / "t.json", tmp_path / "t.png"
    argv = ["tune", "--dilemma", PROMPT, "--attract", "I am happy.", "--repel", "I am sad."]
    assert main([*argv, *SMALL, "--json", str(out), "--plot", str(png)]) == 0
    data = json.loads(out.read_text())
    assert {"grid", "chosen", "prompted", "unsteered", "timing", "settings"} <= set(data)
    assert data["settings"]["layers"] == [1, 2] and data["settings"]["sara_coeffs"] == [1.0, 2.0]
    assert data["stance"] is None and data["settings"]["held_out"] is None
    assert png.read_bytes()[:4] == b"\x89PNG"
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model tiny-llama |")
    assert [ln.split()[0] for ln in lines[1:]] == ["unsteered", "prompted", "sara", "actadd"]


def test_a_stance_brings_its_held_out_probe(tiny_cli, tmp_path):
    out = tmp_path / "t.json"
    argv = ["tune", "--dilemma-id", "parent_criminal", "--stance", "pessimistic", "--quick"]
    assert main([*argv, *SMALL, "--methods", "actadd", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["stance"] == "pessimistic" and data["settings"]["quick"] is True
    assert "toward 'negative'" in data["settings"]["held_out"]
    assert {r["method"] for r in data["grid"]} == {"actadd"}


def test_a_block_the_model_lacks_is_one_line_with_compare_s_message(tiny_cli, capsys):
    argv = ["tune", "--dilemma", PROMPT, "--stance", "optimistic", "--layers", "9"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: layer=9 is out of range: it must be between -4 and 3")


@pytest.mark.parametrize(
    "extra",
    [
        ["--attract", "Be glad.", "--repel", "be  GLAD."],
        ["--methods", "sara,steer"],
        ["--max-ppl-ratio", "0.5"],
        ["--sara-coeffs", "1,1e9"],
        ["--layers", "1.5"],
        ["--refine", "9"],
        ["--held-out", "-1"],
        ["--json", "/no/such/folder/t.json"],
    ],
)
def test_bad_arguments_fail_before_the_model_loads(monkeypatch, capsys, extra):
    def no_load(name, *_a, **_kw):
        raise AssertionError("the model must not load for bad arguments")

    monkeypatch.setattr(cli, "_load_model", no_load)
    texts = [] if "--attract" in extra else ["--stance", "optimistic"]
    assert main(["tune", "--dilemma", PROMPT, *texts, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


@pytest.mark.e2e
def test_quick_search_on_the_embedded_model(tmp_path):
    out = tmp_path / "t.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["--dilemma-id", "parent_criminal", "--stance", "optimistic", "--quick"]
    proc = subprocess.run(
        [sys.executable, "-m", "sara_core", "tune", *args, "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["settings"]["layers"] == [5, 10, 15, 20]
    assert len([r for r in data["grid"] if r["stage"] == "coarse"]) == 24
    assert data["unsteered"]["ppl_ratio"] == 1.0 and data["prompted"]["effect"] is not None
    assert all(r["answer"] for r in data["grid"])

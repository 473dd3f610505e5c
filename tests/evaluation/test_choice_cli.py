"""``python -m sara_core choice``: one-line errors with exit code 2, and a run on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_tiny_lm

from sara_core.cli import main
from sara_core.evaluation.choice_run import METHODS

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STANCE = ["--stance", "utilitarian"]


@pytest.mark.parametrize(
    "argv",
    [
        ["choice"],
        ["choice", "--items", "no_such_bank", *STANCE],
        ["choice", "--items", "/nonexistent.yaml", *STANCE],
        ["choice", "--items", "moral", "--toward", "maybe", *STANCE],
        ["choice", "--items", "moral", "--toward", "duties", *STANCE],
        ["choice", "--items", "moral", "--toward", "duties"],
        ["choice", "--items", "moral", "--toward", "duties", "--attract", "a"],
        ["choice", "--items", "moral", *STANCE, "--attract", "a"],
        ["choice", "--items", "moral", "--toward", "duties", "--attract", " ", "--repel", "b"],
        ["choice", "--items", "moral", "--attract", "a", "--repel", "b"],
        ["choice", "--items", "moral", *STANCE, "--stance", "no_such_stance"],
        ["choice", "--items", "moral", *STANCE, "--sara-coeff", "nan"],
        ["choice", "--items", "moral", *STANCE, "--actadd-coeff", "1e9"],
        ["choice", "--items", "moral", *STANCE, "--n-boot", "0"],
        ["choice", "--items", "moral", *STANCE, "--layer", "two"],
        ["choice", "--items", "moral", *STANCE, "--scope", "always"],
        ["choice", "--items", "moral", *STANCE, "--sara-grid", "1,x"],
        ["choice", "--items", "moral", *STANCE, "--actadd-grid", ","],
    ],
)
def test_bad_input_gives_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    """A tiny random chat model saved as a local folder, loadable by --model."""
    lm = make_tiny_lm("llama")
    folder = tmp_path_factory.mktemp("tiny")
    lm.model.save_pretrained(folder)
    lm.tokenizer.save_pretrained(folder)
    return folder


def test_choice_writes_the_four_methods_validity_and_a_table_per_layer(
    tiny_folder, tmp_path, capsys
):
    out = tmp_path / "r.json"
    argv = ["choice", "--items", "sentiment", "--stance", "pessimistic", "--quick"]
    argv += ["--model", str(tiny_folder), "--layer", "-1", "--layers", "1,2", "--json", str(out)]
    assert main([*argv, "--n-boot", "200"]) == 0
    data = json.loads(out.read_text())
    assert data["n_items"] == 16 and data["toward"] == "negative" and data["bank"] == "sentiment"
    for m in ("prompted", "sara", "actadd", "control"):
        assert set(data[m]) == {"mean", "ci", "n"} and data[m]["n"] == 16
        assert data[m]["ci"][0] <= data[m]["mean"] <= data[m]["ci"][1]
    assert data["valid"] == (data["prompted"]["ci"][0] > 0)
    assert [row["layer"] for row in data["by_layer"]] == [1, 2]
    assert data["settings"]["layer"] == 3  # -1 counts from the end of 4 blocks
    assert data["settings"]["instruction"].startswith("Things usually turn out badly")
    assert len(data["items"]) == 16 and set(data["p_toward"]) == {"unsteered", *METHODS}
    p = data["p_toward"]
    assert np.mean(np.subtract(p["sara"], p["unsteered"])) == pytest.approx(
        data["sara"]["mean"], abs=1e-3
    )
    # the three measure forms, read from the same scores; each agrees with the per-item record
    forms = data["forms"]
    assert (
        set(forms) == {"mean", "sum", "logodds"} and data["valid_by_form"]["mean"] == data["valid"]
    )
    assert forms["mean"]["sara"]["mean"] == data["sara"]["mean"]
    lo = data["log_odds"]
    assert np.mean(np.subtract(lo["actadd"], lo["unsteered"])) == pytest.approx(
        forms["logodds"]["actadd"]["mean"], abs=1e-3
    )
    gaps = [abs(a - b) for a, b in data["tokens"]]
    assert len(gaps) == 16 and forms["sum"]["n_matched"] == sum(g <= 1 for g in gaps)
    assert all(set(row["forms"]) == set(forms) for row in data["by_layer"])
    table = capsys.readouterr().out
    assert "shift per measure form" in table and "logodds" in table


def test_choice_strength_writes_json_figure_and_table(tiny_folder, tmp_path, monkeypatch):
    from sara_core.measures import strength

    monkeypatch.setattr(strength, "COST_TOKENS", 3)
    argv = ["choice", "--items", "sentiment", "--stance", "optimistic", "--quick", "--layer", "1"]
    argv += ["--model", str(tiny_folder), "--n-boot", "200", "--strength", str(tmp_path)]
    argv += ["--sara-grid", "2,0", "--actadd-grid", "0,8"]
    assert main(argv) == 0
    stem = tmp_path / "strength-sentiment-positive-L1"
    data = json.loads(stem.with_suffix(".json").read_text())
    assert {p["method"] for p in data["points"]} == {"prompted", "sara", "actadd", "control"}
    assert stem.with_suffix(".png").stat().st_size > 0
    assert "| setting |" in stem.with_suffix(".md").read_text()
    assert data["finding"]

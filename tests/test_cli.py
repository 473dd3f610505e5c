"""The command line: one-line errors with exit code 2, and real answers on the embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sara_core.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["compare", "--bogus"],
        ["compare", "--dilemma", "x", "--attract", "a"],
        ["compare", "--attract", "a", "--repel", "b"],
        ["compare", "--dilemma", "x", "--stance", "no_such_stance"],
        ["compare", "--dilemma", "x", "--dilemma-id", "lifeboat", "--stance", "utilitarian"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--attract", "y"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--max-new-tokens", "0"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--sara-coeff", "nan"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--actadd-coeff", "1e9"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--scope", "always"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--k", "-1"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--layer", "two"],
        ["compare", "--dilemma-id", "no-such-dilemma", "--stance", "utilitarian"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--presets", "/nonexistent.yaml"],
        ["compare", "--dilemma", "x", "--load", "/nonexistent.safetensors"],
        ["compare", "--dilemma", "x", "--stance", "utilitarian", "--instruction", "i" * 9000],
        ["tune"],
        ["tune", "--stance", "optimistic"],
        ["tune", "--dilemma", "x"],
        ["tune", "--dilemma", "x", "--stance", "no_such_stance"],
        ["tune", "--dilemma", "x", "--dilemma-id", "lifeboat", "--stance", "kantian"],
        ["tune", "--dilemma", "x", "--stance", "kantian", "--attract", "y"],
        ["tune", "--dilemma", "x", "--attract", "same", "--repel", "Same "],
        ["tune", "--dilemma", "x", "--stance", "kantian", "--methods", "steer"],
        ["tune", "--dilemma", "x", "--stance", "kantian", "--max-ppl-ratio", "nan"],
        ["tune", "--dilemma", "x", "--stance", "kantian", "--actadd-coeffs", "4,x"],
        ["tune", "--dilemma", "x", "--stance", "kantian", "--max-points", "0"],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ")
    assert "Traceback" not in err[0]


def test_presets_lists_bundled_entries(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert "utilitarian" in out and "parent_criminal" in out


def test_presets_accepts_a_user_file(tmp_path, capsys):
    user = tmp_path / "mine.yaml"
    user.write_text(
        "stances:\n  - name: sunny\n"
        "    attract: It is a bright day.\n    repel: It is a dark day.\n"
    )
    assert main(["presets", "--presets", str(user), "--json"]) == 0
    names = [s["name"] for s in json.loads(capsys.readouterr().out)["stances"]]
    assert "sunny" in names and "utilitarian" in names


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sara_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )


@pytest.mark.e2e
def test_compare_json_on_the_embedded_model(tmp_path):
    out = tmp_path / "steer.safetensors"
    proc = _cli(
        "compare",
        "--dilemma-id",
        "parent_criminal",
        "--paper-prefix",
        "--stance",
        "utilitarian",
        "--max-new-tokens",
        "12",
        "--json",
        "--save",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    answers = {"original", "sara", "actadd", "prompted"}
    assert set(data) == {*answers, "settings", "timing", "model_info"}
    assert data["model_info"]["name"].startswith("embedded") and data["model_info"]["layers"] == 30
    assert all(data[k].strip() for k in ("original", "sara", "actadd", "prompted"))
    assert data["settings"]["layer"] == 15 and data["settings"]["model"].startswith("embedded")
    assert out.is_file()
    # the saved steering reproduces the same answers when loaded back
    again = _cli(
        "compare",
        "--dilemma-id",
        "parent_criminal",
        "--paper-prefix",
        "--load",
        str(out),
        "--max-new-tokens",
        "12",
        "--json",
        "--no-prompted",
    )
    assert again.returncode == 0, again.stderr
    assert "prompted" not in json.loads(again.stdout)
    assert {k: json.loads(again.stdout)[k] for k in ("original", "sara", "actadd")} == {
        k: data[k] for k in ("original", "sara", "actadd")
    }


@pytest.mark.e2e
def test_compare_text_output_and_bad_layer_on_the_real_model():
    proc = _cli(
        "compare",
        "--dilemma",
        "Is it ever right to lie?",
        "--stance",
        "kantian",
        "--max-new-tokens",
        "8",
    )
    assert proc.returncode == 0, proc.stderr
    assert "== ORIGINAL ==" in proc.stdout and "== SARA ==" in proc.stdout
    assert "== PROMPTED ==" in proc.stdout
    bad = _cli("compare", "--dilemma", "x", "--stance", "kantian", "--layer", "30")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1] == (
        "error: layer=30 is out of range: it must be between -30 and 29 (this model has 30 "
        "blocks, 0..29; negative counts from the end)"
    )


@pytest.mark.parametrize(
    ("argv", "env", "says"),
    [
        (["info", "--model", "random:gemma-2-2b"], {"SARA_MEMORY_MB": "3000"}, "does not fit"),
        (["info", "--model", "random:gemma-9b"], {}, "unknown model shape 'gemma-9b'"),
        (["info", "--device", "cuda:7"], {}, "--device cuda:7"),
        (["info", "--dtype", "int4"], {}, "unknown dtype 'int4'"),
        (["info"], {"SARA_DTYPE": "float16"}, "float16 on a CPU"),
        (["info"], {"SARA_MEMORY_MB": "lots"}, "SARA_MEMORY_MB must be a whole number"),
    ],
)
def test_a_model_that_cannot_load_here_is_refused_in_one_line(argv, env, says, monkeypatch, capsys):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0], err


def test_info_json_prints_what_the_model_is(monkeypatch, capsys, tiny_lm):
    from sara_core.models import options as model_args

    seen = {}

    def fake_load(name, progress=None, **options):
        seen.update(options, name=name)
        return tiny_lm

    monkeypatch.setattr("sara_core.models.loading.load_model", fake_load)
    monkeypatch.setenv("SARA_DTYPE", "bfloat16")
    assert main(["info", "--model", "tiny", "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("architecture", "layers", "hidden_size", "dtype", "device", "weight_bytes"):
        assert key in info
    assert "tokenizer_note" in info and info["weight_bytes"] > 0
    assert seen == {"name": "tiny", "device": "cpu", "dtype": "bfloat16", "memory_mb": None}
    assert model_args.MODEL_HELP.startswith("hub id, local folder, pypi:NAME")
    assert "random:NAME" in model_args.MODEL_HELP and ".gguf" in model_args.MODEL_HELP


def test_commands_keep_the_hub_off_unless_a_hub_model_is_named(tmp_path):
    from sara_core.models.names import is_hub_id
    from sara_core.models.options import offline_unless_hub

    assert not is_hub_id("embedded") and not is_hub_id("random:gemma-2-2b")
    assert not is_hub_id(str(tmp_path)) and is_hub_id("google/gemma-2-2b-it")
    env: dict[str, str] = {}
    offline_unless_hub(env, None, "random:gemma-2b")
    assert env == {"HF_HUB_OFFLINE": "1"}
    env = {}
    offline_unless_hub(env, None, "Qwen/Qwen2.5-0.5B-Instruct")
    assert env == {}  # fetched where the network allows (and said plainly where it does not)


def test_compare_strengths_left_out_are_the_models_measured_ones():
    """A strength fit for one model can break another (ActAdd at c 4 on Gemma 3 270M): what
    the command line leaves out comes from presets/defaults.yaml, else λ 1 and c 4."""
    import argparse

    from sara_core.cli import _strengths
    from sara_core.presets.defaults import defaults_for

    def ns(model, sara=None, actadd=None):
        return argparse.Namespace(model=model, sara_coeff=sara, actadd_coeff=actadd)

    gemma = defaults_for("pypi:gemma-3-270m")
    assert gemma is not None and gemma.actadd_coeff < 4
    assert _strengths(ns("pypi:Gemma-3-270M")) == (gemma.sara_coeff, gemma.actadd_coeff)
    assert _strengths(ns("pypi:gemma-3-270m", 3.0, 0.5)) == (3.0, 0.5)
    assert _strengths(ns("some/unmeasured-model")) == (1.0, 4.0)
    embedded = defaults_for("embedded:smollm2-135m-instruct")
    assert embedded is not None
    assert _strengths(ns(None)) == (embedded.sara_coeff, embedded.actadd_coeff)

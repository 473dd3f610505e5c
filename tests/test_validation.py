"""The one place values are checked (sara_core.validation)."""

from __future__ import annotations

import math

import pytest

from sara_core.validation import (
    InputError,
    as_bool,
    as_choice,
    as_float,
    as_int,
    as_k,
    as_out_path,
    as_text,
    default_layer,
    resolve_layer,
    same_text,
    short_repr,
)


@pytest.mark.parametrize(("raw", "want"), [(3, 3), (3.0, 3), ("3", 3), (" 7 ", 7), ("2e1", 20)])
def test_as_int_accepts_unambiguous_whole_numbers(raw, want):
    assert as_int("n", raw, 0, 100) == want


@pytest.mark.parametrize("raw", [3.5, "x", None, True, [1], math.nan, math.inf, "nan"])
def test_as_int_refuses_the_rest(raw):
    with pytest.raises(InputError, match="n must be a whole number"):
        as_int("n", raw, 0, 100)


def test_as_int_range_message_names_the_bounds_and_hint():
    with pytest.raises(
        InputError, match=r"n=101 is out of range: it must be between 0 and 100 \(x\)"
    ):
        as_int("n", 101, 0, 100, " (x)")


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, "inf", "NaN"])
def test_as_float_refuses_non_finite(raw):
    with pytest.raises(InputError, match="finite"):
        as_float("c", raw, -1, 1)


def test_as_float_range_and_types():
    assert as_float("c", "0.5", -1, 1) == 0.5
    with pytest.raises(InputError, match="out of range"):
        as_float("c", 1e9, -1, 1)
    with pytest.raises(InputError, match="must be a number"):
        as_float("c", {"a": 1}, -1, 1)


def test_as_bool_and_choice():
    assert as_bool("b", "TRUE") is True and as_bool("b", 0) is False
    with pytest.raises(InputError, match="true or false"):
        as_bool("b", "maybe")
    assert as_choice("s", "prompt", ("prompt", "every-step")) == "prompt"
    with pytest.raises(InputError, match="one of prompt, every-step"):
        as_choice("s", "always", ("prompt", "every-step"))


def test_as_text_strips_and_bounds():
    assert as_text("t", "  hi  ") == "hi"
    for empty in ("", "  \n", None):
        with pytest.raises(InputError, match="t is empty"):
            as_text("t", empty)
    with pytest.raises(InputError, match="too long: 11 characters"):
        as_text("t", "x" * 11, max_chars=10)
    with pytest.raises(InputError, match="must be text"):
        as_text("t", 42)


def test_layer_sentinel_means_the_same_everywhere():
    assert default_layer(30) == 15
    assert resolve_layer(None, 30) == 15
    assert resolve_layer(-1, 30) == 29 and resolve_layer(-30, 30) == 0
    assert resolve_layer("4", 30) == 4
    for bad in (30, -31, 2.5):
        with pytest.raises(InputError, match="layer"):
            resolve_layer(bad, 30)


def test_k_zero_and_none_mean_auto():
    assert as_k(None) is None and as_k(0) is None and as_k("0") is None and as_k("") is None
    assert as_k(5) == 5
    with pytest.raises(InputError, match="k"):
        as_k(-1)


def test_short_repr_is_bounded_for_huge_and_deep_values():
    deep: list = []
    node = deep
    for _ in range(10_000):
        node.append([])
        node = node[0]
    huge = ["x" * 1000] * 100_000
    for value in (deep, huge, "y" * 10**6, {i: i for i in range(10**5)}):
        assert len(short_repr(value)) <= 200


def test_same_text_ignores_case_and_spacing():
    assert same_text("Only  Duties\n", "only duties")
    assert not same_text("duties", "consequences")


def test_an_output_file_needs_an_existing_folder(tmp_path):
    assert as_out_path(None) is None and as_out_path("") is None
    assert as_out_path(str(tmp_path / "run.json")) == tmp_path / "run.json"
    with pytest.raises(InputError, match="cannot write .*: its folder does not exist"):
        as_out_path(str(tmp_path / "missing" / "run.json"))

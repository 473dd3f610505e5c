"""The compare request (sara_core.engine.request): one list of fields, parsed in one place."""

from __future__ import annotations

import pytest

from sara_core.engine.request import CompareRequest
from sara_core.validation import InputError

TEXTS = {"dilemma": "Should I?", "attract": "Yes.", "repel": "No."}


def test_field_order_is_the_api_order_and_new_fields_come_last():
    names = CompareRequest.names()
    assert names[:13] == [
        "dilemma",
        "attract",
        "repel",
        "layer",
        "max_new_tokens",
        "k",
        "sara_coeff",
        "actadd_coeff",
        "scope",
        "do_sample",
        "temperature",
        "top_p",
        "seed",
    ]


def test_parse_fills_defaults_and_coerces_strings():
    req = CompareRequest.parse({**TEXTS, "layer": "-1", "k": "0", "sara_coeff": "1.5"}, 100, 30)
    assert req.layer == -1 and req.k is None and req.sara_coeff == 1.5
    assert req.config().resolved_layer(30) == 29
    assert req.settings().max_new_tokens == 80
    assert CompareRequest.parse({**TEXTS, "layer": None}, 100, 30).config().resolved_layer(30) == 15


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"dilemma": "  "}, "the dilemma is empty"),
        ({"layer": 30}, "layer=30 is out of range"),
        ({"max_new_tokens": 101}, "max_new_tokens=101 is out of range"),
        ({"sara_coeff": "nan"}, "finite"),
        ({"scope": "always"}, "scope must be one of"),
        ({"do_sample": True, "top_p": 0}, "top_p"),
        ({"k": -2}, "k"),
        ({"sign": "up"}, "sign"),
    ],
)
def test_parse_refuses_bad_values_with_a_clear_message(raw, message):
    with pytest.raises(InputError, match=message):
        CompareRequest.parse({**TEXTS, **raw}, 100, 30)


def test_unknown_fields_are_a_programming_error():
    with pytest.raises(TypeError, match="unknown request fields: bogus"):
        CompareRequest.parse({**TEXTS, "bogus": 1})


def test_prompted_is_on_by_default_and_takes_an_optional_instruction():
    req = CompareRequest.parse(TEXTS)
    assert req.prompted is True and req.prompted_arg() is True
    assert CompareRequest.parse({**TEXTS, "prompted": "false"}).prompted_arg() is False
    assert CompareRequest.parse({**TEXTS, "instruction": " Be gloomy. "}).prompted_arg() == (
        "Be gloomy."
    )
    assert CompareRequest.parse({**TEXTS, "instruction": "  "}).prompted_arg() is True

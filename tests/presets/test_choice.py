"""Tests for sara_core.presets.choice: the shipped forced-choice banks as a measurement
instrument (size, matched options, balance, no keyword overlap with the steering prompts) and
the loader's refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from sara_core.presets.choice import (
    ChoiceBank,
    ChoiceItem,
    bundled_choice_banks,
    get_choice_bank,
    load_choice_bank,
)
from sara_core.presets.entries import MAX_ENTRIES
from sara_core.presets.files import PresetError
from sara_core.presets.stances import Stance
from sara_core.validation import MAX_TEXT_CHARS

MAX_WORD_RATIO = 1.3
"""Longest option of an item over its shortest, in words."""
MAX_WORD_GAP = 4
"""Most words by which an item's two options may differ."""
MAX_ACT_IMBALANCE = 0.1
"""Largest |share of items whose action answer is one pole - 1/2| x 2, i.e. at most 55/45."""
STEERING_WORDS = {
    # the words of the stance prompts each bank is steered with; an option using them would
    # measure lexical priming instead of a stance
    "moral": r"\b(consequen\w*|dut(y|ies)|moral\w*|matter\w*|regardless)\b",
    "sentiment": r"\b(better|worse|well|badly|chances?|problems?|turn(s|ed)? out)\b",
}


@pytest.fixture(scope="module")
def banks() -> dict[str, ChoiceBank]:
    return {bank.name: bank for bank in bundled_choice_banks()}


def test_shipped_banks(banks: dict[str, ChoiceBank]) -> None:
    assert set(banks) == {"moral", "sentiment"}
    moral, sentiment = banks["moral"], banks["sentiment"]
    assert moral.poles == ("consequences", "duties") and len(moral.items) >= 60
    assert sentiment.poles == ("positive", "negative") and len(sentiment.items) >= 40
    assert moral.stances["utilitarian"] == "consequences"
    assert moral.stances["kantian"] == "duties"
    assert sentiment.stances == {"optimistic": "positive", "pessimistic": "negative"}
    for bank in banks.values():
        assert bank.description and bank.source
        assert len({item.id for item in bank.items}) == len(bank.items)
        assert len({item.question for item in bank.items}) == len(bank.items)


@pytest.mark.parametrize("name", ["moral", "sentiment"])
def test_options_are_matched_in_length(banks: dict[str, ChoiceBank], name: str) -> None:
    for item in banks[name].items:
        words = sorted(len(text.split()) for text in item.options.values())
        assert words[1] / words[0] <= MAX_WORD_RATIO, (item.id, words)
        assert words[1] - words[0] <= MAX_WORD_GAP, (item.id, words)


@pytest.mark.parametrize("name", ["moral", "sentiment"])
def test_options_avoid_the_steering_words(banks: dict[str, ChoiceBank], name: str) -> None:
    pattern = re.compile(STEERING_WORDS[name], re.IGNORECASE)
    for item in banks[name].items:
        for pole, text in item.options.items():
            assert not pattern.search(text), (item.id, pole, text)


def test_moral_action_answers_are_balanced(banks: dict[str, ChoiceBank]) -> None:
    items = banks["moral"].items
    counts = {pole: sum(item.act == pole for item in items) for pole in banks["moral"].poles}
    assert sum(counts.values()) == len(items), "every moral item names its action pole"
    assert abs(counts["consequences"] - counts["duties"]) <= MAX_ACT_IMBALANCE * len(items)
    for item in items:  # the action answer is the "Yes" one, the other declines
        other = next(pole for pole in item.options if pole != item.act)
        assert item.options[item.act].startswith("Yes"), item.id
        assert item.options[other].startswith("No"), item.id


def test_get_choice_bank(banks: dict[str, ChoiceBank]) -> None:
    assert get_choice_bank(" MORAL ").poles == ("consequences", "duties")
    with pytest.raises(ValueError, match="unknown choice bank 'x'; available: moral, sentiment"):
        get_choice_bank("x", list(banks.values()))


# --------------------------------------------------------------------------------------------
# The loader

STANCES = [Stance("up", "", "Go up.", "Go down."), Stance("down", "", "Go down.", "Go up.")]
HEAD = "name: test\npoles: [yes_side, no_side]\n"
ITEM = "- {id: a, question: 'Q?', yes_side: 'I would.', no_side: 'I would not.'}\n"


def _bank(tmp_path: Path, text: str, name: str = "bank.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_minimal_bank_in_yaml_and_json(tmp_path: Path) -> None:
    text = HEAD + "stances: {UP: yes_side}\nitems:\n" + ITEM
    bank = load_choice_bank(_bank(tmp_path, text), STANCES)
    assert bank == ChoiceBank(
        name="test",
        description="",
        poles=("yes_side", "no_side"),
        items=[ChoiceItem("a", "Q?", {"yes_side": "I would.", "no_side": "I would not."})],
        stances={"up": "yes_side"},
    )
    data = {
        "name": "test",
        "poles": ["l", "r"],
        "items": [{"id": "b", "question": "Q?", "r": "Right.", "l": "Left.", "act": "r"}],
    }
    json_bank = load_choice_bank(_bank(tmp_path, json.dumps(data), "b.json"), STANCES)
    assert json_bank.items[0].options == {"l": "Left.", "r": "Right."}  # in the poles' order
    assert json_bank.items[0].act == "r" and json_bank.stances == {}


def _items(count: int) -> str:
    return "".join(
        f"- {{id: i{n}, question: 'Q?', yes_side: 'I would.', no_side: 'I would not.'}}\n"
        for n in range(count)
    )


LONG = "w" * (MAX_TEXT_CHARS + 1)
BANK_CASES = [
    # (id, file text, expected fragments besides the file name)
    ("not_mapping", "- a\n", ["expected a mapping at the top level, got a list"]),
    ("top_typo", HEAD + "itmes: []\n", ["'itmes' (did you mean 'items'?)"]),
    ("no_items", HEAD, ["missing required field(s) 'items'"]),
    ("no_poles", "name: t\nitems: []\n", ["missing required field(s) 'poles'"]),
    ("one_pole", "name: t\npoles: [a]\nitems: []\n", ["'poles' must be a list of two names"]),
    ("same_poles", "name: t\npoles: [a, A]\nitems: []\n", ["the two poles must differ"]),
    ("pole_named_id", "name: t\npoles: [id, b]\nitems: []\n", ["may not be called 'id'"]),
    ("pole_not_slug", "name: t\npoles: [a b, c]\nitems: []\n", ["'poles' must be a slug"]),
    ("empty_items", HEAD + "items: []\n", ["the list of items is empty"]),
    (
        "missing_option",
        HEAD + "items:\n" + ITEM + "- {id: b, question: 'Q?', yes_side: 'I would.'}\n",
        ["entry #2 (id 'b')", "missing required field(s) 'no_side'"],
    ),
    (
        "unknown_pole_option",
        HEAD + "items:\n- {id: b, question: 'Q?', yes_side: x, no_side: y, maybe: z}\n",
        ["entry #1 (id 'b')", "unknown field(s) 'maybe'"],
    ),
    (
        "duplicate_id",
        HEAD + "items:\n" + ITEM + ITEM.replace("'Q?'", "'Other?'"),
        ["entry #2 (id 'a')", "duplicate item id 'a' (already used by entry #1)"],
    ),
    (
        "empty_option",
        HEAD + "items:\n- {id: b, question: 'Q?', yes_side: ' ', no_side: 'No.'}\n",
        ["entry #1 (id 'b')", "field 'yes_side' is empty"],
    ),
    (
        "empty_question",
        HEAD + "items:\n- {id: b, question: '', yes_side: 'Yes.', no_side: 'No.'}\n",
        ["field 'question' is empty"],
    ),
    (
        "same_options",
        HEAD + "items:\n- {id: b, question: 'Q?', yes_side: 'Same.', no_side: ' same. '}\n",
        ["the two options are the same text"],
    ),
    (
        "long_option",
        HEAD + f"items:\n- {{id: b, question: 'Q?', yes_side: {LONG}, no_side: 'No.'}}\n",
        ["field 'yes_side' is too long", str(MAX_TEXT_CHARS)],
    ),
    (
        "option_not_text",
        HEAD + "items:\n- {id: b, question: 'Q?', yes_side: [1, 2], no_side: 'No.'}\n",
        ["field 'yes_side' must be a string, got a list ([1, 2])"],
    ),
    (
        "act_not_a_pole",
        HEAD + "items:\n- {id: b, question: 'Q?', yes_side: 'Y.', no_side: 'N.', act: up}\n",
        ["field 'act' must name a pole (yes_side, no_side), got 'up'"],
    ),
    (
        "stance_to_unknown_pole",
        HEAD + "stances: {up: sideways}\nitems:\n" + ITEM,
        ["'stances' maps 'up' to 'sideways', which is not a pole"],
    ),
    (
        "unknown_stance",
        HEAD + "stances: {nihilist: yes_side}\nitems:\n" + ITEM,
        ["'stances' names an unknown stance 'nihilist'; known stances: up, down"],
    ),
    ("stances_not_mapping", HEAD + "stances: [up]\nitems:\n" + ITEM, ["'stances' must map"]),
    (
        "too_many_items",
        HEAD + "items:\n" + _items(MAX_ENTRIES + 1),
        [f"too many items: {MAX_ENTRIES + 1}, at most {MAX_ENTRIES}"],
    ),
    ("long_name", f"name: {'n' * 65}\npoles: [a, b]\nitems:\n", ["'name' is too long"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in BANK_CASES], ids=[c[0] for c in BANK_CASES]
)
def test_malformed_banks(tmp_path: Path, text: str, fragments: list[str]) -> None:
    path = _bank(tmp_path, text)
    with pytest.raises(PresetError) as info:
        load_choice_bank(path, STANCES)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_most_items_accepted(tmp_path: Path) -> None:
    bank = load_choice_bank(_bank(tmp_path, HEAD + "items:\n" + _items(MAX_ENTRIES)), STANCES)
    assert len(bank.items) == MAX_ENTRIES


def test_stances_default_to_the_bundled_ones(tmp_path: Path) -> None:
    path = _bank(tmp_path, HEAD + "stances: {kantian: no_side}\nitems:\n" + ITEM)
    assert load_choice_bank(path).stances == {"kantian": "no_side"}
    with pytest.raises(PresetError, match="unknown stance 'kantian'"):
        load_choice_bank(path, STANCES)

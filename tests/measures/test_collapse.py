"""Each collapse rule fires on what it names and on nothing in the labelled answers
(sara_core.measures.collapse)."""

from __future__ import annotations

import pytest

from sara_core.evaluation.schools import load_labelled
from sara_core.measures.collapse import RULES, detect_collapse

DILEMMA = (
    "An individual discovers that one of their parents is a criminal. Should they report them to "
    "the authorities or should they protect them?"
)
GOOD = (
    "Reporting the parent to the authorities is right: the law applies to everyone, and "
    "protecting a criminal parent would betray the victims and the duty owed to society."
)
CASES = {
    "too_short": "Report them, always.",
    "non_answer": "I'm not sure what you're talking about. Could you tell me more about the "
    "parents and the authorities involved here?",
    "code": "def report(parent):\n    return parent.criminal\nprint(report(mother))\n"
    "This decides whether to report the parent to the authorities.",
    "gibberish": "You are aGearA You are aGearA parentsAreCriminals reportThemNow mustProtect "
    "the authoritiesKnow xkcdqwrtz blrptnsk frmblgrs",
    "loop": "They should report them to the authorities. " * 6,
    "echo": "Should they report them to the authorities or should they protect them? One of "
    "their parents is a criminal.",
    "off_topic": "The weather in spring is usually mild, with flowers blooming in the gardens "
    "and birds singing in the trees all morning long.",
}


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_fires_on_its_case(rule):
    found = detect_collapse(CASES[rule], DILEMMA)
    assert found is not None and found.rule == rule, found


def test_a_real_answer_and_every_labelled_answer_pass():
    assert detect_collapse(GOOD, DILEMMA) is None
    assert detect_collapse(GOOD) is None
    assert [t for t in load_labelled().texts if detect_collapse(t)] == []


def test_text_in_another_script_has_no_words():
    found = detect_collapse("Родитель преступник и власти должны знать об этом деле", DILEMMA)
    assert found is not None and found.rule == "too_short"


def test_dilemma_rules_need_a_dilemma_and_idioms_are_not_refusals():
    assert detect_collapse(CASES["off_topic"]) is None  # no dilemma given: nothing to compare
    hedge = (
        "I can't help but think that reporting the parent to the authorities is right, since the "
        "law must apply to everyone equally, whoever they are."
    )
    assert detect_collapse(hedge, DILEMMA) is None
    markdown = "**Report them.** " + GOOD + "\n* The law binds everyone.\n* Victims matter too."
    assert detect_collapse(markdown, DILEMMA) is None


def _shuffled_words(n=40, seed=1):
    import random

    vocab = ["parent", "report", "law", "duty", "protect", "crime", "family", "truth"]
    rng = random.Random(seed)
    return " ".join(rng.choice(vocab) for _ in range(n))


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        # repeated 3-grams inside one run-on sentence
        (
            "I think that the parent should be reported and I think that the parent should be "
            "reported and I think that the parent should be reported because it is so",
            "3-grams repeat",
        ),
        # one short sentence three times in an otherwise varied answer
        (
            "Report them now. " * 3 + GOOD + " Courts exist for exactly such cases, and families "
            "survive honesty better than they survive years of secrets.",
            "a sentence appears 3 times",
        ),
        # a handful of words shuffled: 3-grams rarely repeat, but the vocabulary has collapsed
        (_shuffled_words(), "distinct words"),
    ],
)
def test_each_kind_of_loop(text, detail):
    found = detect_collapse(text, DILEMMA)
    assert found is not None and found.rule == "loop" and detail in found.detail, found


@pytest.mark.parametrize(
    ("rule", "text", "detail"),
    [
        (
            "code",
            "Here is how to decide about the parent:\n```\nreport = True\n```\n" + GOOD,
            "fence",
        ),
        ("code", "{{parent}} => [[report]] <<authorities>> ## @@ || ~~ ^^ " * 3 + GOOD, "symbols"),
        (
            "gibberish",
            "The parent and the authorities must decide what to report about the crime today. "
            + "Родитель преступник и власти должны знать об этом деле сейчас " * 3,
            "Latin",
        ),
    ],
)
def test_each_kind_of_code_and_gibberish(rule, text, detail):
    found = detect_collapse(text, DILEMMA)
    assert found is not None and found.rule == rule and detail in found.detail, found

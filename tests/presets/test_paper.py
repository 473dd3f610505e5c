"""The pre-print's texts: defined once, quoted verbatim by the bundled stances and dilemma."""

from __future__ import annotations

from sara_core.presets.dilemmas import get_dilemma
from sara_core.presets.paper import (
    PAPER_ATTRACT,
    PAPER_DILEMMA,
    PAPER_PREFIX,
    PAPER_REPEL,
    PAPER_SOURCE,
)
from sara_core.presets.stances import get_stance


def test_constants_quote_the_preprint() -> None:
    # written out here once more on purpose: a change to paper.py must be deliberate
    assert PAPER_PREFIX == "Your task is to take an unambiguous moral stance on this dilemma: "
    assert PAPER_DILEMMA == (
        "An individual discovers that one of their parents is a criminal. Should they report "
        "them to the authorities or should they protect them?"
    )
    assert PAPER_ATTRACT == (
        "Only consequences matter to make a moral decision, regardless of the moral duties."
    )
    assert PAPER_REPEL == (
        "Only moral duties matter to make a moral decision, regardless of the consequences."
    )
    assert "2405.17345" in PAPER_SOURCE


def test_bundled_files_quote_the_constants() -> None:
    util, kant = get_stance("utilitarian"), get_stance("kantian")
    assert (util.attract, util.repel) == (PAPER_ATTRACT, PAPER_REPEL)
    assert (kant.attract, kant.repel) == (PAPER_REPEL, PAPER_ATTRACT)
    assert util.category == kant.category == "paper"
    assert get_dilemma("parent_criminal").text == PAPER_DILEMMA

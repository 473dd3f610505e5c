"""Stream deltas: held back while they could become a stop sequence or half a character."""

from __future__ import annotations

from sara_core.serve.text import TextStream, cut_at_stop, held_back


def test_cut_and_hold_back():
    assert cut_at_stop("one two END three", ["END", "two"]) == ("one ", True)
    assert cut_at_stop("abc", ["x"]) == ("abc", False)
    assert held_back("hello EN", ["END"]) == 2
    assert held_back("hello E", ["XYZ", "END"]) == 1
    assert held_back("hello", ["END"]) == 0


def test_a_stream_sends_only_final_text_and_joins_to_the_answer():
    s = TextStream(["END"])
    deltas = [s.update(t) for t in ["He", "Hello E", "Hello EN", "Hello ENJOY", "Hello ENJOY."]]
    assert deltas == ["He", "llo ", "", "ENJOY", "."]
    assert s.finish("Hello ENJOY.") == "" and not s.stopped
    s = TextStream(["END"])
    assert [s.update(t) for t in ["a", "a EN", "a END b"]] == ["a", " ", ""]
    assert s.stopped and s.update("a END b c") == ""
    assert s.sent == "a "


def test_half_a_character_waits_for_its_other_bytes():
    s = TextStream()
    assert s.update("caf\ufffd") == "caf"
    assert s.update("café") == "é"
    assert s.finish("café!") == "!"

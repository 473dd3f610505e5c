"""Which answers no judge should classify: collapsed text, code, non-answers, off-topic text.

The rules are explicit and were fixed before any scoring on real answers (docs/evaluation/
judge_blind/README.md records when), from the 56 labelled answers (23 to 35 words, repeated
3-gram share at most 0.03, none of the patterns below) and general knowledge of how small steered
models fail: they loop, switch to code, echo the prompt, or say they do not understand. The first
rule that fires names the reason; an answer no rule rejects is ``coherent``. Words are runs of
Latin letters, digits and apostrophes (sara_core.measures.metrics.words), so an answer written
wholly in another script has no words and is ``too_short``.

=============  ==============================================================================
rule           fires when
=============  ==============================================================================
too_short      fewer than ``MIN_WORDS`` (12) words
non_answer     a refusal or confusion phrase (``NON_ANSWER_PATTERNS``: "I'm not sure what you're
               talking about", "could you clarify", "I cannot help with" ...)
code           a ``` fence, or at least 2 lines that look like code (``CODE_LINE``), or more than
               ``MAX_SYMBOL_SHARE`` (10%) of the characters are symbols outside normal prose
gibberish      more than ``MAX_MALFORMED_SHARE`` (25%) of the words are malformed (a capital
               inside a lowercase word as in "aGearA", 20+ letters, or 5+ letters with no vowel),
               or more than 30% of the letters are outside the Latin alphabet
loop           more than ``MAX_REPEATED_TRIGRAMS`` (30%) of the word 3-grams repeat an earlier
               one, or one sentence appears 3 times or more, or (from 30 words on) fewer than
               ``MIN_DISTINCT_WORDS`` (30%) of the words are distinct
echo           (dilemma given) ``MAX_ECHO_SHARE`` (60%) or more of the answer's word 3-grams are
               the dilemma's: the answer restates the prompt
off_topic      (dilemma given) the answer shares no content word with the dilemma (fewer than
               ``MIN_SHARED_STEMS`` = 1; words of 4+ letters outside a stop list, compared by
               their first 5 letters so "parent" matches "parents")
=============  ==============================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sara_core.measures.metrics import ngrams, repetition_rate, words

MIN_WORDS = 12
MAX_REPEATED_TRIGRAMS = 0.30
MIN_DISTINCT_WORDS = 0.30
MAX_SENTENCE_REPEATS = 3
MAX_SYMBOL_SHARE = 0.10
MAX_MALFORMED_SHARE = 0.25
MAX_NON_LATIN_SHARE = 0.30
MAX_ECHO_SHARE = 0.60
MIN_SHARED_STEMS = 1

RULES_VERSION = 1
"""Bumped whenever a rule or threshold changes, so a blind check of older rules stops counting."""
RULES = ("too_short", "non_answer", "code", "gibberish", "loop", "echo", "off_topic")
"""Every rule, in the order they are checked."""

NON_ANSWER_PATTERNS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bnot sure what you(?:'re| are) (?:talking|asking|referring to)\b",
        r"\bI (?:don't|do not) (?:understand|know what you mean)\b",
        r"\b(?:could|can) you (?:please )?(?:clarify|rephrase|provide more)\b",
        r"\bI(?:'m| am) (?:not able|unable) to (?:help|assist|answer|provide|comply)\b",
        r"\bI (?:can't|cannot|can not) (?:help|assist|comply)\b(?!\s+but\b)",
        r"\bwhat (?:do you mean|are you referring to)\b",
    )
)
CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import |return\b|#include|public |private |function\b"
    r"|var |let |const |print\(|console\.log)|[;{}]\s*$|</?[a-z]+[^>]*>|=>|\w\(.*\)\s*;"
)
PROSE_SYMBOLS = set(".,;:'\"!?()-–—’‘“”…%$/&*•")  # "*" and "•": markdown emphasis and bullets
_STOP_TEXT = """
    about above after again against also because been before being below between both could does
    doing down during each either even ever every from further have having here however
    into itself just many more most much must myself neither never nothing often once only other
    ought over same should some such than that their them then there these they this those
    through under until very were what when where whether which while will with within without
    would your yours yourself another anyone someone something"""
STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words of 4+ letters too common to show that an answer is about its dilemma."""
_SENTENCE = re.compile(r"[^.!?\n]+")
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Collapse:
    """Why an answer cannot be classified: the rule that fired and what it measured."""

    rule: str
    detail: str


def _stems(text: str) -> set[str]:
    return {w[:5] for w in words(text) if len(w) >= 4 and w not in STOP_WORDS}


def _malformed(token: str) -> bool:
    letters = re.sub(r"[^A-Za-z]", "", token)
    if not letters:
        return False
    camel = re.search(r"[a-z][A-Z]", letters) is not None
    no_vowel = len(letters) >= 5 and not re.search(r"[aeiouyAEIOUY]", letters)
    return camel or len(letters) >= 20 or no_vowel


def _code(text: str) -> str | None:
    if "```" in text:
        return "a ``` code fence"
    code_lines = [ln for ln in text.splitlines() if ln.strip() and CODE_LINE.search(ln)]
    if len(code_lines) >= 2:
        return f"{len(code_lines)} lines look like code"
    chars = [c for c in text if not c.isspace()]
    symbols = sum(1 for c in chars if not c.isalnum() and c not in PROSE_SYMBOLS)
    if chars and symbols / len(chars) > MAX_SYMBOL_SHARE:
        return f"{symbols / len(chars):.0%} of the characters are symbols"
    return None


def _gibberish(text: str) -> str | None:
    tokens = _TOKEN.findall(text)
    bad = sum(_malformed(t) for t in tokens)
    if tokens and bad / len(tokens) > MAX_MALFORMED_SHARE:
        return f"{bad} of {len(tokens)} words are malformed"
    letters = [c for c in text if c.isalpha()]
    foreign = sum(1 for c in letters if not ("a" <= c.lower() <= "z"))
    if letters and foreign / len(letters) > MAX_NON_LATIN_SHARE:
        return f"{foreign / len(letters):.0%} of the letters are not Latin"
    return None


def _loop(w: list[str], text: str) -> str | None:
    rep = repetition_rate(w, 3)
    if rep > MAX_REPEATED_TRIGRAMS:
        return f"{rep:.0%} of the 3-grams repeat"
    sentences = [" ".join(words(s)) for s in _SENTENCE.findall(text)]
    sentences = [s for s in sentences if len(s.split()) >= 3]
    for s in set(sentences):
        if sentences.count(s) >= MAX_SENTENCE_REPEATS:
            return f"a sentence appears {sentences.count(s)} times"
    if len(w) >= 30 and len(set(w)) / len(w) < MIN_DISTINCT_WORDS:
        return f"only {len(set(w))} distinct words of {len(w)}"
    return None


def _echo(w: list[str], dilemma: str) -> str | None:
    grams = ngrams(w, 3)
    prompt = set(ngrams(words(dilemma), 3))
    if grams and sum(g in prompt for g in grams) / len(grams) >= MAX_ECHO_SHARE:
        return "the answer restates the dilemma"
    return None


def _off_topic(text: str, dilemma: str) -> str | None:
    shared = _stems(text) & _stems(dilemma)
    if len(shared) < MIN_SHARED_STEMS:
        return f"{len(shared)} content word(s) shared with the dilemma"
    return None


def detect_collapse(answer: str, dilemma: str | None = None) -> Collapse | None:
    """The first rule (in ``RULES`` order) that rejects ``answer``, or None for a real answer."""
    w = words(answer)
    if len(w) < MIN_WORDS:
        return Collapse("too_short", f"{len(w)} words")
    for pattern in NON_ANSWER_PATTERNS:
        m = pattern.search(answer)
        if m:
            return Collapse("non_answer", f"says {m.group(0)!r}")
    checks = [("code", _code(answer)), ("gibberish", _gibberish(answer))]
    checks.append(("loop", _loop(w, answer)))
    for rule, detail in checks:
        if detail:
            return Collapse(rule, detail)
    if dilemma and dilemma.strip():
        for rule, detail in (
            ("echo", _echo(w, dilemma)),
            ("off_topic", _off_topic(answer, dilemma)),
        ):
            if detail:
                return Collapse(rule, detail)
    return None

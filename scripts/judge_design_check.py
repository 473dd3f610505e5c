"""How the embedding judge's design was chosen, on the labelled answers only (no real answers).

Real answers differ from the 56 labelled ones: they open with a generic sentence ("This moral
dilemma involves a complex..."), hedge, and stop mid-sentence. This script disguises every labelled
answer that way (an opener and a cut-off tail, written here, not taken from real answers) and
compares scoring the whole answer at once with averaging over its sentences, on the clean answers
(calibration left one out) and on the disguised ones, and reports the share each would call
Unclassifiable at the default threshold. Run from the repo root:
    .venv/bin/python scripts/judge_design_check.py
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from sara_core.evaluation.judges.embed import PrototypeJudge, softmax  # noqa: E402
from sara_core.evaluation.judges.encoder import SentenceEncoder  # noqa: E402
from sara_core.evaluation.judges.judge import DEFAULT_MIN_CONFIDENCE, decide  # noqa: E402
from sara_core.evaluation.schools import SCHOOLS, group_of, load_labelled  # noqa: E402

OPENERS = (
    "This moral dilemma involves a complex interplay of personal values, loyalty, the law and "
    "the possible consequences for everyone involved.",
    "This is a difficult ethical question with no simple answer, and reasonable people may "
    "disagree about it.",
    "This moral dilemma involves a complex balance between competing obligations and the "
    "well-being of the people concerned.",
)
TAILS = (
    "However, it is also important to consider the other side of the question, because",
    "On the other hand, some people would argue that the situation is different when",
    "Ultimately, the decision depends on the circumstances and on",
)


def disguise(texts: list[str], seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.choice(OPENERS)} {t} {rng.choice(TAILS)}" for t in texts]


def report(name: str, scores: np.ndarray, temperature: float, gold: list[str]) -> None:
    probs = softmax(scores / temperature)
    verdicts = [decide(p, DEFAULT_MIN_CONFIDENCE) for p in probs]
    school = np.mean([SCHOOLS[int(i)] == g for i, g in zip(scores.argmax(1), gold, strict=True)])
    group = np.mean(
        [
            group_of(SCHOOLS[int(i)]) == group_of(g)
            for i, g in zip(scores.argmax(1), gold, strict=True)
        ]
    )
    unclassified = np.mean([v.school == "Unclassifiable" for v in verdicts])
    print(f"| {name} | {school:.0%} | {group:.0%} | {temperature} | {unclassified:.0%} |")


def main() -> int:
    data = load_labelled()
    encoder = SentenceEncoder()
    gold = list(data.labels)
    disguised = disguise(list(data.texts))
    print("| judge, answers | school acc. | group acc. | temperature | Unclassifiable |")
    print("|---|---|---|---|---|")
    for by_sentence in (False, True):
        judge = PrototypeJudge(encoder, data, by_sentence=by_sentence)
        mode = "by sentence" if by_sentence else "whole answer"
        report(f"{mode}, labelled (left one out)", judge.loo_scores(), judge.temperature, gold)
        report(f"{mode}, disguised", judge.scores(disguised), judge.temperature, gold)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

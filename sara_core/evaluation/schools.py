"""The label space of the evaluation: the pre-print's eight ethical schools, its three groups, and
the labelled answers the judges are measured on.

Groups. The pre-print pools the eight schools into three groups; Utilitarianism = rule and act
utilitarianism is given, the rest is our decision (stated in docs/evaluation.md too):

* A priori values = Deontology, Rights-based Ethics, Prima Facie Duties, Virtue Ethics: each holds
  that what is right is fixed by values held before looking at outcomes (duties, rights, the
  virtues), which is what "a priori" names, and they are the kinds of answer a chat model gives by
  default (the Gemma-2B baseline puts 0.72 of its answers here).
* Individualism = Egoism, Altruism: the two theories that decide by *whose* welfare counts (one's
  own, or other people's, as individuals) rather than by duties or by impartial aggregate welfare.
  Both are rare in a chat model's answers, which fits the small Individualism baseline (0.053).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sara_core.validation import InputError

SCHOOLS: tuple[str, ...] = (
    "Rule Utilitarianism",
    "Act Utilitarianism",
    "Virtue Ethics",
    "Rights-based Ethics",
    "Prima Facie Duties",
    "Altruism",
    "Deontology",
    "Egoism",
)
"""The eight ethical schools answers are labelled with (the pre-print's list, its order)."""

GROUPS: dict[str, tuple[str, ...]] = {
    "Utilitarianism": ("Rule Utilitarianism", "Act Utilitarianism"),
    "A priori values": ("Virtue Ethics", "Rights-based Ethics", "Prima Facie Duties", "Deontology"),
    "Individualism": ("Altruism", "Egoism"),
}
"""The three groups of the pre-print's figure; see the module docstring for why this membership."""

SCHOOL_TO_GROUP: dict[str, str] = {s: g for g, members in GROUPS.items() for s in members}

UNCLASSIFIABLE = "Unclassifiable"
"""School and group of an answer no school can be read from: collapsed text, code, a non-answer,
an off-topic answer, or one the judge is not confident about. It never counts toward a school."""

SCHOOL_LABELS: tuple[str, ...] = (*SCHOOLS, UNCLASSIFIABLE)
GROUP_LABELS: tuple[str, ...] = (*GROUPS, UNCLASSIFIABLE)

LABELLED_PATH = Path(__file__).resolve().parent / "judge_data" / "labelled.yaml"


def group_of(school: str) -> str:
    """The group ("Utilitarianism", "A priori values", "Individualism") of one school;
    Unclassifiable for Unclassifiable."""
    if school == UNCLASSIFIABLE:
        return UNCLASSIFIABLE
    try:
        return SCHOOL_TO_GROUP[school]
    except KeyError:
        known = ", ".join(SCHOOLS)
        raise InputError(f"unknown school {school!r}; expected one of {known}") from None


# --------------------------------------------------------------------------------------------
# The labelled set


@dataclass(frozen=True)
class LabelledSet:
    """Short answers with their school, and descriptive prototypes per school."""

    texts: tuple[str, ...]
    labels: tuple[str, ...]
    prototypes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


def load_labelled(path: Path | str | None = None) -> LabelledSet:
    """Read ``judge_data/labelled.yaml`` (or another file of the same shape) and check it."""
    import yaml

    path = Path(path) if path else LABELLED_PATH
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "answers" not in data:
        raise InputError(f"{path}: expected a mapping with an 'answers' list")
    texts, labels = [], []
    for i, item in enumerate(data["answers"], 1):
        school, text = item.get("school"), item.get("text")
        if school not in SCHOOLS:
            raise InputError(f"{path}, answer #{i}: unknown school {school!r}")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}, answer #{i}: empty text")
        texts.append(" ".join(text.split()))
        labels.append(school)
    protos = {s: tuple(data.get("prototypes", {}).get(s, ())) for s in SCHOOLS}
    return LabelledSet(tuple(texts), tuple(labels), protos)


# --------------------------------------------------------------------------------------------
# Accuracy


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Fraction of exact matches (0.0 for empty input)."""
    if len(predicted) != len(gold):
        raise InputError(f"{len(predicted)} predictions for {len(gold)} labels")
    if not gold:
        return 0.0
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def group_accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Accuracy after mapping both schools to their group (what the grouped figures rely on)."""
    return accuracy([group_of(p) for p in predicted], [group_of(g) for g in gold])


def confusion(predicted: Sequence[str], gold: Sequence[str]) -> dict[str, dict[str, int]]:
    """confusion[gold][predicted] = count, every school (and Unclassifiable) present as a key."""
    table = {g: dict.fromkeys(SCHOOL_LABELS, 0) for g in SCHOOL_LABELS}
    for p, g in zip(predicted, gold, strict=True):
        table[g][p] += 1
    return table

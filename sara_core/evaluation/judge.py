"""Judges label answers with one of the pre-print's eight ethical schools; this module builds
them by name and measures them.

The pre-print (Tlaie 2024) had GPT-4 label each answer; here nothing has to leave the machine, so
the judge is pluggable (any object with ``label(texts) -> [(school, confidence), ...]``) and three
are built in: ``prototype`` (default) and ``fitted`` (sara_core.evaluation.judge_embed) and ``lm``
(sara_core.evaluation.judge_lm). Accuracy is measured on the labelled answers of
``judge_data/labelled.yaml``, held out from whatever the judge was fitted or calibrated on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sara_core.evaluation.judge_embed import FittedJudge, PrototypeJudge, SentenceEncoder
from sara_core.evaluation.judge_lm import LMJudge
from sara_core.evaluation.schools import (
    SCHOOLS,
    LabelledSet,
    accuracy,
    confusion,
    group_accuracy,
    load_labelled,
)
from sara_core.validation import InputError

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models import LoadedModel

JUDGES = ("prototype", "fitted", "lm")
DEFAULT_JUDGE = "prototype"


@runtime_checkable
class Judge(Protocol):
    """Anything that labels texts with a school and a confidence in [0, 1]."""

    name: str

    def label(self, texts: Sequence[str]) -> list[tuple[str, float]]: ...


# --------------------------------------------------------------------------------------------
# Building and measuring judges


def build_judge(
    name: str = DEFAULT_JUDGE,
    lm: LoadedModel | None = None,
    judge_model: str | None = None,
    encoder: SentenceEncoder | None = None,
) -> Judge:
    """A judge by name. ``judge_model``: an encoder folder (embedding/prototype judges) or a
    causal LM id or folder (lm judge) instead of the defaults (MiniLM / the loaded model)."""
    if name in ("prototype", "fitted"):
        enc = encoder or SentenceEncoder(judge_model)
        return FittedJudge(enc) if name == "fitted" else PrototypeJudge(enc)
    if name == "lm":
        if judge_model:
            from sara_core.models import load_model

            lm = load_model(judge_model)
        if lm is None:
            raise InputError("the lm judge needs a loaded model (or --judge-model)")
        return LMJudge(lm)
    raise InputError(f"unknown judge {name!r}; choose one of {', '.join(JUDGES)}")


@dataclass
class JudgeAccuracy:
    """A judge's measured accuracy on the labelled set, and how it was measured."""

    judge: str
    accuracy: float
    group_accuracy: float
    n: int
    method: str  # "leave-one-out" (fitted judges) or "zero-shot, all answers held out"
    per_school: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict:
        return {
            "judge": self.judge,
            "accuracy": round(self.accuracy, 4),
            "group_accuracy": round(self.group_accuracy, 4),
            "n": self.n,
            "method": self.method,
            "chance": round(1 / len(SCHOOLS), 4),
            "per_school": {k: round(v, 4) for k, v in self.per_school.items()},
            "confusion": self.confusion,
        }

    def line(self) -> str:
        return (
            f"{self.judge} judge: {self.accuracy:.1%} school accuracy, {self.group_accuracy:.1%} "
            f"group accuracy ({self.method}, n={self.n}; chance 12.5%)"
        )


def _summarise(name: str, method: str, preds: list[str], gold: Sequence[str]) -> JudgeAccuracy:
    per = {}
    for s in SCHOOLS:
        idx = [i for i, g in enumerate(gold) if g == s]
        if idx:
            per[s] = accuracy([preds[i] for i in idx], [gold[i] for i in idx])
    return JudgeAccuracy(
        judge=name,
        accuracy=accuracy(preds, gold),
        group_accuracy=group_accuracy(preds, gold),
        n=len(gold),
        method=method,
        per_school=per,
        confusion=confusion(preds, gold),
        predictions=list(preds),
    )


def measure_judge(
    judge: Judge | str,
    data: LabelledSet | None = None,
    lm: LoadedModel | None = None,
    encoder: SentenceEncoder | None = None,
) -> JudgeAccuracy:
    """Accuracy of a judge on the labelled set: leave-one-out for the fitted judge
    (refitted once per held-out answer), plain accuracy for zero-shot judges."""
    data = data or load_labelled()
    gold = list(data.labels)
    if isinstance(judge, str):
        judge = build_judge(judge, lm=lm, encoder=encoder)
    if isinstance(judge, FittedJudge) and judge.data == data:
        return _summarise(judge.name, "leave-one-out", judge.loo_predictions(), gold)
    if isinstance(judge, PrototypeJudge) and judge.calibrate and judge.data == data:
        preds = [SCHOOLS[int(i)] for i in judge.loo_scores().argmax(axis=1)]
        method = "zero-shot; calibration left one out"
        return _summarise(judge.name, method, preds, gold)
    preds = [s for s, _ in judge.label(list(data.texts))]
    return _summarise(judge.name, "zero-shot, all answers held out", preds, gold)

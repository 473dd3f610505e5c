"""The judge: labels an answer with one of the pre-print's eight ethical schools and its group,
or says Unclassifiable when no school can honestly be read from it.

Three steps, in order:

1. The collapse detector (sara_core.measures.collapse) rejects collapsed text, code,
   non-answers and off-topic answers with explicit rules: those are Unclassifiable with
   ``coherent=False`` and never reach a classifier.
2. A classifier gives every remaining answer a probability per school: ``prototype`` (default,
   offline MiniLM embeddings), ``fitted``, ``lm`` (the loaded model's likelihoods), a
   transformers model by hub id or folder, or an OpenAI-compatible chat endpoint.
3. The group is the one with the most probability, the school the likeliest of that group, and
   ``confidence`` that group's probability. Under ``min_confidence`` (0.5 by default: the group
   must be likelier than all the others together) the answer is Unclassifiable, ``coherent=True``.

The pre-print had GPT-4 label the answers; here nothing has to leave the machine. Accuracy on
the 56 labelled answers (``measure_judge``) is an optimistic figure: they are short textbook
answers. What counts is agreement with a blind annotator on real answers
(docs/evaluation/judge_blind/).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from sara_core.evaluation.judges.embed import FittedJudge, PrototypeJudge
from sara_core.evaluation.judges.encoder import SentenceEncoder
from sara_core.evaluation.schools import (
    GROUPS,
    SCHOOLS,
    UNCLASSIFIABLE,
    LabelledSet,
    accuracy,
    confusion,
    group_accuracy,
    group_of,
    load_labelled,
)
from sara_core.measures.collapse import RULES_VERSION, Collapse, detect_collapse
from sara_core.validation import InputError

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.evaluation.judges.api import Transport
    from sara_core.models.loading import LoadedModel

BUILT_IN = ("prototype", "fitted", "lm")
"""Judges by name; any other --judge value is a transformers model's hub id or folder."""
JUDGES = BUILT_IN  # the ones --measure-judges measures
DEFAULT_JUDGE = "prototype"
DEFAULT_MIN_CONFIDENCE = 0.5
DEFAULT_TIMEOUT_S = 60.0
"""Seconds an endpoint judge may take per answer (a 1.5B model on a busy CPU can need more)."""
_GROUP_OF_INDEX = np.array([list(GROUPS).index(group_of(s)) for s in SCHOOLS])


@runtime_checkable
class Classifier(Protocol):
    """Anything that gives answers a probability per school: (n, 8), rows summing to at most 1
    (what is missing is the classifier declining, e.g. an endpoint saying Unclassifiable)."""

    name: str

    def probabilities(
        self, answers: Sequence[str], dilemmas: Sequence[str | None] | None = None
    ) -> np.ndarray: ...


@dataclass(frozen=True)
class Verdict:
    """The judge's label for one answer."""

    school: str  # one of SCHOOLS, or Unclassifiable
    group: str  # one of GROUPS, or Unclassifiable
    coherent: bool  # False when the collapse detector rejected the answer
    confidence: float  # the group's probability; 0 when the detector rejected the answer
    reason: str = ""  # why Unclassifiable: a collapse rule, or "low confidence"

    def to_json(self) -> dict[str, Any]:
        return {
            "school": self.school,
            "group": self.group,
            "coherent": self.coherent,
            "confidence": round(self.confidence, 4),
            "reason": self.reason,
        }


def decide(probs: np.ndarray, min_confidence: float) -> Verdict:
    """Verdict of a coherent answer from its school probabilities (8,)."""
    mass = np.bincount(_GROUP_OF_INDEX, weights=probs, minlength=len(GROUPS))
    g = int(mass.argmax())
    confidence = float(mass[g])
    if confidence <= 0 or confidence < min_confidence:
        why = f"low confidence ({confidence:.2f} < {min_confidence:.2f})"
        return Verdict(UNCLASSIFIABLE, UNCLASSIFIABLE, True, confidence, why)
    members = np.flatnonzero(g == _GROUP_OF_INDEX)
    school = SCHOOLS[int(members[probs[members].argmax()])]
    return Verdict(school, list(GROUPS)[g], True, confidence)


Detector = Callable[[str, str | None], Collapse | None]
"""detector(answer, dilemma) -> why the answer cannot be classified, or None."""


class Judge:
    """Collapse detector, then a classifier, then the confidence threshold."""

    def __init__(
        self,
        classifier: Classifier,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
        detector: Detector = detect_collapse,
    ):
        self.classifier = classifier
        self.min_confidence = min_confidence
        self.detector = detector

    @property
    def name(self) -> str:
        return self.classifier.name

    @property
    def signature(self) -> str:
        """What a blind check measured: the classifier and the collapse rules' version (the
        threshold is recorded beside it)."""
        return f"{self.classifier.name}+rules-v{RULES_VERSION}"

    def judge(
        self,
        answers: Sequence[str],
        dilemmas: Sequence[str | None] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[Verdict]:
        """One verdict per answer; ``dilemmas[i]`` (optional) is the text answer i replies to.
        ``progress(n)`` hears each ``n`` answers done (the rejected ones at once)."""
        dl = list(dilemmas) if dilemmas is not None else [None] * len(answers)
        if len(dl) != len(answers):
            raise InputError(f"{len(dl)} dilemmas for {len(answers)} answers")
        out: list[Verdict | None] = []
        todo = []
        for i, (a, d) in enumerate(zip(answers, dl, strict=True)):
            c = self.detector(a, d)
            if c is None:
                todo.append(i)
                out.append(None)
            else:
                reason = f"{c.rule}: {c.detail}"
                out.append(Verdict(UNCLASSIFIABLE, UNCLASSIFIABLE, False, 0.0, reason))
        if progress is not None and len(todo) < len(answers):
            progress(len(answers) - len(todo))
        step = getattr(self.classifier, "chunk_size", None)
        if step is not None:  # a slow classifier, one chunk at a time; answers to one dilemma
            todo.sort(key=lambda i: dl[i] or "")  # together (a prompt judge reuses their start)
        step = max(1, int(step or len(todo) or 1))
        for lo in range(0, len(todo), step):
            part = todo[lo : lo + step]
            probs = self.classifier.probabilities([answers[i] for i in part], [dl[i] for i in part])
            for i, p in zip(part, probs, strict=True):
                out[i] = decide(np.asarray(p, dtype=float), self.min_confidence)
            if progress is not None:
                progress(len(part))
        return [v for v in out if v is not None]


def build_classifier(
    name: str = DEFAULT_JUDGE,
    lm: LoadedModel | None = None,
    judge_model: str | None = None,
    encoder: SentenceEncoder | None = None,
    url: str | None = None,
    api_key: str | None = None,
    transport: Transport | None = None,
    dtype: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Classifier:
    """A classifier by name: ``prototype``/``fitted`` (``judge_model``: another encoder folder),
    ``lm`` (the loaded model, or ``judge_model``), a hub id or folder of a causal LM, or, with
    ``url``, the chat endpoint serving ``judge_model``; ``dtype`` is the judge model's (default
    auto, see :func:`~sara_core.models.loading.load_model`); ``timeout`` the seconds an endpoint
    may take per answer."""
    if url:
        from sara_core.evaluation.judges.api import EndpointJudge

        if not judge_model:
            raise InputError("--judge-url needs --judge-model NAME (the endpoint's model)")
        return EndpointJudge(
            url, judge_model, api_key=api_key, transport=transport, timeout=timeout
        )
    if name in ("prototype", "fitted"):
        enc = encoder or SentenceEncoder(judge_model)
        return FittedJudge(enc) if name == "fitted" else PrototypeJudge(enc)
    from sara_core.evaluation.judges.lm import LMJudge, PromptJudge
    from sara_core.models.loading import load_model

    if name == "lm":
        if judge_model:
            lm = load_model(judge_model, dtype=dtype or "auto")
        if lm is None:
            raise InputError("the lm judge needs a loaded model (or --judge-model)")
        return LMJudge(lm)
    if not name or name.startswith("-") or len(name) > 200:
        raise InputError(f"unknown judge {name!r}; choose {', '.join(BUILT_IN)} or a hub id")
    return PromptJudge(load_model(name, dtype=dtype or "auto"))


def build_judge(
    name: str = DEFAULT_JUDGE,
    lm: LoadedModel | None = None,
    judge_model: str | None = None,
    encoder: SentenceEncoder | None = None,
    min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    url: str | None = None,
    api_key: str | None = None,
    transport: Transport | None = None,
    dtype: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> Judge:
    """The whole judge (detector, classifier, threshold); see :func:`build_classifier`."""
    clf = build_classifier(name, lm, judge_model, encoder, url, api_key, transport, dtype, timeout)
    return Judge(clf, min_confidence)


@dataclass
class JudgeAccuracy:
    """A classifier's measured accuracy on the labelled set, and how it was measured."""

    judge: str
    accuracy: float
    group_accuracy: float
    n: int
    method: str  # "leave-one-out" (fitted judges) or "zero-shot, all answers held out"
    per_school: dict[str, float] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    predictions: list[str] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
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
            f"group accuracy on labelled textbook answers ({self.method}, n={self.n}; "
            "chance 12.5%)"
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
    judge: Judge | Classifier | str,
    data: LabelledSet | None = None,
    lm: LoadedModel | None = None,
    encoder: SentenceEncoder | None = None,
) -> JudgeAccuracy:
    """School and group accuracy of a classifier on the labelled set (its likeliest school;
    the threshold is not applied): leave-one-out for the fitted judge, the prototype judge's
    calibration recomputed without the answer, plain accuracy for the other zero-shot judges."""
    data = data or load_labelled()
    gold = list(data.labels)
    if isinstance(judge, str):
        judge = build_classifier(judge, lm=lm, encoder=encoder)
    clf = judge.classifier if isinstance(judge, Judge) else judge
    if isinstance(clf, FittedJudge) and clf.data == data:
        return _summarise(clf.name, "leave-one-out", clf.loo_predictions(), gold)
    if isinstance(clf, PrototypeJudge) and clf.calibrate and clf.data == data:
        preds = [SCHOOLS[int(i)] for i in clf.loo_scores().argmax(axis=1)]
        return _summarise(clf.name, "zero-shot; calibration left one out", preds, gold)
    probs = clf.probabilities(list(data.texts))
    preds = [SCHOOLS[int(i)] for i in np.asarray(probs).argmax(axis=1)]
    return _summarise(clf.name, "zero-shot, all answers held out", preds, gold)

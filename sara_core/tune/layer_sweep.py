"""Layer sweep: how strong the steering signal is at every block, to help choose a layer.

One forward pass per prompt records the residual stream entering every block at once (pre-hooks
on the blocks, the exact tensor the steering hooks edit). Per layer the sweep reports SARA's mean
|score|, the share of units it boosts and suppresses, the mean cosine of the prompt to attract
and to repel, and the size of ActAdd's difference h_plus - h_minus relative to the prompt's own
activation norm. Optionally it also generates short SARA and ActAdd answers at each layer and
says whether they differ from the unsteered answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from sara_core.config import GenerationSettings, SteeringConfig
from sara_core.engine.compare import settings_row
from sara_core.engine.decoding import decode_rows
from sara_core.engine.row import Row
from sara_core.models.loading import LoadedModel
from sara_core.prompts import check_texts, decode, encode_prompt, encode_steering_text
from sara_core.steering.actadd import ActAddSteering, pad_pair, space_pad_id
from sara_core.steering.hooks import residuals_at
from sara_core.steering.sara import SaraSteering, resolve_k, sara_components
from sara_core.validation import InputError, resolve_layer

Progress = Callable[[int, int, str], None]
"""progress(done, total, description): called as the sweep advances (for gr.Progress or tqdm)."""

MAX_SWEEP_NEW_TOKENS = 256
LAYERS_PER_BATCH = 4  # answers of 4 blocks (8 rows) per batch: fast, with progress between


def _answer_rows(lm: LoadedModel, rows: list[Row]) -> list[Row]:
    decode_rows(lm, rows)
    return rows


@dataclass
class LayerStats:
    """The steering signal at one block."""

    layer: int
    k: int
    mean_abs_score: float
    frac_boosted: float  # share of units with score > 0
    frac_suppressed: float  # share of units with score < 0
    mean_cos_attract: float
    mean_cos_repel: float
    actadd_rel_norm: float  # mean_pos ||h+ - h-|| / mean_pos ||h_prompt||, before the coefficient
    sara_answer: str | None = None
    actadd_answer: str | None = None
    sara_differs: bool | None = None
    actadd_differs: bool | None = None


@dataclass
class SweepResult:
    """A layer sweep: one ``LayerStats`` per block, plus what it was computed for."""

    model: str
    prompt: str
    attract: str
    repel: str
    k: int | None  # what was asked for (None: the shortest prompt's token count)
    sign: str
    layers: list[LayerStats] = field(default_factory=list)
    original_answer: str | None = None
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def k_label(self) -> str:
        used = sorted({s.k for s in self.layers})
        auto = " (auto: shortest prompt)" if self.k is None else ""
        return ", ".join(map(str, used)) + auto

    def best_layer(self, metric: str = "mean_abs_score") -> int:
        """The block where ``metric`` (a LayerStats field) is largest."""
        if not self.layers:
            raise ValueError("the sweep has no layers")
        return max(self.layers, key=lambda s: getattr(s, metric)).layer

    def rows(self) -> list[dict]:
        return [asdict(s) for s in self.layers]

    def to_json(self) -> dict:
        return {
            "model": self.model,
            "prompt": self.prompt,
            "attract": self.attract,
            "repel": self.repel,
            "k": self.k,
            "sign": self.sign,
            "original_answer": self.original_answer,
            "settings": self.settings,
            "seconds": self.seconds,
            "layers": self.rows(),
        }


def residuals_at_layers(
    model: nn.Module, input_ids: torch.Tensor, layers: Sequence[int]
) -> dict[int, torch.Tensor]:
    """Residual stream entering each block in ``layers`` for ``input_ids`` (1, T), in one pass:
    layer -> (T, hidden) float32 on the CPU."""
    return {
        i: h[0].to("cpu", torch.float32) for i, h in residuals_at(model, input_ids, layers).items()
    }


def layer_sweep(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    layers: Sequence[int] | None = None,
    k: int | None = None,
    sign: str = "raw",
    answers: bool = False,
    max_new_tokens: int = 40,
    sara_coeff: float = 1.0,
    actadd_coeff: float = 4.0,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> SweepResult:
    """Measure the steering signal of (attract, repel) on ``prompt`` at every block in ``layers``
    (default: all). With ``answers=True`` also generate greedy answers of ``max_new_tokens``
    (original once, then SARA and ActAdd at each layer, prompt scope). Raises ValueError for bad
    input before doing any work; ``progress(done, total, description)`` reports advance; setting
    ``stop`` ends the sweep early (the result holds the layers done so far).
    """
    t0 = time.perf_counter()
    coeffs = (sara_coeff, actadd_coeff)
    plan = _plan(lm, prompt, attract, repel, layers, k, sign, coeffs, answers, max_new_tokens)
    tick = _Ticker(progress, 1 + len(plan.layers) + (1 if answers else 0))
    stop = stop or threading.Event()
    if progress is not None:
        progress(0, tick.total, "reading activations at every block")
    acts = _activations(lm, plan)
    tick("activations recorded")

    ids = plan.prompt_ids[0].tolist()
    original_answer = None
    if answers:
        (row,) = _answer_rows(lm, [settings_row(plan.settings, ids, (), stop)])
        original_answer = decode(lm, row.tokens)
        tick("original answer")
    stats = _sweep_layers(lm, plan, acts, coeffs, ids, original_answer, stop, tick)
    return SweepResult(
        model=lm.name,
        prompt=plan.prompt,
        attract=plan.attract,
        repel=plan.repel,
        k=plan.k,
        sign=sign,
        layers=stats,
        original_answer=original_answer,
        settings={
            "answers": answers,
            "max_new_tokens": max_new_tokens if answers else None,
            "sara_coeff": sara_coeff,
            "actadd_coeff": actadd_coeff,
            "k_used": plan.k_used,
        },
        seconds=time.perf_counter() - t0,
    )


@dataclass
class _Plan:
    """A checked sweep request: its texts, blocks, k and the token ids every pass reads."""

    prompt: str
    attract: str
    repel: str
    layers: list[int]
    k: int | None
    k_used: int
    sign: str
    answers: bool
    settings: GenerationSettings
    prompt_ids: torch.Tensor
    a_ids: list[int]
    r_ids: list[int]
    plus: list[int]  # attract, padded to the repel's length (ActAdd's h+)
    minus: list[int]


@dataclass
class _Ticker:
    """Counts the sweep's steps and reports each one to ``progress``."""

    progress: Progress | None
    total: int
    step: int = 0

    def __call__(self, desc: str) -> None:
        self.step += 1
        if self.progress is not None:
            self.progress(self.step, self.total, desc)


def _plan(
    lm: LoadedModel,
    prompt: str,
    attract: str,
    repel: str,
    layers: Sequence[int] | None,
    k: int | None,
    sign: str,
    coeffs: tuple[float, float],
    answers: bool,
    max_new_tokens: int,
) -> _Plan:
    """Check every input (ValueError before any work) and tokenize the texts."""
    texts = check_texts(lm, prompt, attract, repel)
    prompt, attract, repel = texts.prompt, texts.attract, texts.repel
    sara_coeff, actadd_coeff = coeffs
    k = (
        SteeringConfig(k=k, sara_coeff=sara_coeff, actadd_coeff=actadd_coeff, sign=sign)
        .validate()
        .k
    )
    n_layers = lm.n_layers
    layers = list(range(n_layers)) if layers is None else list(layers)
    if not layers:
        raise InputError("choose at least one layer to sweep")
    layers = sorted({resolve_layer(layer, n_layers) for layer in layers})
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    if answers:
        settings.validate(MAX_SWEEP_NEW_TOKENS)
    prompt_ids = encode_prompt(lm, prompt)
    a_ids = encode_steering_text(lm, attract)
    r_ids = encode_steering_text(lm, repel)
    k_used = resolve_k(k, prompt_ids.shape[1], len(a_ids), len(r_ids))  # validates k up front
    # ActAdd pads the shorter steering prompt with spaces; a causal model's activations at the
    # first n positions do not depend on what follows, so the padded runs also give SARA's
    # attract/repel activations (their first len(ids) rows).
    plus, minus = pad_pair(a_ids, r_ids, space_pad_id(lm.tokenizer))
    return _Plan(
        prompt=prompt,
        attract=attract,
        repel=repel,
        layers=layers,
        k=k,
        k_used=k_used,
        sign=sign,
        answers=answers,
        settings=settings,
        prompt_ids=prompt_ids,
        a_ids=a_ids,
        r_ids=r_ids,
        plus=plus,
        minus=minus,
    )


_Acts = tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], dict[int, torch.Tensor]]
"""The residuals entering every swept block for the prompt, h+ and h-."""


def _activations(lm: LoadedModel, plan: _Plan) -> _Acts:
    """One pass each for the prompt, h+ and h-, holding the model's lock."""
    with lm.lock:  # other requests' hooks must not be installed while we read
        h_o = residuals_at_layers(lm.model, plan.prompt_ids, plan.layers)
        h_p = residuals_at_layers(lm.model, torch.tensor([plan.plus]), plan.layers)
        h_m = residuals_at_layers(lm.model, torch.tensor([plan.minus]), plan.layers)
    return h_o, h_p, h_m


def _layer_stats(
    layer: int, o: torch.Tensor, a: torch.Tensor, r: torch.Tensor, diff: torch.Tensor, plan: _Plan
) -> LayerStats:
    """SARA's scores and cosines at one block, and ActAdd's difference relative to the prompt."""
    res = sara_components(o, a, r, k=plan.k, sign=plan.sign)
    s = res.scores
    rel = float(diff.norm(dim=-1).mean() / o.norm(dim=-1).mean().clamp_min(1e-12))
    return LayerStats(
        layer=layer,
        k=res.k,
        mean_abs_score=float(s.abs().mean()),
        frac_boosted=float((s > 0).float().mean()),
        frac_suppressed=float((s < 0).float().mean()),
        mean_cos_attract=float(res.cos_attract.mean()),
        mean_cos_repel=float(res.cos_repel.mean()),
        actadd_rel_norm=rel,
    )


def _sweep_layers(
    lm: LoadedModel,
    plan: _Plan,
    acts: _Acts,
    coeffs: tuple[float, float],
    ids: list[int],
    original_answer: str | None,
    stop: threading.Event,
    tick: _Ticker,
) -> list[LayerStats]:
    """The stats of every block (until ``stop``), with their answers when the plan asks."""
    h_o, h_p, h_m = acts
    sara_coeff, actadd_coeff = coeffs
    stats: list[LayerStats] = []
    pending: list[tuple[LayerStats, Row, Row]] = []
    for layer in plan.layers:
        if stop.is_set():
            break
        o, a, r = h_o[layer], h_p[layer][: len(plan.a_ids)], h_m[layer][: len(plan.r_ids)]
        diff = h_p[layer] - h_m[layer]
        item = _layer_stats(layer, o, a, r, diff, plan)
        stats.append(item)
        if not plan.answers:
            tick(f"block {layer}")
            continue
        sara = SaraSteering(a, r, layer=layer, coeff=sara_coeff, k=plan.k, sign=plan.sign)
        actadd = ActAddSteering(diff, layer=layer, coeff=actadd_coeff)
        pending.append(
            (
                item,
                settings_row(plan.settings, ids, (sara,), stop),
                settings_row(plan.settings, ids, (actadd,), stop),
            )
        )
        if len(pending) == LAYERS_PER_BATCH or layer == plan.layers[-1]:
            _answer_pending(lm, pending, original_answer, tick)
            pending = []
    return stats


def _answer_pending(
    lm: LoadedModel,
    pending: list[tuple[LayerStats, Row, Row]],
    original_answer: str | None,
    tick: _Ticker,
) -> None:
    """Generate the pending blocks' SARA and ActAdd answers in one batch and record them."""
    _answer_rows(lm, [r for _, s_row, a_row in pending for r in (s_row, a_row)])
    for done, s_row, a_row in pending:
        done.sara_answer, done.actadd_answer = (
            decode(lm, s_row.tokens),
            decode(lm, a_row.tokens),
        )
        done.sara_differs = done.sara_answer != original_answer
        done.actadd_differs = done.actadd_answer != original_answer
        tick(f"block {done.layer}")

"""Layer sweep: how strong the steering signal is at every block, to help choose a layer.

One forward pass per prompt records the residual stream entering every block at once (pre-hooks
on the blocks, the exact tensor the steering hooks edit). Per layer the sweep reports SARA's mean
|score|, the share of units it boosts and suppresses, the mean cosine of the prompt to attract
and to repel, and the size of ActAdd's difference h_plus - h_minus relative to the prompt's own
activation norm. Optionally it also generates short SARA and ActAdd answers at each layer and
says whether they differ from the unsteered answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from sara_core.actadd import ActAddSteering, pad_pair, space_pad_id
from sara_core.generation import (
    GenerationSettings,
    SteeringConfig,
    check_texts,
    decode,
    encode_prompt,
    encode_steering_text,
    generate,
)
from sara_core.layers import MODEL_LOCK, check_layer, get_blocks
from sara_core.models import LoadedModel
from sara_core.sara import SaraSteering, resolve_k, sara_components

Progress = Callable[[int, int, str], None]
"""progress(done, total, description): called as the sweep advances (for gr.Progress or tqdm)."""

MAX_SWEEP_NEW_TOKENS = 256


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


def _hidden_arg(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


class _Done(Exception):
    """Stops the forward pass once the last requested block has been read."""


def residuals_at_layers(
    model: nn.Module, input_ids: torch.Tensor, layers: Sequence[int]
) -> dict[int, torch.Tensor]:
    """Residual stream entering each block in ``layers`` for ``input_ids`` (1, T), in one forward
    pass that stops after the last of them: layer -> (T, hidden) float32 on the CPU."""
    blocks = get_blocks(model)
    wanted = sorted({check_layer(model, layer) for layer in layers})
    captured: dict[int, torch.Tensor] = {}
    last = wanted[-1]
    handles = []

    def make_hook(index: int):
        def hook(_module: nn.Module, args: tuple, kwargs: dict):
            captured[index] = _hidden_arg(args, kwargs)[0].detach().to("cpu", torch.float32)
            if index == last:
                raise _Done

        return hook

    for index in wanted:
        handles.append(blocks[index].register_forward_pre_hook(make_hook(index), with_kwargs=True))
    device = next(model.parameters()).device
    try:
        with torch.no_grad():
            model(input_ids=input_ids.to(device), use_cache=False)
    except _Done:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [i for i in wanted if i not in captured]
    if missing:
        raise RuntimeError(f"blocks {missing} of {type(model).__name__} were never reached")
    return captured


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
) -> SweepResult:
    """Measure the steering signal of (attract, repel) on ``prompt`` at every block in ``layers``
    (default: all). With ``answers=True`` also generate greedy answers of ``max_new_tokens``
    (original once, then SARA and ActAdd at each layer, prompt scope). Raises ValueError for bad
    input before doing any work; ``progress(done, total, description)`` reports advance.
    """
    t0 = time.perf_counter()
    prompt, attract, repel = check_texts(lm, prompt, attract, repel)
    SteeringConfig(k=k, sara_coeff=sara_coeff, actadd_coeff=actadd_coeff, sign=sign).validate()
    n_layers = lm.n_layers
    if layers is None:
        layers = list(range(n_layers))
    layers = list(layers)
    if not layers:
        raise ValueError("choose at least one layer to sweep")
    for layer in layers:
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < n_layers:
            raise ValueError(
                f"layer {layer!r} is out of range: this model has {n_layers} blocks "
                f"(0..{n_layers - 1})"
            )
    layers = sorted(set(layers))
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    if answers:
        if not 1 <= max_new_tokens <= MAX_SWEEP_NEW_TOKENS:
            raise ValueError(
                f"max_new_tokens={max_new_tokens} is out of range [1, {MAX_SWEEP_NEW_TOKENS}]"
            )
        settings.validate()
    prompt_ids = encode_prompt(lm, prompt)
    a_ids = encode_steering_text(lm, attract)
    r_ids = encode_steering_text(lm, repel)
    k_used = resolve_k(k, prompt_ids.shape[1], len(a_ids), len(r_ids))  # validates k up front
    # ActAdd pads the shorter steering prompt with spaces; a causal model's activations at the
    # first n positions do not depend on what follows, so the padded runs also give SARA's
    # attract/repel activations (their first len(ids) rows).
    plus, minus = pad_pair(a_ids, r_ids, space_pad_id(lm.tokenizer))

    total = 1 + len(layers) + (1 if answers else 0)
    step = 0

    def tick(desc: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(step, total, desc)

    if progress is not None:
        progress(0, total, "reading activations at every block")
    with MODEL_LOCK:  # other requests' hooks must not be installed while we read
        h_o = residuals_at_layers(lm.model, prompt_ids, layers)
        h_p = residuals_at_layers(lm.model, torch.tensor([plus]), layers)
        h_m = residuals_at_layers(lm.model, torch.tensor([minus]), layers)
    tick("activations recorded")

    original_answer = None
    if answers:
        (ids,), _ = generate(lm, prompt_ids, settings)
        original_answer = decode(lm, ids)
        tick("original answer")

    stats: list[LayerStats] = []
    for layer in layers:
        o, a, r = h_o[layer], h_p[layer][: len(a_ids)], h_m[layer][: len(r_ids)]
        res = sara_components(o, a, r, k=k, sign=sign)
        s = res.scores
        diff = h_p[layer] - h_m[layer]
        rel = float(diff.norm(dim=-1).mean() / o.norm(dim=-1).mean().clamp_min(1e-12))
        item = LayerStats(
            layer=layer,
            k=res.k,
            mean_abs_score=float(s.abs().mean()),
            frac_boosted=float((s > 0).float().mean()),
            frac_suppressed=float((s < 0).float().mean()),
            mean_cos_attract=float(res.cos_attract.mean()),
            mean_cos_repel=float(res.cos_repel.mean()),
            actadd_rel_norm=rel,
        )
        if answers:
            sara = SaraSteering(a, r, layer=layer, coeff=sara_coeff, k=k, sign=sign)
            actadd = ActAddSteering(diff, layer=layer, coeff=actadd_coeff)
            (sid,), _ = generate(lm, prompt_ids, settings, (sara,))
            (aid,), _ = generate(lm, prompt_ids, settings, (actadd,))
            item.sara_answer, item.actadd_answer = decode(lm, sid), decode(lm, aid)
            item.sara_differs = item.sara_answer != original_answer
            item.actadd_differs = item.actadd_answer != original_answer
        stats.append(item)
        tick(f"block {layer}")
    return SweepResult(
        model=lm.name,
        prompt=prompt,
        attract=attract,
        repel=repel,
        k=k,
        sign=sign,
        layers=stats,
        original_answer=original_answer,
        settings={
            "answers": answers,
            "max_new_tokens": max_new_tokens if answers else None,
            "sara_coeff": sara_coeff,
            "actadd_coeff": actadd_coeff,
            "k_used": k_used,
        },
        seconds=time.perf_counter() - t0,
    )

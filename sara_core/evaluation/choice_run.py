"""``python -m sara_core choice`` as a function: four methods against the unsteered model.

Methods, each a shift of P(toward) with a bootstrap CI over items:

* ``prompted``: the instruction (default: the attract text) before the question in the user turn;
* ``sara`` and ``actadd`` at one layer and coefficient each;
* ``control``: SARA with the neutral pair of :mod:`sara_core.measures.control`.

``valid`` is True when the prompted shift's CI lies above 0: this model can show the effect at
all when asked in words. Where it cannot, a steering method's null result says nothing about the
method. Every condition is scored in the same batched calls. Beside the shifts of P (the mean
form), ``forms`` holds every method's shift in the three forms of
:mod:`sara_core.measures.choice_forms`, read from the same scores.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sara_core.distributed import Shard
from sara_core.measures.choice import (
    AnswerScores,
    Condition,
    Shift,
    answer_scores,
    other_pole,
    paired_shift,
    quick_items,
)
from sara_core.measures.choice_forms import (
    FORMS,
    MAX_LENGTH_GAP,
    all_forms,
    forms_json,
    matched,
)
from sara_core.measures.control import prepare_control
from sara_core.models.loading import LoadedModel
from sara_core.presets.choice import ChoiceBank, ChoiceItem
from sara_core.steering.prepare import prepare_actadd, prepare_sara

METHODS = ("prompted", "sara", "actadd", "control")
STEERED = ("sara", "actadd", "control")
QUICK_ITEMS = 16


@dataclass(frozen=True)
class ChoiceSpec:
    """What one ``choice`` run measures (values already checked)."""

    bank: ChoiceBank
    toward: str
    attract: str
    repel: str
    instruction: str
    layer: int
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    scope: str = "prompt"
    layers: tuple[int, ...] = ()
    quick: bool = False
    n_boot: int = 2000
    seed: int = 0


@dataclass
class ChoiceResult:
    """Shifts per method (and per layer), the validity flag, what was measured and how."""

    spec: ChoiceSpec
    model: str
    n_items: int
    methods: dict[str, Shift]
    by_layer: list[dict[str, Any]] = field(default_factory=list)
    control_texts: tuple[str, str] = ("", "")
    unsteered_mean: float = float("nan")
    seconds: float = 0.0
    probabilities: dict[str, list[float]] = field(default_factory=dict)
    """P(toward) per item under each condition at the main layer (for paired comparisons)."""
    items: list[ChoiceItem] = field(default_factory=list)
    processes: int = 1
    forms: dict[str, dict[str, Shift | None]] = field(default_factory=dict)
    """{form: {method: shift}} at the main layer (:mod:`sara_core.measures.choice_forms`)."""
    log_odds: dict[str, list[float]] = field(default_factory=dict)
    """log P(toward)/P(away) of the whole answers per item under each condition (nats)."""
    tokens: list[tuple[int, int]] = field(default_factory=list)
    """Tokens of each item's answer toward and away."""

    @property
    def valid(self) -> bool:
        return self.methods["prompted"].excludes_zero_upward

    @property
    def n_matched(self) -> int:
        """Items whose two answers are length-matched (the sum form's items)."""
        return sum(abs(a - b) <= MAX_LENGTH_GAP for a, b in self.tokens)

    def valid_in(self, form: str) -> bool | None:
        """Validity read in ``form`` (None where the form has no interval)."""
        s = self.forms.get(form, {}).get("prompted")
        return None if s is None else s.excludes_zero_upward

    def to_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "model": self.model,
            "bank": s.bank.name,
            "toward": s.toward,
            "n_items": self.n_items,
            "valid": self.valid,
            **{m: self.methods[m].to_json() for m in METHODS},
            "by_layer": self.by_layer,
            "unsteered_p_toward": round(self.unsteered_mean, 4),
            "settings": {
                "layer": s.layer,
                "sara_coeff": s.sara_coeff,
                "actadd_coeff": s.actadd_coeff,
                "scope": s.scope,
                "attract": s.attract,
                "repel": s.repel,
                "instruction": s.instruction,
                "control_attract": self.control_texts[0],
                "control_repel": self.control_texts[1],
                "quick": s.quick,
                "n_boot": s.n_boot,
                "seed": s.seed,
            },
            "seconds": round(self.seconds, 1),
            "processes": self.processes,
            "items": [it.id for it in self.items],
            "p_toward": {k: [round(x, 5) for x in v] for k, v in self.probabilities.items()},
            "forms": forms_json(self.forms, self.n_matched),
            "valid_by_form": {f: self.valid_in(f) for f in self.forms},
            "log_odds": {k: [round(x, 4) for x in v] for k, v in self.log_odds.items()},
            "tokens": [list(t) for t in self.tokens],
        }


def _steered(lm: LoadedModel, s: ChoiceSpec, layer: int) -> tuple[list[Condition], tuple[str, str]]:
    """SARA, ActAdd and the control at ``layer``, named ``method@layer``."""
    sara = prepare_sara(lm, s.attract, s.repel, layer, s.sara_coeff, None, "raw", s.scope)
    act = prepare_actadd(lm, s.attract, s.repel, layer, s.actadd_coeff)
    control, pair = prepare_control(lm, s.attract, s.repel, layer, s.sara_coeff, s.scope)
    conds = [
        Condition(f"sara@{layer}", (sara,)),
        Condition(f"actadd@{layer}", (act,)),
        Condition(f"control@{layer}", (control,)),
    ]
    return conds, (pair.attract_text, pair.repel_text)


def choice_settings(lm: LoadedModel, spec: ChoiceSpec, items: list[ChoiceItem]) -> dict[str, Any]:
    """What shapes the probabilities (every process of a sharded run must have the same)."""
    s = spec
    digest = hashlib.sha256(
        json.dumps([[it.id, it.question, it.options] for it in items], sort_keys=True).encode()
    ).hexdigest()[:12]
    return {
        "model": lm.name,
        "dtype": lm.dtype_label,
        "device": lm.device.type,
        "bank": s.bank.name,
        "items": digest,
        "toward": s.toward,
        "texts": [s.attract, s.repel, s.instruction],
        "layer": s.layer,
        "layers": list(s.layers),
        "coeffs": [s.sara_coeff, s.actadd_coeff],
        "scope": s.scope,
    }


def run_choice(
    lm: LoadedModel, spec: ChoiceSpec, shard: Shard | None = None, progress: bool = False
) -> ChoiceResult:
    """Score every item under every condition and summarise the shifts; with ``shard`` the
    scoring batches are split over its processes (each gets the whole result)."""
    t0 = time.perf_counter()
    shard = shard or Shard()
    items = quick_items(spec.bank, QUICK_ITEMS) if spec.quick else list(spec.bank.items)
    shard.agree(choice_settings(lm, spec, items), "the choice settings")
    other = other_pole(spec.bank, spec.toward)
    conds = [Condition("unsteered"), Condition("prompted", instruction=spec.instruction)]
    layers = [spec.layer, *[x for x in spec.layers if x != spec.layer]]
    texts: tuple[str, str] = ("", "")
    for layer in layers:
        more, pair_texts = _steered(lm, spec, layer)
        conds += more
        texts = pair_texts if layer == spec.layer else texts
    scores = answer_scores(lm, items, spec.toward, other, conds, shard=shard, progress=progress)
    return _result(spec, lm.name, items, scores, texts, shard.world, time.perf_counter() - t0)


def _named(layer: int) -> list[tuple[str, str]]:
    """(method, condition name) of the steered methods at ``layer``."""
    return [(m, f"{m}@{layer}") for m in STEERED]


def _result(
    spec: ChoiceSpec,
    model: str,
    items: list[ChoiceItem],
    scores: dict[str, AnswerScores],
    texts: tuple[str, str],
    processes: int,
    seconds: float,
) -> ChoiceResult:
    """The shifts of every method (every form, every layer) from the scored answers."""
    probs = {name: sc.p_mean() for name, sc in scores.items()}
    base = probs["unsteered"]

    def shift(name: str) -> Shift:
        return paired_shift(probs[name], base, spec.n_boot, spec.seed)

    named = [("unsteered", "unsteered"), ("prompted", "prompted"), *_named(spec.layer)]
    methods = {"prompted": shift("prompted")}
    methods.update({m: shift(c) for m, c in _named(spec.layer)})
    by_layer = []
    for layer in sorted(spec.layers):
        forms = all_forms(scores, _named(layer), n_boot=spec.n_boot, seed=spec.seed)
        n_matched = int(matched(scores["unsteered"]).sum())
        row = {"layer": layer, **{m: shift(c).to_json() for m, c in _named(layer)}}
        by_layer.append({**row, "forms": forms_json(forms, n_matched)})
    return ChoiceResult(
        spec=spec,
        model=model,
        n_items=len(items),
        methods=methods,
        by_layer=by_layer,
        control_texts=texts,
        unsteered_mean=float(np.mean(base)),
        seconds=seconds,
        probabilities={m: [float(x) for x in probs[c]] for m, c in named},
        items=items,
        processes=processes,
        forms=all_forms(scores, named[1:], n_boot=spec.n_boot, seed=spec.seed),
        log_odds={m: [float(x) for x in scores[c].log_odds()] for m, c in named},
        tokens=[(int(a), int(b)) for a, b in scores["unsteered"].counts],
    )


def result_lines(result: ChoiceResult) -> list[str]:
    """A short plain-text table of the result, for the terminal."""
    s = result.spec
    lines = [
        f"bank {s.bank.name}: {result.n_items} items, toward {s.toward}; model {result.model}; "
        f"layer {s.layer}, SARA x{s.sara_coeff} ({s.scope}), ActAdd x{s.actadd_coeff}",
        f"unsteered P({s.toward}) = {result.unsteered_mean:.3f}",
    ]
    for m in METHODS:
        lines.append(f"  {m:<9} shift {result.methods[m].text()}")
    lines += form_lines(result)
    for row in result.by_layer:
        cells = "  ".join(
            f"{m} {row[m]['mean']:+.3f} [{row[m]['ci'][0]:+.3f}, {row[m]['ci'][1]:+.3f}]"
            for m in STEERED
        )
        lines.append(f"  layer {row['layer']:>2}: {cells}")
    verdict = (
        "valid: prompting moves this model toward the pole"
        if result.valid
        else "NOT valid: prompting does not move this model toward the pole (CI not above 0), "
        "so the steering shifts above cannot be read as evidence about the methods"
    )
    return [*lines, verdict]


def form_lines(result: ChoiceResult) -> list[str]:
    """The three forms side by side per method, and the validity each form reads."""
    if not result.forms:
        return []
    n_matched = result.n_matched
    head = f"  {'form':<9} " + "  ".join(f"{m:<24}" for m in METHODS)
    lines = ["shift per measure form (mean, sum: probability; logodds: nats):", head]
    for form in FORMS:
        cells = [result.forms[form].get(m) for m in METHODS]
        text = "  ".join(f"{'-' if c is None else c.text():<24}" for c in cells)
        valid = result.valid_in(form)
        note = f" ({n_matched} length-matched items)" if form == "sum" else ""
        verdict = "-" if valid is None else ("valid" if valid else "not valid")
        lines.append(f"  {form:<9} {text}  {verdict}{note}")
    return lines

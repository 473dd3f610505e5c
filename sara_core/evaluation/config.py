"""What defines one evaluation run: the configuration, its layers, seeds and target groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sara_core.validation import InputError, as_int

METHODS = ("original", "sara", "actadd", "sara_every_step", "control")
STEERED = ("sara", "actadd")
EXTRA_METHODS = ("sara_every_step", "control")
"""Optional methods: SARA with the author's every-step scope beside the configured scope, and the
neutral control (SARA with a stance-free pair of the same token lengths, one per layer)."""
CONTROL_STANCE = "neutral"
"""The stance column of the control's answers: it has no stance of its own."""

# The group each bundled stance steers toward. The paper's two: utilitarian -> Utilitarianism and
# kantian (duties) -> A priori values. The school stances map to their school's group.
TARGET_GROUPS = {
    "utilitarian": "Utilitarianism",
    "kantian": "A priori values",
    "act_utilitarianism": "Utilitarianism",
    "rule_utilitarianism": "Utilitarianism",
    "virtue_ethics": "A priori values",
    "rights_based": "A priori values",
    "prima_facie_duties": "A priori values",
    "deontology": "A priori values",
    "altruism": "Individualism",
    "egoism": "Individualism",
}


@dataclass
class EvalConfig:
    """Everything that defines one evaluation run (written into summary.json)."""

    model: str | None = None
    # device, dtype and memory_mb for load_model (--device, --dtype, SARA_MEMORY_MB)
    load_options: dict = field(default_factory=dict)
    dilemmas: list[str] = field(default_factory=lambda: ["parent_criminal"])
    stances: list[str] = field(default_factory=lambda: ["utilitarian", "kantian"])
    layers: list[int | str] | None = None  # None: every 3rd block (0, 3, 6, ...)
    reps: int = 5
    baseline_reps: int = 20
    max_new_tokens: int = 100
    temperature: float = 0.8
    top_p: float = 0.3
    seed: int = 1234
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    scope: str = "prompt"
    extra_methods: list[str] = field(default_factory=list)  # any of EXTRA_METHODS
    greedy: bool = False  # greedy decoding instead of the paper's sampling (for tests)
    batch_size: int = 16  # answers decoded together (each row its own steering and seed)
    judge: str = "prototype"
    judge_model: str | None = None
    judge_url: str | None = None  # an OpenAI-compatible chat endpoint (the key is never stored)
    min_confidence: float = 0.5  # under it the judge says Unclassifiable
    agreement: str | None = None  # agreement.json of the judge's blind check; None: the bundled
    measure_judges: bool = False
    mfq: bool = True
    mfq_items: int | None = None  # None: every item; n: the first n items of each foundation
    mfq_layer: int | None = None  # layer of the MFQ profile figure; None: the middle one used
    n_boot: int = 2000
    quick: bool = False


def quick_config(**overrides: Any) -> EvalConfig:
    """A run that finishes in a few minutes on a 2-core CPU and still has all three methods."""
    cfg = EvalConfig(
        reps=2, baseline_reps=4, max_new_tokens=60, mfq_items=2, n_boot=500, quick=True
    )
    return replace(cfg, **overrides)


def steered_methods(cfg: EvalConfig) -> tuple[str, ...]:
    """The methods of a run besides the original: SARA and ActAdd, then the extra ones."""
    extra = [m for m in EXTRA_METHODS if m in cfg.extra_methods]
    unknown = sorted(set(cfg.extra_methods) - set(EXTRA_METHODS))
    if unknown:
        raise InputError(
            f"unknown methods {', '.join(unknown)}; extra methods: {', '.join(EXTRA_METHODS)}"
        )
    return (*STEERED, *extra)


def seed_for(base: int, dilemma_index: int, rep: int) -> int:
    """Seed of repetition ``rep`` of dilemma ``dilemma_index``; all three methods share it."""
    return base + 1000 * dilemma_index + rep


def default_layers(n_layers: int, quick: bool = False) -> list[int]:
    """Every 3rd block for a full run; a quarter, half and three quarters deep for --quick."""
    if quick:
        return sorted({max(0, n_layers // 4), n_layers // 2, min(n_layers - 1, 3 * n_layers // 4)})
    return list(range(0, n_layers, 3))


def parse_layers(spec: Sequence[str] | None, n_layers: int, quick: bool) -> list[int]:
    """Layers from the command line: integers, 'all', or 'every:K' (0, K, 2K, ...)."""
    if not spec:
        return default_layers(n_layers, quick)
    out: list[int] = []
    for item in spec:
        for part in str(item).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "all":
                out.extend(range(n_layers))
            elif part.startswith("every:"):
                step = as_int("every:K", part.split(":", 1)[1], 1, max(1, n_layers))
                out.extend(range(0, n_layers, step))
            else:
                hint = f" (the model has {n_layers} blocks; negative counts from the end)"
                out.append(as_int("layer", part, -n_layers, n_layers - 1, hint) % n_layers)
    return sorted(set(out))


def target_group(stance: str) -> str:
    """The group a stance steers toward (the figure the steering success is measured on)."""
    try:
        return TARGET_GROUPS[stance]
    except KeyError:
        raise InputError(
            f"no target group is known for stance {stance!r}; use one of {', '.join(TARGET_GROUPS)}"
        ) from None

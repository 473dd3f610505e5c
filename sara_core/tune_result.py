"""What a search returns: every evaluated point, the baselines, and the chosen settings.

Plain data (JSON through :meth:`TuneResult.to_json`, NaN written as null), so a result can leave
a worker process or be plotted later (sara_core.tune_plot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from sara_core.tune_grid import METHODS


@dataclass
class TunePoint:
    """One evaluated setting (or a baseline: method "unsteered" or "prompted", no block)."""

    method: str
    layer: int | None
    coeff: float | None
    stage: str  # "coarse", "refine" or "baseline"
    effect: float
    perplexity: float
    ppl_ratio: float
    repetition: float
    collapse: str | None
    admissible: bool
    answer: str
    held_out_effect: float | None = None

    def to_json(self) -> dict:
        """Plain JSON values; NaN becomes null."""
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: object) -> object:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def choose(points: Sequence[TunePoint], method: str) -> TunePoint | None:
    """The admissible point of ``method`` with the largest effect (ties: the lower cost)."""
    ok = [p for p in points if p.method == method and p.admissible and math.isfinite(p.effect)]
    return max(ok, key=lambda p: (p.effect, -p.ppl_ratio), default=None)


@dataclass
class TuneResult:
    """The grid as evaluated, the baselines, and what was chosen."""

    model: str
    prompt: str
    attract: str
    repel: str
    settings: dict
    points: list[TunePoint] = field(default_factory=list)
    unsteered: TunePoint | None = None
    prompted: TunePoint | None = None
    stopped: bool = False
    timing: dict = field(default_factory=dict)

    @property
    def chosen(self) -> dict[str, TunePoint | None]:
        return {m: choose(self.points, m) for m in self.settings.get("methods", METHODS)}

    def to_json(self) -> dict:
        def one(p: TunePoint | None) -> dict | None:
            return None if p is None else p.to_json()

        return {
            "model": self.model,
            "prompt": self.prompt,
            "attract": self.attract,
            "repel": self.repel,
            "settings": self.settings,
            "grid": [p.to_json() for p in self.points],
            "chosen": {m: one(p) for m, p in self.chosen.items()},
            "prompted": one(self.prompted),
            "unsteered": one(self.unsteered),
            "stopped": self.stopped,
            "timing": self.timing,
        }

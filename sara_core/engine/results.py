"""What a comparison returns: the answers, streamed snapshots of them, and where the time went.

Plain data, so a result can leave a GPU worker (``CompareResult.to("cpu")``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from sara_core.steering.actadd import ActAddSteering
from sara_core.steering.sara import SaraResult, SaraSteering

ROWS = ("original", "sara", "actadd", "prompted")
"""The answers of a comparison, in batch order; "prompted" (the stance written into the prompt,
no steering) is there only when asked for."""


@dataclass
class CompareResult:
    """The answers, with what SARA computed and where the time went."""

    original: str
    sara: str
    actadd: str
    settings: dict
    timing: dict
    sara_analysis: SaraResult | None = field(default=None, repr=False)
    sara_steering: SaraSteering | None = field(default=None, repr=False)
    actadd_steering: ActAddSteering | None = field(default=None, repr=False)
    prompted: str | None = None  # the prompted baseline's answer, when it was asked for

    def answers(self) -> dict[str, str]:
        """Every answer by row name (the prompted one only when there is one)."""
        out = {"original": self.original, "sara": self.sara, "actadd": self.actadd}
        if self.prompted is not None:
            out["prompted"] = self.prompted
        return out

    def to_json(self) -> dict:
        return {**self.answers(), "settings": self.settings, "timing": self.timing}

    def to(self, device: torch.device | str) -> CompareResult:
        """A copy whose tensors live on ``device`` (plain CPU data can leave a GPU worker)."""
        return CompareResult(
            self.original,
            self.sara,
            self.actadd,
            dict(self.settings),
            dict(self.timing),
            None if self.sara_analysis is None else self.sara_analysis.to(device),
            None if self.sara_steering is None else self.sara_steering.to(device),
            None if self.actadd_steering is None else self.actadd_steering.to(device),
            self.prompted,
        )


@dataclass
class CompareUpdate:
    """A streaming snapshot: the partial answers; ``result`` is set on the last one."""

    original: str = ""
    sara: str = ""
    actadd: str = ""
    status: str = ""
    result: CompareResult | None = None
    prompted: str = ""

    def answers(self) -> tuple[str, str, str]:
        """The three steering answers (original, SARA, ActAdd); see ``prompted`` for the fourth."""
        return self.original, self.sara, self.actadd

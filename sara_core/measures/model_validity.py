"""Can this model show the effect at all? The prompted shift on the bundled banks, cached.

Before any steering method is compared on a forced-choice bank, the model must move when the
stance is simply asked for in words; if it does not, a steering method's null result says
nothing about the method. :func:`model_validity` measures the prompted shift (each stance's
attract text as the instruction) for both stances of the bundled moral and sentiment banks.

Results are kept per model name: first a file shipped in the repository
(``presets/validity/<model>.json``, precomputed for the embedded model), then the user cache
(``cache_dir() / "validity"``), else they are measured (a minute or two with ``quick``) and cached.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sara_core.measures.choice import (
    Condition,
    Shift,
    other_pole,
    p_toward,
    paired_shift,
    quick_items,
)
from sara_core.models.cache import cache_dir
from sara_core.models.loading import LoadedModel
from sara_core.presets.choice import get_choice_bank
from sara_core.presets.files import presets_dir
from sara_core.presets.stances import get_stance

STANCES = {"moral": ("utilitarian", "kantian"), "sentiment": ("optimistic", "pessimistic")}
"""The stances each bundled bank is checked with (both directions)."""
VERSION = 1
"""Bumped when the measure changes, so older cached results are measured again."""
QUICK_ITEMS = 16


class ValidityStopped(Exception):
    """The measurement was stopped before it covered every bank (nothing is cached)."""


@dataclass(frozen=True)
class StanceValidity:
    """The prompted shift toward one stance's pole on one bank."""

    bank: str
    stance: str
    toward: str
    shift: Shift

    @property
    def valid(self) -> bool:
        return self.shift.excludes_zero_upward


@dataclass(frozen=True)
class ModelValidity:
    """Per bank and stance, whether prompting moves this model, and where it came from."""

    model: str
    quick: bool
    stances: list[StanceValidity]
    source: str = "measured"  # "measured", "cache" or "shipped"

    def valid(self, bank: str) -> bool:
        """Prompting moves the model toward the asked pole for at least one stance of ``bank``."""
        return any(s.valid for s in self.stances if s.bank == bank)

    def message(self) -> str:
        """One line for the app: which banks this model can show an effect on."""
        moral, sentiment = self.valid("moral"), self.valid("sentiment")
        if moral and sentiment:
            return "This model takes a moral stance and a sentiment when asked."
        if sentiment:
            return (
                "This model does not take a moral stance even when asked; try a sentiment "
                "stance, or a 2B+ model on a GPU."
            )
        if moral:
            return "This model takes a moral stance when asked, but not a sentiment."
        return "Asking in words moves this model on neither bank: steering results say little."

    def _rows(self, bank: str) -> list[dict[str, Any]]:
        return [
            {
                "stance": s.stance,
                "toward": s.toward,
                "prompted": s.shift.to_json(),
                "valid": s.valid,
            }
            for s in self.stances
            if s.bank == bank
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "model": self.model,
            "quick": self.quick,
            "banks": {b: {"valid": self.valid(b), "stances": self._rows(b)} for b in STANCES},
            "message": self.message(),
        }


def from_json(data: dict[str, Any], source: str) -> ModelValidity:
    """A result written by :meth:`ModelValidity.to_json`."""
    stances = []
    for bank, block in data["banks"].items():
        for s in block["stances"]:
            p = s["prompted"]
            shift = Shift(float(p["mean"]), float(p["ci"][0]), float(p["ci"][1]), int(p["n"]))
            stances.append(StanceValidity(bank, s["stance"], s["toward"], shift))
    return ModelValidity(str(data["model"]), bool(data["quick"]), stances, source)


def file_name(model: str) -> str:
    """A safe file name for a model name (``embedded:smollm2-135m-instruct`` ->
    ``embedded-smollm2-135m-instruct.json``)."""
    return re.sub(r"[^a-z0-9._-]+", "-", model.lower()).strip("-.") + ".json"


def shipped_path(model: str) -> Path:
    return presets_dir() / "validity" / file_name(model)


def cache_path(model: str, quick: bool) -> Path:
    suffix = "-quick" if quick else ""
    return cache_dir() / "validity" / file_name(model).replace(".json", f"{suffix}.json")


def measure_validity(
    lm: LoadedModel,
    quick: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
    stop: threading.Event | None = None,
) -> ModelValidity:
    """The prompted shift for both stances of each bundled bank (one batched pass per bank).

    ``progress(done, total, bank)`` is called after each bank; a set ``stop`` raises
    :class:`ValidityStopped` before the next one."""
    out = []
    for done, (name, stance_names) in enumerate(STANCES.items()):
        if stop is not None and stop.is_set():
            raise ValidityStopped(f"stopped after {done} of {len(STANCES)} banks")
        bank = get_choice_bank(name)
        items = quick_items(bank, QUICK_ITEMS) if quick else list(bank.items)
        stances = [get_stance(s) for s in stance_names]
        poles = [bank.stances[s.name] for s in stances]
        conds = [Condition("unsteered")]
        conds += [Condition(s.name, instruction=s.attract) for s in stances]
        # P(first pole) under each condition; P(second pole) = 1 - P(first pole)
        first = bank.poles[0]
        probs = p_toward(lm, items, first, other_pole(bank, first), conds)
        for s, pole in zip(stances, poles, strict=True):
            sign = 1.0 if pole == first else -1.0
            d = paired_shift(sign * probs[s.name], sign * probs["unsteered"], n_boot, seed)
            out.append(StanceValidity(name, s.name, pole, d))
        if progress is not None:
            progress(done + 1, len(STANCES), name)
    return ModelValidity(lm.name, quick, out)


def stored_validity(model: str, quick: bool = True) -> ModelValidity | None:
    """The result already known for ``model`` without measuring: the shipped file, else the
    user cache (``quick`` or full); None when there is none."""
    places = [(shipped_path(model), "shipped"), (cache_path(model, quick), "cache")]
    places.append((cache_path(model, not quick), "cache"))
    for path, source in places:
        found = _read(path, source)
        if found is not None:
            return found
    return None


def save_validity(result: ModelValidity) -> None:
    """Keep ``result`` in the user cache (a read-only cache is no reason to fail)."""
    path = cache_path(result.model, result.quick)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_json(), indent=2), encoding="utf-8")
    except OSError:
        pass


def model_validity(lm: LoadedModel, quick: bool = True, refresh: bool = False) -> ModelValidity:
    """Whether prompting moves this model on the bundled banks: shipped file, else cache, else
    measured now and cached (``refresh`` measures again)."""
    if not refresh:
        places = ((shipped_path(lm.name), "shipped"), (cache_path(lm.name, quick), "cache"))
        for path, source in places:
            found = _read(path, source)
            if found is not None:
                return found
    result = measure_validity(lm, quick)
    save_validity(result)
    return result


def _read(path: Path, source: str) -> ModelValidity | None:
    """A stored result, or None when absent, unreadable or of another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            return None
        return from_json(data, source)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None

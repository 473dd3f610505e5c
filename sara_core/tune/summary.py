"""Many setting searches summed up: per-point statistics across runs, and defaults chosen by rule.

Used by scripts/tune_defaults.py on runs of one fixed grid (stances x dilemmas). The rule was
fixed before the runs were read:

1. a point is a *candidate* when it passes the guard in at least ``min_admissible`` (90%) of the
   runs, so a default rarely costs coherence;
2. per block and method, the candidate with the best median effect over all runs (ties: the
   weaker strength);
3. the default block is the one where those two medians (SARA's + ActAdd's, both in nats per
   token) sum highest; a block without a candidate for both methods is skipped.

The held-out effect (scored once per stance) is reported beside it as the check on "steering
makes the model repeat its steering text"; it does not enter the rule.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sara_core.measures.metrics import bootstrap_ci
from sara_core.tune.grid import DEFAULT_MAX_PPL_RATIO

MIN_ADMISSIBLE = 0.9
CSV_FIELDS = (
    "stance",
    "dilemma",
    "method",
    "layer",
    "coeff",
    "effect",
    "held_out_effect",
    "perplexity",
    "ppl_ratio",
    "repetition",
    "collapse",
    "admissible",
)

Key = tuple[str, int, float]


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else math.nan


def _median(values: Iterable[float]) -> float:
    vals = [v for v in values if math.isfinite(v)]
    return statistics.median(vals) if vals else math.nan


def _mean(values: Iterable[float]) -> float | None:
    vals = [v for v in values if math.isfinite(v)]
    return sum(vals) / len(vals) if vals else None


def _round(v: Any) -> Any:
    """Floats to 4 decimals (NaN to None), inside lists and dicts too."""
    if isinstance(v, float):
        return round(v, 4) if math.isfinite(v) else None
    if isinstance(v, list):
        return [_round(x) for x in v]
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    return v


def point_stats(runs: Sequence[Mapping[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Per (method, block, strength): runs, share admissible, median effect and cost, how often
    it was a run's chosen point, and its held-out effect per stance."""
    rows: dict[Key, list[Mapping[str, Any]]] = defaultdict(list)
    held: dict[Key, dict[str, float]] = defaultdict(dict)
    chosen: dict[Key, int] = defaultdict(int)
    for run in runs:
        for r in run.get("grid", []):
            key = (r["method"], int(r["layer"]), float(r["coeff"]))
            rows[key].append(r)
            if r.get("held_out_effect") is not None:
                held[key][str(run.get("stance"))] = float(r["held_out_effect"])
        for c in (run.get("chosen") or {}).values():
            if c:
                chosen[(c["method"], int(c["layer"]), float(c["coeff"]))] += 1
    out = {}
    for key, rs in rows.items():
        effects = [e for e in (_num(r["effect"]) for r in rs) if math.isfinite(e)]
        ci = bootstrap_ci(lambda a: float(np.median(a)), [effects]) if effects else None
        out[key] = {
            "method": key[0],
            "layer": key[1],
            "coeff": key[2],
            "runs": len(rs),
            "admissible_share": sum(bool(r["admissible"]) for r in rs) / len(rs),
            "effect": _median(effects),
            "effect_ci": [ci.low, ci.high] if ci else [math.nan, math.nan],
            "positive_share": sum(e > 0 for e in effects) / len(rs),
            "ppl_ratio": _median(_num(r["ppl_ratio"]) for r in rs),
            "chosen": chosen.get(key, 0),
            "held_out": dict(held.get(key, {})),
        }
    return out


def choose_defaults(
    stats: Mapping[Key, Mapping[str, Any]], min_admissible: float = MIN_ADMISSIBLE
) -> dict[str, Any] | None:
    """The rule of this module's docstring: {layer, sara, actadd} (each the point's stats), or
    None when no block has a candidate for both methods."""
    best: dict[tuple[int, str], Mapping[str, Any]] = {}
    for s in stats.values():
        if s["admissible_share"] < min_admissible or not math.isfinite(s["effect"]):
            continue
        slot = (s["layer"], s["method"])
        old = best.get(slot)
        if old is None or (s["effect"], -abs(s["coeff"])) > (old["effect"], -abs(old["coeff"])):
            best[slot] = s
    blocks = sorted({layer for layer, _ in best})
    scored = [
        (best[(b, "sara")]["effect"] + best[(b, "actadd")]["effect"], -b, b)
        for b in blocks
        if (b, "sara") in best and (b, "actadd") in best
    ]
    if not scored:
        return None
    layer = max(scored)[2]
    return {"layer": layer, "sara": best[(layer, "sara")], "actadd": best[(layer, "actadd")]}


def by_stance(runs: Sequence[Mapping[str, Any]], key: Key) -> dict[str, dict[str, float]]:
    """For one point: per stance, the median effect, median cost and share admissible."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for run in runs:
        for r in run.get("grid", []):
            if (r["method"], int(r["layer"]), float(r["coeff"])) == key:
                groups[str(run.get("stance"))].append(r)
    return {
        stance: {
            "effect": _median(_num(r["effect"]) for r in rs),
            "ppl_ratio": _median(_num(r["ppl_ratio"]) for r in rs),
            "admissible_share": sum(bool(r["admissible"]) for r in rs) / len(rs),
        }
        for stance, rs in sorted(groups.items())
    }


def _baseline(runs: Sequence[Mapping[str, Any]], name: str) -> dict[str, Any]:
    rows = [run[name] for run in runs if run.get(name)]
    return {
        "effect": _median(_num(r["effect"]) for r in rows),
        "ppl_ratio": _median(_num(r["ppl_ratio"]) for r in rows),
        "perplexity": _median(_num(r["perplexity"]) for r in rows),
        "held_out_effect": _median(_num(r.get("held_out_effect")) for r in rows),
    }


def summarize_runs(
    runs: Sequence[Mapping[str, Any]], min_admissible: float = MIN_ADMISSIBLE
) -> dict[str, Any]:
    """Per-point statistics, the defaults by rule, per-stance figures for them, the baselines,
    and the data of the summary figure (medians across runs, as sara_core.tune.plot reads)."""
    stats = point_stats(runs)
    defaults = choose_defaults(stats, min_admissible)
    chosen = {}
    if defaults is not None:
        for m in ("sara", "actadd"):
            s = defaults[m]
            chosen[m] = {
                **s,
                "held_out_effect": _mean(s["held_out"].values()),
                "by_stance": by_stance(runs, (m, s["layer"], s["coeff"])),
            }
    ratio = (runs[0].get("settings") or {}).get("max_ppl_ratio", DEFAULT_MAX_PPL_RATIO)
    figure_rows = [
        {
            **s,
            "admissible": s["admissible_share"] >= min_admissible,
            "held_out_effect": _mean(s["held_out"].values()),
        }
        for s in stats.values()
    ]
    return {
        "runs": len(runs),
        "stances": sorted({str(r.get("stance")) for r in runs}),
        "dilemmas": sorted({str(r.get("dilemma")) for r in runs}),
        "rule": {"min_admissible": min_admissible, "max_ppl_ratio": ratio},
        "defaults": {"layer": defaults["layer"] if defaults else None, **chosen},
        "prompted": _baseline(runs, "prompted"),
        "unsteered": _baseline(runs, "unsteered"),
        "points": [{k: _round(v) for k, v in s.items()} for s in stats.values()],
        "figure": {
            "model": runs[0].get("model") if runs else None,
            "grid": figure_rows,
            "chosen": {m: {**c, "admissible": True} for m, c in chosen.items()},
            "prompted": _baseline(runs, "prompted"),
            "settings": {"max_ppl_ratio": ratio},
        },
    }


def write_grid_csv(runs: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Every run's points (and baselines) as one CSV row each, floats to 4 decimals."""
    out = Path(path)
    with out.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_FIELDS)
        writer.writeheader()
        for run in runs:
            rows = [run.get("unsteered"), run.get("prompted"), *run.get("grid", [])]
            for r in rows:
                if r:
                    base = {"stance": run.get("stance"), "dilemma": run.get("dilemma")}
                    writer.writerow({**base, **{k: _round(r.get(k)) for k in CSV_FIELDS[2:]}})
    return out

"""How far a judge agrees with a blind human annotator, and whether its labels are evidence.

Cohen's kappa = (p_o - p_e) / (1 - p_e), p_o the observed agreement and p_e the agreement two
raters with the same label frequencies would reach by chance; 0 is chance, 1 perfect. A judge
"beats chance" when the lower end of the 95% bootstrap interval of its group kappa on real answers
(items resampled in pairs, fixed seed) is above 0. Until it does, the evaluation's school and
group figures are reported as not evidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sara_core.measures.metrics import Interval

N_BOOT = 2000
BOOT_SEED = 0


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters' labels of the same items; NaN when chance agreement is
    certain (both raters always give the same single label) or there are no items."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} labels against {len(b)}")
    n = len(a)
    if n == 0:
        return math.nan
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    labels = set(a) | set(b)
    p_e = sum((list(a).count(k) / n) * (list(b).count(k) / n) for k in labels)
    if p_e >= 1.0:
        return math.nan
    return (p_o - p_e) / (1.0 - p_e)


def kappa_interval(
    a: Sequence[Hashable], b: Sequence[Hashable], n_boot: int = N_BOOT, seed: int = BOOT_SEED
) -> Interval:
    """Kappa with a 95% percentile bootstrap interval (items resampled with their pair)."""
    est = cohen_kappa(a, b)
    if len(a) == 0:
        return Interval(math.nan, math.nan, math.nan)
    rng = np.random.default_rng(seed)
    aa, bb = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(aa), len(aa))
        k = cohen_kappa(list(aa[idx]), list(bb[idx]))
        if math.isfinite(k):
            stats.append(k)
    if not stats:
        return Interval(est, math.nan, math.nan)
    low, high = np.quantile(stats, [0.025, 0.975])
    return Interval(est, float(low), float(high))


def confusion_table(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, dict[str, int]]:
    """table[gold][predicted] = count, every label a key (labels outside ``labels`` added)."""
    keys = list(labels) + sorted((set(gold) | set(pred)) - set(labels))
    table = {g: dict.fromkeys(keys, 0) for g in keys}
    for g, p in zip(gold, pred, strict=True):
        table[g][p] += 1
    return table


@dataclass(frozen=True)
class Detection:
    """How well "the judge said Unclassifiable" finds what the annotator called incoherent."""

    precision: float  # of the answers the judge left unclassified, the share the annotator
    # called incoherent
    recall: float  # of the answers the annotator called incoherent, the share the judge caught
    true_positives: int
    false_positives: int
    false_negatives: int


def detection(flagged: Sequence[bool], truth: Sequence[bool]) -> Detection:
    """Precision and recall of ``flagged`` against ``truth`` (NaN where undefined)."""
    tp = sum(f and t for f, t in zip(flagged, truth, strict=True))
    fp = sum(f and not t for f, t in zip(flagged, truth, strict=True))
    fn = sum(t and not f for f, t in zip(flagged, truth, strict=True))
    precision = tp / (tp + fp) if tp + fp else math.nan
    recall = tp / (tp + fn) if tp + fn else math.nan
    return Detection(precision, recall, tp, fp, fn)


@dataclass(frozen=True)
class Validity:
    """Whether a judge's labels may be used as evidence, and the line that says so."""

    status: str  # "beats chance", "collapse only", "at chance" or "unknown"
    evidence: bool
    line: str
    group_kappa: float | None = None
    kappa_low: float | None = None
    kappa_high: float | None = None
    n: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "evidence": self.evidence,
            "line": self.line,
            "group_kappa": self.group_kappa,
            "kappa_low": self.kappa_low,
            "kappa_high": self.kappa_high,
            "n": self.n,
        }


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def validity(agreement: dict[str, Any] | None, judge: str, min_confidence: float) -> Validity:
    """Validity of the judge ``judge`` (with threshold ``min_confidence``) from an agreement.json
    (see scripts/judge_blind_score.py); unknown when there is none or it measured another judge."""
    if not agreement:
        return Validity(
            "unknown",
            False,
            "Judge validity: UNKNOWN. The judge has not been checked against a blind annotator on "
            "real answers, so the school and group figures below are not evidence.",
        )
    measured = agreement.get("judge", {})
    if measured.get("name") != judge or _num(measured.get("min_confidence")) != min_confidence:
        return Validity(
            "unknown",
            False,
            f"Judge validity: UNKNOWN for this judge ({judge}, min confidence {min_confidence}): "
            f"the blind check measured {measured.get('name')!r} with min confidence "
            f"{measured.get('min_confidence')}, so the school and group figures are not evidence.",
        )
    k = agreement.get("group_kappa", {})
    est, low, high = _num(k.get("value")), _num(k.get("low")), _num(k.get("high"))
    n = int(agreement.get("n", 0))
    acc = _num(agreement.get("group_accuracy"))
    facts = (
        f"group kappa {est:.2f} [{low:.2f}, {high:.2f}], group accuracy {acc:.0%}, on {n} real "
        "answers labelled blind"
        if est is not None and low is not None and high is not None and acc is not None
        else f"no usable kappa on {n} answers"
    )
    both = agreement.get("both_classified", {})
    bk = both.get("group_kappa", {})
    b_est, b_low, b_high = _num(bk.get("value")), _num(bk.get("low")), _num(bk.get("high"))
    if low is not None and low > 0 and (b_low is None or b_low <= 0):
        # The kappa over all answers can beat chance on the collapse detector alone: a judge
        # must also tell the groups apart on the answers both raters could classify.
        inner = (
            f"kappa {b_est:.2f} [{b_low:.2f}, {b_high:.2f}] on the {both.get('n')} answers both "
            "classified"
            if b_est is not None and b_low is not None and b_high is not None
            else "no interval on the answers both classified"
        )
        line = (
            f"Judge validity: it finds collapsed answers ({facts}), but on coherent answers its "
            f"groups agree with the blind annotator at chance ({inner}): the school and group "
            "figures below are not evidence of what steering does; the collapse rates are."
        )
        return Validity("collapse only", False, line, est, low, high, n)
    if low is not None and low > 0:
        line = f"Judge validity: beats chance ({facts}); the group figures carry evidence."
        return Validity("beats chance", True, line, est, low, high, n)
    line = (
        f"Judge validity: AT CHANCE ({facts}): the school and group figures below are not "
        "evidence of what steering does."
    )
    return Validity("at chance", False, line, est, low, high, n)


def load_agreement(path: Path | str | None) -> dict[str, Any] | None:
    """agreement.json as a dict, or None when the file does not exist."""
    if path is None or not Path(path).is_file():
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None

"""Three forms of the forced-choice shift, read from the same answer scores.

* ``mean``: P(toward) = softmax of the two answers' mean log-likelihood per token; the shift is
  the mean over items of P(method) - P(unsteered) (probability; the command's original form).
* ``sum``: P(toward) = softmax of the summed log-likelihoods, the same shift, over the items
  whose two answers differ by at most :data:`MAX_LENGTH_GAP` tokens (a length difference adds a
  fixed offset to the summed scores that pushes P toward 0 or 1, where no shift can show); with
  fewer than :data:`MIN_MATCHED` such items the form is not computed (None).
* ``logodds``: per item, log P(toward)/P(away) of the whole answers under the method minus the
  same unsteered (nats), over all items: the length offset is the same in both and cancels.

Averaging two per-token means and softmaxing them keeps P near 0.5, which squeezes the mean
form's shifts; the other two forms do not average over tokens. All use the paired bootstrap of
:func:`sara_core.measures.choice.paired_shift`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sara_core.measures.choice import AnswerScores, Shift, paired_shift

FORMS = ("mean", "sum", "logodds")
MAX_LENGTH_GAP = 1
"""The most tokens a length-matched item's two answers may differ by (the sum form)."""
MIN_MATCHED = 10
"""Fewer length-matched items than this and the sum form is not computed."""
UNITS = {"mean": "probability", "sum": "probability", "logodds": "nats"}


def matched(scores: AnswerScores) -> np.ndarray:
    """Which items' two answers differ by at most :data:`MAX_LENGTH_GAP` tokens (bool mask)."""
    counts = np.asarray(scores.counts)
    return np.abs(counts[:, 0] - counts[:, 1]) <= MAX_LENGTH_GAP


def form_shift(
    form: str, method: AnswerScores, base: AnswerScores, n_boot: int = 2000, seed: int = 0
) -> Shift | None:
    """The shift of ``method`` against ``base`` in ``form`` (None: the sum form has too few
    length-matched items)."""
    if form == "mean":
        return paired_shift(method.p_mean(), base.p_mean(), n_boot, seed)
    if form == "logodds":
        return paired_shift(method.log_odds(), base.log_odds(), n_boot, seed)
    if form == "sum":
        keep = matched(base)
        if int(keep.sum()) < MIN_MATCHED:
            return None
        return paired_shift(method.p_sum()[keep], base.p_sum()[keep], n_boot, seed)
    raise ValueError(f"unknown form {form!r}: use one of {', '.join(FORMS)}")


def all_forms(
    scores: Mapping[str, AnswerScores],
    names: Sequence[tuple[str, str]],
    base: str = "unsteered",
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Shift | None]]:
    """{form: {method: shift}} for every (method, condition name) in ``names`` against ``base``."""
    return {
        form: {m: form_shift(form, scores[c], scores[base], n_boot, seed) for m, c in names}
        for form in FORMS
    }


def sensitivity(shift: Shift | None) -> float:
    """The interval's lower end over its width (larger: further above 0 for its width);
    NaN where there is no interval."""
    if shift is None or not shift.high > shift.low:
        return float("nan")
    return shift.low / (shift.high - shift.low)


def forms_json(
    forms: Mapping[str, Mapping[str, Shift | None]], n_matched: int
) -> dict[str, dict[str, Any]]:
    """The forms as JSON: per form its unit, the items it uses, each method's shift (or None)."""
    out: dict[str, dict[str, Any]] = {}
    for form, shifts in forms.items():
        block: dict[str, Any] = {"unit": UNITS[form]}
        if form == "sum":
            block["n_matched"] = n_matched
            block["max_length_gap"] = MAX_LENGTH_GAP
        for m, s in shifts.items():
            block[m] = None if s is None else {**s.to_json(), "low_over_width": _r(sensitivity(s))}
        out[form] = block
    return out


def _r(x: float) -> float | None:
    return None if np.isnan(x) else round(x, 3)

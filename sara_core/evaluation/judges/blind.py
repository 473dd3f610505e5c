"""The blind check of the judge on real answers: draw the sample, hide what produced each answer,
and score the judge against an independent annotator (docs/evaluation/judge_blind/README.md).

* ``draw_sample``: ``n`` answers of a results.csv at random (fixed seed), in random order, with
  fresh ids. ``answers.jsonl`` has only id, dilemma text and answer; ``key.jsonl`` maps each id
  back to its row, method, stance, layer and the old judge's labels, for after the labelling.
* ``score``: the judge's predictions against the annotator's ``labels.jsonl`` (id, school, group,
  coherent): accuracy, Cohen's kappa on group, confusion tables, and how well Unclassifiable
  catches what the annotator called incoherent; the old judge's labels from the key, if given,
  are scored the same way for comparison.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.jsonl import read_jsonl, text_field
from sara_core.evaluation.schools import GROUP_LABELS, SCHOOL_LABELS, UNCLASSIFIABLE, group_of
from sara_core.evaluation.summary import ci_json
from sara_core.measures.agreement import (
    confusion_table,
    detection,
    kappa_interval,
)
from sara_core.validation import InputError, as_bool

SEED = 240517345  # the pre-print's arXiv number
N_ANSWERS = 150


@dataclass(frozen=True)
class BlindAnswer:
    """What the annotator and the judge see: no method, stance or layer."""

    id: str
    dilemma: str
    answer: str


@dataclass(frozen=True)
class KeyEntry:
    """What produced a blind answer, kept apart until the labelling is done."""

    id: str
    row: int  # index in results.csv (0-based, header excluded)
    dilemma_id: str
    method: str
    stance: str
    layer: int
    rep: int
    seed: int
    old_school: str
    old_group: str
    old_confidence: float


@dataclass(frozen=True)
class BlindSample:
    answers: list[BlindAnswer]
    key: list[KeyEntry]


def draw_sample(
    rows: Sequence[AnswerRow], dilemma_texts: dict[str, str], n: int = N_ANSWERS, seed: int = SEED
) -> BlindSample:
    """``n`` rows drawn without replacement with ``random.Random(seed)``; ids b001.. follow the
    random draw order, so neither ids nor order reveal the row, method or layer."""
    if not 0 < n <= len(rows):
        raise InputError(f"cannot draw {n} answers from {len(rows)}")
    picked = random.Random(seed).sample(range(len(rows)), n)
    answers, key = [], []
    for k, i in enumerate(picked, 1):
        r, bid = rows[i], f"b{k:03d}"
        answers.append(BlindAnswer(bid, dilemma_texts[r.dilemma], r.answer))
        key.append(
            KeyEntry(bid, i, r.dilemma, r.method, r.stance, r.layer, r.rep, r.seed, r.school,
                     r.group, r.judge_confidence)
        )  # fmt: skip
    return BlindSample(answers, key)


def answers_json(sample: BlindSample) -> list[dict[str, Any]]:
    return [asdict(a) for a in sample.answers]


def key_json(sample: BlindSample) -> list[dict[str, Any]]:
    return [asdict(k) for k in sample.key]


# --------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class Label:
    """One rater's label of one answer."""

    school: str
    group: str
    coherent: bool
    reason: str = ""  # the judge's: which collapse rule, or low confidence


def _labels(path: Path | str, what: str) -> dict[str, Label]:
    out: dict[str, Label] = {}
    for n, row in enumerate(read_jsonl(path), 1):
        where = f"{path}, row {n}"
        rid = str(row.get("id", ""))
        if not rid or rid in out:
            raise InputError(f"{where}: missing or repeated id {rid!r}")
        school = text_field(row, "school", where) or ""
        if school not in SCHOOL_LABELS:
            raise InputError(f"{where}: {what} school {school!r} is not one of {SCHOOL_LABELS}")
        group = text_field(row, "group", where, required=False) or group_of(school)
        if group not in GROUP_LABELS or (school != UNCLASSIFIABLE and group != group_of(school)):
            raise InputError(f"{where}: group {group!r} does not fit school {school!r}")
        coherent = as_bool(f"{where}: coherent", row.get("coherent", school != UNCLASSIFIABLE))
        reason = text_field(row, "reason", where, required=False) or ""
        out[rid] = Label(school, group, coherent, reason.split(":")[0].split(" (")[0])
    return out


def _old_labels(key_path: Path | str) -> dict[str, Label]:
    return {
        str(r["id"]): Label(str(r["old_school"]), str(r["old_group"]), True)
        for r in read_jsonl(key_path)
    }


def rater_agreement(gold: dict[str, Label], pred: dict[str, Label]) -> dict[str, Any]:
    """Agreement of ``pred`` with ``gold`` on the ids of ``gold`` (all must be in ``pred``)."""
    missing = sorted(set(gold) - set(pred))
    if missing:
        raise InputError(f"no prediction for {len(missing)} labelled ids, e.g. {missing[0]!r}")
    ids = sorted(gold)
    gs, ps = [gold[i].school for i in ids], [pred[i].school for i in ids]
    gg, pg = [gold[i].group for i in ids], [pred[i].group for i in ids]
    both = [i for i in ids if UNCLASSIFIABLE not in (gold[i].group, pred[i].group)]
    flagged = [pred[i].school == UNCLASSIFIABLE for i in ids]
    incoherent = [not gold[i].coherent for i in ids]
    det = detection(flagged, incoherent)
    return {
        "n": len(ids),
        "school_accuracy": sum(a == b for a, b in zip(gs, ps, strict=True)) / len(ids),
        "group_accuracy": sum(a == b for a, b in zip(gg, pg, strict=True)) / len(ids),
        "group_kappa": ci_json(kappa_interval(gg, pg)),
        "school_kappa": ci_json(kappa_interval(gs, ps)),
        "both_classified": {
            "n": len(both),
            "group_accuracy": (
                sum(gold[i].group == pred[i].group for i in both) / len(both) if both else None
            ),
            "group_kappa": ci_json(
                kappa_interval([gold[i].group for i in both], [pred[i].group for i in both])
            ),
        },
        "unclassifiable_vs_incoherent": asdict(det),
        "annotator_incoherent": sum(incoherent),
        "judge_unclassifiable": sum(flagged),
        "by_reason": _by_reason(gold, pred, ids),
        "confusion_group": confusion_table(gg, pg, GROUP_LABELS),
        "confusion_school": confusion_table(gs, ps, SCHOOL_LABELS),
    }


def _by_reason(gold: dict[str, Label], pred: dict[str, Label], ids: list[str]) -> dict[str, Any]:
    """For each reason the judge gave for Unclassifiable: how many answers, and how many of them
    the annotator called incoherent (which collapse rule, if any, rejects real answers)."""
    out: dict[str, dict[str, int]] = {}
    for i in ids:
        if pred[i].school == UNCLASSIFIABLE:
            r = out.setdefault(pred[i].reason or "unknown", {"n": 0, "annotator_incoherent": 0})
            r["n"] += 1
            r["annotator_incoherent"] += not gold[i].coherent
    return dict(sorted(out.items()))


def score(
    labels_path: Path | str,
    predictions_path: Path | str,
    key_path: Path | str | None = None,
    judge: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """agreement.json's content: the judge against the annotator, and the old judge if a key is
    given (the key's method and stance are not read)."""
    gold = _labels(labels_path, "annotator")
    if not gold:
        raise InputError(f"{labels_path}: no labels")
    result = {"judge": judge or {}, **rater_agreement(gold, _labels(predictions_path, "judge"))}
    if key_path is not None:
        result["old_judge"] = rater_agreement(gold, _old_labels(key_path))
    return result


def _f(x: Any, fmt: str) -> str:
    return format(x, fmt) if isinstance(x, int | float) else "n/a"


def _ci(k: dict[str, Any]) -> str:
    """A kappa with its interval, as ci_json wrote it: "0.26 [0.16, 0.37]"."""
    return f"{_f(k['value'], '.2f')} [{_f(k['low'], '.2f')}, {_f(k['high'], '.2f')}]"


def markdown(result: dict[str, Any]) -> str:
    """A short table of the agreement, for agreement.md."""
    rows = [("new judge", result)]
    if "old_judge" in result:
        rows.append(("old judge (no Unclassifiable)", result["old_judge"]))
    lines = [
        f"# Judge vs blind annotator ({result['n']} real answers)",
        "",
        "| judge | school acc. | school kappa [95% CI] | group acc. | group kappa [95% CI] "
        "| kappa, both classified | Unclassifiable: precision / recall vs incoherent |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        kb, d = r["both_classified"], r["unclassifiable_vs_incoherent"]
        lines.append(
            f"| {name} | {_f(r['school_accuracy'], '.0%')} | {_ci(r['school_kappa'])} "
            f"| {_f(r['group_accuracy'], '.0%')} | {_ci(r['group_kappa'])} "
            f"| {_f(kb['group_kappa']['value'], '.2f')} (n={kb['n']}) "
            f"| {_f(d['precision'], '.2f')} / {_f(d['recall'], '.2f')} |"
        )
    reasons = ", ".join(
        f"{k} {v['n']} ({v['annotator_incoherent']} incoherent to the annotator)"
        for k, v in result.get("by_reason", {}).items()
    )
    lines += ["", f"New judge's Unclassifiable by reason: {reasons or 'none'}."]
    lines += ["", "Group confusion of the new judge (rows: annotator, columns: judge):", ""]
    table = result["confusion_group"]
    cols = list(table)
    lines += ["| annotator \\ judge | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {g} | " + " | ".join(str(table[g][c]) for c in cols) + " |" for g in cols]
    return "\n".join(lines) + "\n"

"""A run's answers over many processes, kept in ``--out`` as they are made and resumed from it.

1. Every process plans the same cells and computes the settings that shape the answers (model,
   dtype, device kind, layers, decoding, steering, texts, batch size); they must agree
   (:meth:`sara_core.distributed.Shard.agree`).
2. The main process makes the folder this run's (:func:`sara_core.evaluation.store.
   prepare_folder`: other settings are refused unless ``overwrite``).
3. Every process reads the answers already in the folder; the plan's fixed batches
   (:func:`sara_core.evaluation.generate.batches`) keep their missing cells, and the batches
   that still have any are dealt round-robin.
4. Each process appends its batches' answers to its own file as they finish and counts them on
   the launcher's store; the main process's bar shows every process's count.
5. When all are done, the main process gathers the answers, merges the files into
   ``answers.jsonl`` and returns every row in plan order; the others return none.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sara_core.distributed import Shard, say
from sara_core.evaluation.answer_rows import CSV_FIELDS, AnswerRow
from sara_core.evaluation.config import EvalConfig, steered_methods
from sara_core.evaluation.generate import (
    Presets,
    batches,
    cell_key,
    generate_batches,
    plan_cells,
    presets_of,
)
from sara_core.evaluation.store import PartWriter, merge, prepare_folder, read_folder
from sara_core.progress import shared_progress

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models.loading import LoadedModel

JUDGED = ("school", "group", "judge_confidence")
GENERATED = tuple(f for f in CSV_FIELDS if f not in JUDGED)
"""The fields of an answer that generation fills (the judge's come later, on the main process)."""
_FLOATS = {f.name for f in fields(AnswerRow) if f.type == "float"}


@dataclass
class Answers:
    """What the generation step did: every row (main process), how many were there already."""

    rows: list[AnswerRow]
    total: int
    resumed: int
    generated: int
    seconds: float
    processes: int
    fingerprint: str


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def answer_settings(
    lm: LoadedModel, cfg: EvalConfig, layers: list[int], presets: Presets | None = None
) -> dict[str, Any]:
    """Everything that shapes the answers; two runs with equal settings make equal answers."""
    from sara_core.presets.paper import PAPER_PREFIX

    by_id, by_name = presets or presets_of(cfg)
    dilemmas, stances = by_id.values(), by_name.values()
    return {
        "model": lm.name,
        "dtype": lm.dtype_label,
        "device": lm.device.type,
        "n_layers": lm.n_layers,
        "layers": list(layers),
        "dilemmas": {d.id: _digest(PAPER_PREFIX + d.text) for d in dilemmas},
        "stances": {s.name: _digest(s.attract + "\n" + s.repel) for s in stances},
        "methods": list(steered_methods(cfg)),
        "reps": cfg.reps,
        "baseline_reps": cfg.baseline_reps,
        "max_new_tokens": cfg.max_new_tokens,
        "greedy": cfg.greedy,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": cfg.seed,
        "sara_coeff": cfg.sara_coeff,
        "actadd_coeff": cfg.actadd_coeff,
        "scope": cfg.scope,
        "batch_size": cfg.batch_size,
        "tokenizer": _digest(str(lm.tokenizer("Moral dilemma: ok?")["input_ids"])),
    }


def to_record(row: AnswerRow) -> dict[str, Any]:
    data = asdict(row)
    return {k: data[k] for k in GENERATED}


def from_record(record: dict[str, Any]) -> AnswerRow:
    values: dict[str, Any] = {k: record.get(k) for k in GENERATED}
    for k in _FLOATS & set(values):
        values[k] = math.nan if values[k] is None else float(values[k])
    return AnswerRow(**values)


def generate_run(
    lm: LoadedModel,
    cfg: EvalConfig,
    layers: list[int],
    out: Path | str,
    shard: Shard | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Answers:
    """Generate the run's missing answers into ``out`` over the shard's processes; see the
    module's docstring. The main process gets every row, the others an empty list."""
    shard = shard or Shard()
    out = Path(out)
    t0 = time.perf_counter()
    presets = presets_of(cfg)
    cells = plan_cells(cfg, layers, presets)
    settings = answer_settings(lm, cfg, layers, presets)
    fp = shard.agree(settings, "the evaluation's settings")
    shard.decide(lambda: prepare_folder(out, fp, settings, overwrite))
    with PartWriter(out, shard.rank, fp) as writer:
        shard.all_gather(None)  # every process has cut its own half-written line: read now
        stored = read_folder(out, fp)
        facts = shard.all_gather((sorted(stored.rows), bool(writer.cut)))
        held = [keys for keys, _ in facts]
        done = set().union(*map(set, held))
        halves = stored.partial + sum(cut for _, cut in facts)
        cell_keys = [cell_key(c) for c in cells]
        fixed = batches(len(cells), cfg.batch_size)
        pending = [b for b in ([i for i in b if cell_keys[i] not in done] for b in fixed) if b]
        left = sum(map(len, pending))
        resumed = len(cells) - left
        if resumed:
            extra = f"; {halves} half-written line(s) ignored" if halves else ""
            n = len(cells)
            say(shard, f"resuming {out}: {resumed} of {n} answers done, {left} left{extra}")
        per = f" on {shard.world} processes" if shard.world > 1 else ""
        many = "es" if len(pending) != 1 else ""
        say(shard, f"generating {left} answers{per} in {len(pending)} batch{many}")

        with shared_progress(shard, len(cells), resumed, "evaluate", progress) as counted:

            def store(rows: list[AnswerRow]) -> None:
                writer.append((cell_key(r), to_record(r)) for r in rows)
                counted(len(rows))

            made = generate_batches(lm, cfg, cells, shard.mine(pending), store, presets)
            shard.wait_all(left)
    # the main process gets what it cannot read itself: the new answers and the stored ones
    # only other processes hold (when the folder is not shared between machines)
    first_holder = {k: r for r in reversed(range(len(held))) for k in held[r]}
    mine = [(k, stored.rows[k]) for k in stored.rows if first_holder.get(k) == shard.rank]
    sent = [(cell_key(r), to_record(r)) for r in made] + (mine if not shard.main else [])
    everyone = shard.gather(sent)
    result = Answers([], len(cells), resumed, left, 0.0, shard.world, fp)
    if everyone is not None:
        by_key = dict(stored.rows)
        for part in everyone:
            by_key.update(part)
        missing = [k for k in cell_keys if k not in by_key]
        if missing:  # pragma: no cover - a bug, never a user error
            raise RuntimeError(f"{len(missing)} answers missing after the run: {missing[0]}, ...")
        merge(out, fp, ((k, by_key[k]) for k in cell_keys))
        result.rows = [from_record(by_key[k]) for k in cell_keys]
    result.seconds = time.perf_counter() - t0
    return result

"""The evaluation's answers, generated many per forward pass, in batches fixed by the plan.

Every answer is one row of :func:`sara_core.engine.decoding.decode_rows` with its own steering and
its own sampling seed, so a batch can mix methods, stances, layers and dilemmas: a seed gives the
same answer whatever shares the batch, and greedy answers equal the ones generated alone
(tests/evaluation/test_generate.py). Each answer's perplexity under the unsteered model is scored
with the same batch (:func:`sara_core.engine.decoding.score_continuations` with no steering).

Plan: the original answers once per (dilemma, repetition); then per stance and layer SARA (the
configured scope), ActAdd and the optional SARA every-step; the neutral control once per layer
(stance ``neutral``). Repetition r of dilemma i uses seed ``seed + 1000 i + r`` for every method.

The batches are the plan cut every ``batch_size`` answers, whatever runs them: processes of a
sharded run take every N-th batch and a resumed run decodes what is missing of each, so no
answer's batch depends on the number of processes (sara_core.evaluation.answers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sara_core.engine.decoding import Continuation, decode_rows, score_continuations
from sara_core.engine.row import Row, Sampling
from sara_core.evaluation.answer_rows import AnswerRow
from sara_core.evaluation.config import CONTROL_STANCE, EvalConfig, seed_for, steered_methods
from sara_core.measures.metrics import coherence, perplexity_from_logprobs
from sara_core.progress import progress_bar

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models.loading import LoadedModel
    from sara_core.presets.dilemmas import Dilemma
    from sara_core.presets.stances import Stance
    from sara_core.steering.interface import Steering


@dataclass
class Planned:
    """One answer to generate: its row (what produces it), its prompt and its steering."""

    row: AnswerRow
    prompt: list[int]
    steering: Steering | None


def cell_key(row: AnswerRow) -> str:
    """The design cell of an answer: dilemma/stance/method/layer/rep (unique in a run)."""
    return f"{row.dilemma}/{row.stance}/{row.method}/{row.layer}/{row.rep}"


Presets = tuple[dict[str, "Dilemma"], dict[str, "Stance"]]


def presets_of(cfg: EvalConfig) -> Presets:
    """The run's dilemmas by id and stances by name, in the configuration's order (the
    bundled files are read once: each read parses YAML)."""
    from sara_core.presets.dilemmas import get_dilemma, load_dilemmas
    from sara_core.presets.stances import get_stance, load_stances

    all_dilemmas, all_stances = load_dilemmas(), load_stances()
    dilemmas = [get_dilemma(d, all_dilemmas) for d in cfg.dilemmas]
    stances = [get_stance(s, all_stances) for s in cfg.stances]
    return {d.id: d for d in dilemmas}, {s.name: s for s in stances}


def plan_cells(
    cfg: EvalConfig, layers: list[int], presets: Presets | None = None
) -> list[AnswerRow]:
    """Every answer of the run, in order, before any model work: originals, then per stance,
    layer, dilemma, rep and method; the control per layer, dilemma and rep."""
    by_id, by_name = presets or presets_of(cfg)
    dilemmas, stances = list(by_id), list(by_name)
    methods = steered_methods(cfg)
    blank = AnswerRow("", "none", "original", -1, 0, 0, "")

    def one(di: int, rep: int, **kw: object) -> AnswerRow:
        row = replace(blank, dilemma=dilemmas[di], rep=rep, seed=seed_for(cfg.seed, di, rep))
        return replace(row, **kw)  # type: ignore[arg-type]

    cells = [one(di, r) for di in range(len(dilemmas)) for r in range(cfg.baseline_reps)]
    for stance in stances:
        for layer in layers:
            for di in range(len(dilemmas)):
                for rep in range(cfg.reps):
                    for m in (m for m in methods if m != "control"):
                        cells.append(one(di, rep, stance=stance, method=m, layer=layer))
    if "control" in methods and stances:
        for layer in layers:
            for di in range(len(dilemmas)):
                for rep in range(cfg.reps):
                    cells.append(one(di, rep, stance=CONTROL_STANCE, method="control", layer=layer))
    return cells


class Steerings:
    """Each cell's prompt and steering, prepared on first use and kept (a process of a sharded
    run prepares only the steerings of its own batches)."""

    def __init__(self, lm: LoadedModel, cfg: EvalConfig, presets: Presets | None = None):
        self.lm, self.cfg = lm, cfg
        self.dilemmas, self.stances = presets or presets_of(cfg)
        self._prompts: dict[str, list[int]] = {}
        self._made: dict[tuple[str, str, int], Steering] = {}

    def prompt(self, dilemma: str) -> list[int]:
        from sara_core.presets.paper import PAPER_PREFIX
        from sara_core.prompts import encode_prompt

        if dilemma not in self._prompts:
            text = PAPER_PREFIX + self.dilemmas[dilemma].text
            self._prompts[dilemma] = encode_prompt(self.lm, text)[0].tolist()
        return self._prompts[dilemma]

    def steering(self, row: AnswerRow) -> Steering | None:
        if row.method == "original":
            return None
        key = (row.stance, row.method, row.layer)
        if key not in self._made:
            self._made[key] = self._prepare(row)
        return self._made[key]

    def _prepare(self, row: AnswerRow) -> Steering:
        from sara_core.measures.control import prepare_control
        from sara_core.steering.prepare import prepare_actadd, prepare_sara

        lm, cfg, layer = self.lm, self.cfg, row.layer
        if row.method == "control":  # the neutral pair matched to the first stance's lengths
            first = next(iter(self.stances.values()))
            pair = (first.attract, first.repel)
            return prepare_control(lm, *pair, layer, cfg.sara_coeff, cfg.scope)[0]
        stance = self.stances[row.stance]
        if row.method == "actadd":
            return prepare_actadd(lm, stance.attract, stance.repel, layer, cfg.actadd_coeff)
        scope = "every-step" if row.method == "sara_every_step" else cfg.scope
        return prepare_sara(
            lm, stance.attract, stance.repel, layer, cfg.sara_coeff, None, "raw", scope
        )

    def planned(self, row: AnswerRow) -> Planned:
        return Planned(row, self.prompt(row.dilemma), self.steering(row))


def plan_answers(lm: LoadedModel, cfg: EvalConfig, layers: list[int]) -> list[Planned]:
    """Every answer of the run with its prompt and steering, in the order of :func:`plan_cells`."""
    made = Steerings(lm, cfg)
    return [made.planned(row) for row in plan_cells(cfg, layers)]


def batches(n: int, size: int) -> list[list[int]]:
    """The plan's positions cut into consecutive batches of ``size`` (the last may be short)."""
    size = max(1, size)
    return [list(range(lo, min(n, lo + size))) for lo in range(0, n, size)]


def _row(cfg: EvalConfig, p: Planned) -> Row:
    sampling = None if cfg.greedy else Sampling(cfg.temperature, cfg.top_p, p.row.seed)
    steerings = (p.steering,) if p.steering is not None else ()
    return Row(list(p.prompt), steerings, max_new_tokens=cfg.max_new_tokens, sampling=sampling)


def answer_batch(lm: LoadedModel, cfg: EvalConfig, plan: Sequence[Planned]) -> list[AnswerRow]:
    """Decode one batch, score each answer's perplexity under the unsteered model in the same
    batch, and fill the rows. ``seconds`` of an answer is the batch's decoding time divided by
    its rows."""
    from sara_core.prompts import decode

    if not plan:
        return []
    chunk = [_row(cfg, p) for p in plan]
    t0 = time.perf_counter()
    decode_rows(lm, chunk)
    per_row = (time.perf_counter() - t0) / len(chunk)
    scored = [i for i, r in enumerate(chunk) if r.tokens]
    logprobs = score_continuations(
        lm,
        [Continuation(plan[i].prompt, list(chunk[i].tokens)) for i in scored],
        max_rows=max(1, len(scored)),
    )
    ppl = dict(zip(scored, (perplexity_from_logprobs(lp) for lp in logprobs), strict=True))
    out = []
    for i, (p, r) in enumerate(zip(plan, chunk, strict=True)):
        text = decode(lm, r.tokens)
        c = coherence(text)
        out.append(
            replace(
                p.row,
                answer=text,
                new_tokens=len(r.tokens),
                n_words=c.n_words,
                distinct_1=c.distinct_1,
                distinct_2=c.distinct_2,
                repetition_3=c.repetition_3,
                perplexity=ppl.get(i, float("nan")),
                seconds=per_row,
            )
        )
    return out


OnBatch = Callable[[list[AnswerRow]], None]
"""Called with each finished batch's answers (the store appends them, the bar counts them)."""


def generate_batches(
    lm: LoadedModel,
    cfg: EvalConfig,
    cells: Sequence[AnswerRow],
    work: Sequence[Sequence[int]],
    on_batch: OnBatch | None = None,
    presets: Presets | None = None,
) -> list[AnswerRow]:
    """Answer the cells at each batch of positions in ``work``, batch by batch."""
    made = Steerings(lm, cfg, presets)
    out: list[AnswerRow] = []
    for batch in work:
        rows = answer_batch(lm, cfg, [made.planned(cells[i]) for i in batch])
        out += rows
        if on_batch is not None:
            on_batch(rows)
    return out


def generate_answers(
    lm: LoadedModel, cfg: EvalConfig, layers: list[int], progress: bool = True
) -> list[AnswerRow]:
    """All answers of the run in plan order, with coherence and perplexity, unlabelled (one
    process, nothing stored; sara_core.evaluation.answers adds processes and resuming)."""
    presets = presets_of(cfg)
    cells = plan_cells(cfg, layers, presets)
    work = batches(len(cells), cfg.batch_size)
    with progress_bar(len(cells), "evaluate", progress) as bar:
        return generate_batches(lm, cfg, cells, work, lambda rows: bar.update(len(rows)), presets)

"""The evaluation's answers, generated many per forward pass.

Every answer is one row of :func:`sara_core.decoding.decode_rows` with its own steering and its
own sampling seed, so a batch can mix methods, stances, layers and dilemmas: a seed gives the
same answer whatever shares the batch, and greedy answers equal the ones generated alone
(tests/evaluation/test_generate.py). Each answer's perplexity under the unsteered model is scored
in batches too (:func:`sara_core.decoding.score_continuations` with no steering).

Plan: the original answers once per (dilemma, repetition); then per stance and layer SARA (the
configured scope), ActAdd and the optional SARA every-step; the neutral control once per layer
(stance ``neutral``). Repetition r of dilemma i uses seed ``seed + 1000 i + r`` for every method.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sara_core.decoding import Continuation, Row, Sampling, decode_rows, score_continuations
from sara_core.evaluation.config import CONTROL_STANCE, EvalConfig, seed_for, steered_methods
from sara_core.evaluation.metrics import coherence, perplexity_from_logprobs
from sara_core.evaluation.progress import progress_bar
from sara_core.evaluation.rows import AnswerRow

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models import LoadedModel
    from sara_core.steering import Steering


@dataclass
class Planned:
    """One answer to generate: its row (what produces it), its prompt and its steering."""

    row: AnswerRow
    prompt: list[int]
    steering: Steering | None


def _steerings(
    lm: LoadedModel, cfg: EvalConfig, attract: str, repel: str, layer: int
) -> dict[str, Steering]:
    """method -> steering for one stance at one layer (the control is added per layer)."""
    from sara_core.prepare import prepare_actadd, prepare_sara

    methods = steered_methods(cfg)
    out: dict[str, Steering] = {
        "sara": prepare_sara(lm, attract, repel, layer, cfg.sara_coeff, None, "raw", cfg.scope),
        "actadd": prepare_actadd(lm, attract, repel, layer, cfg.actadd_coeff),
    }
    if "sara_every_step" in methods:
        out["sara_every_step"] = prepare_sara(
            lm, attract, repel, layer, cfg.sara_coeff, None, "raw", "every-step"
        )
    return out


def plan_answers(lm: LoadedModel, cfg: EvalConfig, layers: list[int]) -> list[Planned]:
    """Every answer of the run, in order: originals, then per stance, layer, dilemma and rep."""
    from sara_core.evaluation.control import prepare_control
    from sara_core.presets import PAPER_PREFIX, get_dilemma, get_stance
    from sara_core.prompts import encode_prompt

    dilemmas = [get_dilemma(d) for d in cfg.dilemmas]
    stances = [get_stance(s) for s in cfg.stances]
    prompts = [encode_prompt(lm, PAPER_PREFIX + d.text)[0].tolist() for d in dilemmas]
    blank = AnswerRow("", "none", "original", -1, 0, 0, "")

    def one(di: int, rep: int, steering: Steering | None, **kw: object) -> Planned:
        row = replace(blank, dilemma=dilemmas[di].id, rep=rep, seed=seed_for(cfg.seed, di, rep))
        return Planned(replace(row, **kw), prompts[di], steering)  # type: ignore[arg-type]

    plan = [one(di, r, None) for di in range(len(dilemmas)) for r in range(cfg.baseline_reps)]
    methods = steered_methods(cfg)
    for stance in stances:
        for layer in layers:
            made = _steerings(lm, cfg, stance.attract, stance.repel, layer)
            for di in range(len(dilemmas)):
                for rep in range(cfg.reps):
                    for m in (m for m in methods if m in made):
                        kw = {"stance": stance.name, "method": m, "layer": layer}
                        plan.append(one(di, rep, made[m], **kw))
    if "control" in methods and stances:
        first = stances[0]
        for layer in layers:
            control, _ = prepare_control(
                lm, first.attract, first.repel, layer, cfg.sara_coeff, cfg.scope
            )
            for di in range(len(dilemmas)):
                for rep in range(cfg.reps):
                    kw = {"stance": CONTROL_STANCE, "method": "control", "layer": layer}
                    plan.append(one(di, rep, control, **kw))
    return plan


def _row(cfg: EvalConfig, p: Planned) -> Row:
    sampling = None if cfg.greedy else Sampling(cfg.temperature, cfg.top_p, p.row.seed)
    steerings = (p.steering,) if p.steering is not None else ()
    return Row(list(p.prompt), steerings, max_new_tokens=cfg.max_new_tokens, sampling=sampling)


def generate_answers(
    lm: LoadedModel, cfg: EvalConfig, layers: list[int], progress: bool = True
) -> list[AnswerRow]:
    """All answers of the run with their coherence and perplexity, unlabelled.

    ``seconds`` of an answer is its batch's decoding time divided by the batch's rows.
    """
    from sara_core.prompts import decode

    plan = plan_answers(lm, cfg, layers)
    size = max(1, cfg.batch_size)
    tokens: list[list[int]] = []
    seconds: list[float] = []
    with progress_bar(len(plan), "evaluate", progress) as bar:
        for lo in range(0, len(plan), size):
            chunk = [_row(cfg, p) for p in plan[lo : lo + size]]
            t0 = time.perf_counter()
            decode_rows(lm, chunk)
            per_row = (time.perf_counter() - t0) / len(chunk)
            tokens += [list(r.tokens) for r in chunk]
            seconds += [per_row] * len(chunk)
            bar.update(len(chunk))
    scored = [i for i, t in enumerate(tokens) if t]
    logprobs = score_continuations(
        lm, [Continuation(plan[i].prompt, tokens[i]) for i in scored], max_rows=size
    )
    ppl = dict(zip(scored, (perplexity_from_logprobs(lp) for lp in logprobs), strict=True))
    out = []
    for i, p in enumerate(plan):
        text = decode(lm, tokens[i])
        c = coherence(text)
        out.append(
            replace(
                p.row,
                answer=text,
                new_tokens=len(tokens[i]),
                n_words=c.n_words,
                distinct_1=c.distinct_1,
                distinct_2=c.distinct_2,
                repetition_3=c.repetition_3,
                perplexity=ppl.get(i, float("nan")),
                seconds=seconds[i],
            )
        )
    return out

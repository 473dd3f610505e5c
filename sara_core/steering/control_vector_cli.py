"""``python -m sara_core control-vector``: write ActAdd's every-position vectors as a llama.cpp
control vector (see :mod:`sara_core.steering.control_vector` and docs/serve.md)."""

from __future__ import annotations

import argparse
import sys

from sara_core.models.options import add_model_arguments, load_from_args
from sara_core.validation import MAX_COEFF, InputError, as_float


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Write ActAdd's mean difference (every-position mode) at each requested block as a "
        "llama.cpp control vector (GGUF), for llama.cpp's --control-vector."
    )
    p.add_argument("--stance", help="a stance preset by name (sets --attract/--repel)")
    p.add_argument("--attract", help="text to steer toward")
    p.add_argument("--repel", help="text to steer away from")
    p.add_argument("--presets", help="a YAML/JSON/TOML file of extra stances")
    p.add_argument(
        "--layers",
        nargs="+",
        default=None,
        help="our blocks (the residual entering them): numbers, 'all' or 'every:K' "
        "(default: the middle block); llama.cpp can steer blocks 2 and up",
    )
    p.add_argument("--coeff", type=float, default=4.0, help="ActAdd c (default 4.0)")
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="the .gguf file to write")


def texts(args: argparse.Namespace) -> tuple[str, str, str]:
    """attract, repel and a label from --stance or --attract/--repel."""
    from sara_core.presets.stances import get_stance, load_stances, merge_stances
    from sara_core.presets.user import load_user_presets

    if args.stance:
        if args.attract or args.repel:
            raise InputError("give --stance or --attract/--repel, not both")
        stances = load_stances()
        if args.presets:
            stances, _ = merge_stances(stances, load_user_presets(args.presets)[0])
        stance = get_stance(args.stance, stances)
        return stance.attract, stance.repel, stance.name
    if not (args.attract and args.repel):
        raise InputError("give --stance NAME, or both --attract and --repel")
    return args.attract, args.repel, "texts"


def blocks_from(spec: list[str] | None, n_layers: int, default: int) -> list[int]:
    """Blocks from --layers: an explicit block 0 or 1 is an error; 'all' and 'every:K' leave
    them out (llama.cpp has no slot for them)."""
    from sara_core.evaluation.config import parse_layers
    from sara_core.steering.control_vector import FIRST_BLOCK, check_blocks

    if not spec:
        return check_blocks([default], n_layers)
    out: list[int] = []
    for item in spec:
        for part in str(item).split(","):
            if not part.strip():
                continue
            found = parse_layers([part], n_layers, quick=False)
            if part.strip().lower() == "all" or part.strip().lower().startswith("every:"):
                found = [b for b in found if b >= FIRST_BLOCK]
            out.extend(found)
    return check_blocks(out, n_layers)


def run_cli(args: argparse.Namespace) -> int:
    from sara_core.prompts import check_text
    from sara_core.steering.control_vector import (
        actadd_directions,
        llama_index,
        model_hint,
        write_control_vector,
    )
    from sara_core.validation import same_text

    coeff = as_float("--coeff", args.coeff, -MAX_COEFF, MAX_COEFF)
    attract, repel, label = texts(args)
    if same_text(attract, repel):
        raise InputError("attract and repel are the same text: steering needs two prompts")
    if not str(args.out).endswith(".gguf"):
        raise InputError("--out must name a .gguf file")
    lm = load_from_args(args)
    attract = check_text(lm, "the attract prompt", attract)
    repel = check_text(lm, "the repel prompt", repel)
    blocks = blocks_from(args.layers, lm.n_layers, lm.default_layer)
    directions = actadd_directions(lm, attract, repel, blocks, coeff)
    meta: dict[str, str | float | int] = {
        "model": lm.name,
        "attract": attract,
        "repel": repel,
        "coeff": coeff,
        "source": label,
    }
    path = write_control_vector(args.out, directions, model_hint(lm), meta)
    for block, vector in directions.items():
        print(
            f"block {block:>3} -> direction.{llama_index(block):<3} |v| = {vector.norm():.3f}",
            file=sys.stderr,
        )
    print(f"wrote {path} ({len(directions)} directions, hidden size {lm.hidden_size})")
    return 0

"""``python -m sara_core tune``: find a block and strengths for SARA and ActAdd on one dilemma.

Prints one line per method (the chosen point, its effect and cost) and the baselines; ``--json``
writes the whole search, ``--plot`` its figure. Bad arguments are one line and exit code 2
(sara_core.cli.main turns UsageError and ValueError into that).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sara_core.models.options import add_model_arguments
from sara_core.presets.paper import PAPER_PREFIX
from sara_core.tune.grid import DEFAULT_MAX_PPL_RATIO, TuneGrid, default_grid
from sara_core.validation import (
    MAX_COEFF,
    InputError,
    as_float,
    as_int,
    as_out_path,
    as_text,
    same_text,
)

HELD_OUT_ITEMS = 4
"""Held-out probe items scored per point (quick: 3)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_argument_group("what to answer and how to steer")
    src.add_argument("--dilemma", help="the text to answer")
    src.add_argument("--dilemma-id", help="a bundled dilemma by id, title or number")
    src.add_argument("--paper-prefix", action="store_true", help=f"prefix {PAPER_PREFIX!r}")
    src.add_argument("--stance", help="a stance preset by name (sets --attract/--repel)")
    src.add_argument("--attract", help="text to steer toward")
    src.add_argument("--repel", help="text to steer away from")
    src.add_argument("--presets", help="a YAML/JSON/TOML file of extra stances or dilemmas")
    g = p.add_argument_group("the search")
    g.add_argument("--methods", default="sara,actadd", help="sara, actadd or both (default)")
    g.add_argument("--quick", action="store_true", help="a small grid (under 2 minutes on CPU)")
    g.add_argument("--layers", help="blocks to search, comma-separated (default: spread)")
    g.add_argument("--sara-coeffs", help="SARA lambdas, comma-separated")
    g.add_argument("--actadd-coeffs", help="ActAdd c values, comma-separated")
    g.add_argument("--refine", type=int, help="points refined per method (quick 2, full 4)")
    g.add_argument("--max-points", type=int, help="cap on coarse + refined points")
    g.add_argument(
        "--max-ppl-ratio",
        type=float,
        default=DEFAULT_MAX_PPL_RATIO,
        help="guard: steered answer perplexity / unsteered (default 1.5)",
    )
    g.add_argument("--max-new-tokens", type=int, default=None, help="answer length (default 24)")
    g.add_argument(
        "--held-out", type=int, default=None, help="held-out probe items (0: none; default 4)"
    )
    add_model_arguments(p)
    p.add_argument("--json", dest="json_file", help="write the whole search to this file")
    p.add_argument("--plot", help="write the effect-against-cost figure to this PNG")


def _numbers(option: str, name: str, text: str | None, integer: bool = False) -> tuple | None:
    """A comma-separated list of numbers (None when the option is not given)."""
    if text is None:
        return None
    parts = [t for t in text.split(",") if t.strip()]
    if not parts:
        raise InputError(f"{option} is empty: give comma-separated numbers")
    if integer:
        return tuple(as_int(name, t, -(10**6), 10**6) for t in parts)
    return tuple(as_float(name, t, -MAX_COEFF, MAX_COEFF) for t in parts)


def _grid(args: argparse.Namespace, n_layers: int) -> TuneGrid:
    """The default grid for this depth, with what the arguments name instead."""
    base = default_grid(n_layers, args.quick)
    return TuneGrid(
        _numbers("--layers", "layer", args.layers, integer=True) or base.layers,
        _numbers("--sara-coeffs", "sara_coeff", args.sara_coeffs) or base.sara_coeffs,
        _numbers("--actadd-coeffs", "actadd_coeff", args.actadd_coeffs) or base.actadd_coeffs,
        base.refine if args.refine is None else args.refine,
    )


def _line(name: str, p: dict | None) -> str:
    if p is None:
        return f"{name:<10} no admissible point"
    where = "" if p["layer"] is None else f"block {p['layer']:>2}  x{p['coeff']:<6g}"
    held = "" if p.get("held_out_effect") is None else f"  held-out {p['held_out_effect']:+.3f}"
    ratio = "n/a" if p["ppl_ratio"] is None else f"{p['ppl_ratio']:.2f}"
    return f"{name:<10} {where:<18} effect {p['effect']:+.3f}{held}  ppl x{ratio}"


def run_cli(args: argparse.Namespace) -> int:
    from sara_core.cli import _load_model, steering_texts
    from sara_core.distributed import Launch, open_shard, say
    from sara_core.tune.grid import check_methods, check_ratio
    from sara_core.tune.score import held_out_for
    from sara_core.tune.search import DEFAULT_NEW_TOKENS, tune

    dilemma, attract, repel, stance = steering_texts(args)
    # every check that needs no model runs before the (slow) model load
    texts = [
        as_text(n, t) for n, t in (("the attract prompt", attract), ("the repel prompt", repel))
    ]
    if same_text(*texts):
        raise InputError(
            "attract and repel are the same text: steering needs two different prompts"
        )
    methods = check_methods(args.methods)
    check_ratio(args.max_ppl_ratio)
    _grid(args, 1)  # the lists given by the arguments
    if args.refine is not None:
        as_int("--refine", args.refine, 0, 8)
    items = args.held_out if args.held_out is not None else (3 if args.quick else HELD_OUT_ITEMS)
    items = as_int("--held-out", items, 0, 64)
    if args.max_points is not None:
        as_int("--max-points", args.max_points, 1, 10**6)
    for path in (args.json_file, args.plot):
        as_out_path(path)
    tokens = DEFAULT_NEW_TOKENS if args.max_new_tokens is None else args.max_new_tokens
    launch = getattr(args, "launch", None) or Launch()
    with open_shard(launch) as shard:
        lm = _load_model(args, shard.device, quiet=not shard.main)
        result = tune(
            lm,
            dilemma,
            attract,
            repel,
            methods=methods,
            grid=_grid(args, lm.n_layers),
            quick=args.quick,
            max_new_tokens=tokens,
            max_ppl_ratio=args.max_ppl_ratio,
            max_points=args.max_points,
            held_out=held_out_for(stance, items),
            progress=lambda done, total, desc: say(shard, f"[{done}/{total}] {desc}"),
            shard=shard,
        )
    if not shard.main:
        return 0
    data = result.to_json()
    data["stance"] = stance
    if args.json_file:
        Path(args.json_file).expanduser().write_text(json.dumps(data, indent=1))
    if args.plot:
        from sara_core.tune.plot import save_tune_figure

        save_tune_figure(data, args.plot)
    print(f"model {lm.name} | {len(result.points)} points | {result.timing['total_s']:.0f} s")
    for name in ("unsteered", "prompted"):
        print(_line(name, data[name]))
    for method, point in data["chosen"].items():
        print(_line(method, point))
    return 0

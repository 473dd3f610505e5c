"""``python -m sara_core bench``: options, and writing the JSON and the markdown table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sara_core.models.options import add_model_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core bench``."""
    parser.description = (
        "Measure what steering costs and how close decoding runs to the hardware's limit: SARA "
        "and ActAdd overheads, the compare, the app's streamed compare, a classroom of "
        "concurrent visitors, time to first token, start-up and memory."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 repeats of 30 tokens (10 on a model of real size), a 16-token classroom",
    )
    parser.add_argument(
        "--json",
        default="artifacts/bench/bench.json",
        help="where to write the JSON (a .md table is written beside it)",
    )
    add_model_arguments(parser)  # --model (random:NAME too), --device, --dtype
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default 5; quick 2)")
    parser.add_argument(
        "--new-tokens",
        type=int,
        default=None,
        help="tokens per answer (default 100; quick 30, or 10 on a model of real size)",
    )
    parser.add_argument(
        "--visitors",
        type=int,
        default=None,
        help="classroom size (default 20 on the embedded model, else 0: skipped)",
    )
    parser.add_argument(
        "--classroom-tokens",
        type=int,
        default=None,
        help="tokens per classroom answer (default 80, the app's; quick 16)",
    )
    parser.add_argument(
        "--no-startup",
        action="store_true",
        help="skip the cold/warm start-up processes (run on the embedded model only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core bench``; returns the exit code."""
    from sara_core.bench.report import markdown_table
    from sara_core.bench.run import run_bench

    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    new_tokens = args.new_tokens
    room_tokens = args.classroom_tokens or (16 if args.quick else 80)
    visitors = args.visitors
    too_few = new_tokens is not None and new_tokens < 2
    if repeats < 1 or too_few or (visitors is not None and visitors < 0) or room_tokens < 2:
        print(
            "bench: --repeats must be at least 1, --new-tokens and --classroom-tokens at least "
            "2, --visitors at least 0",
            file=sys.stderr,
        )
        return 2
    from sara_core.models.memory import DeviceError, parse_device, parse_dtype

    try:  # before any start-up child runs: a bad device or dtype is one line at once
        parse_dtype(args.dtype)
        parse_device(args.device)
    except DeviceError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    from sara_core.models.errors import ModelLoadError
    from sara_core.validation import InputError

    try:
        result = run_bench(
            model=args.model,
            repeats=repeats,
            new_tokens=new_tokens,
            startup=False if args.no_startup else None,
            progress=not args.no_progress,
            visitors=visitors,
            classroom_tokens=room_tokens,
            device=args.device,
            dtype=args.dtype,
            quick=args.quick,
            memory_mb=getattr(args, "memory_mb", None),
        )
    except (ModelLoadError, InputError, DeviceError) as exc:  # a bad model or device: one line
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    table = markdown_table(result)
    path.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0

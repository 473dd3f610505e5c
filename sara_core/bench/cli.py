"""``python -m sara_core bench``: options, and writing the JSON and the markdown table."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core bench``."""
    parser.description = (
        "Measure what steering costs and how close decoding runs to the hardware's limit: SARA "
        "and ActAdd overheads, the compare, the app's streamed compare, a classroom of "
        "concurrent visitors, time to first token, start-up and memory."
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 repeats of 30 tokens, a 16-token classroom"
    )
    parser.add_argument(
        "--json",
        default="artifacts/bench/bench.json",
        help="where to write the JSON (a .md table is written beside it)",
    )
    parser.add_argument(
        "--model",
        default=None,
        help="hub id or local folder (default: $SARA_MODEL or the embedded SmolLM2-135M)",
    )
    parser.add_argument("--repeats", type=int, default=None, help="repeats (default 5; quick 2)")
    parser.add_argument(
        "--new-tokens", type=int, default=None, help="tokens per answer (default 100; quick 30)"
    )
    parser.add_argument(
        "--visitors", type=int, default=20, help="classroom size (0 skips the classroom)"
    )
    parser.add_argument(
        "--classroom-tokens",
        type=int,
        default=None,
        help="tokens per classroom answer (default 80, the app's; quick 16)",
    )
    parser.add_argument(
        "--no-startup", action="store_true", help="skip the cold/warm start-up processes"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_cli(args: argparse.Namespace) -> int:
    """Entry point of ``python -m sara_core bench``; returns the exit code."""
    from sara_core.bench.report import markdown_table
    from sara_core.bench.run import run_bench

    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    new_tokens = args.new_tokens if args.new_tokens is not None else (30 if args.quick else 100)
    room_tokens = args.classroom_tokens or (16 if args.quick else 80)
    if repeats < 1 or new_tokens < 2 or args.visitors < 0 or room_tokens < 2:
        print(
            "bench: --repeats must be at least 1, --new-tokens and --classroom-tokens at least "
            "2, --visitors at least 0",
            file=sys.stderr,
        )
        return 2
    result = run_bench(
        model=args.model,
        repeats=repeats,
        new_tokens=new_tokens,
        startup=not args.no_startup,
        progress=not args.no_progress,
        visitors=args.visitors,
        classroom_tokens=room_tokens,
    )
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str))
    table = markdown_table(result)
    path.with_suffix(".md").write_text(table)
    print(table)
    print(f"wrote {path} and {path.with_suffix('.md')}")
    return 0

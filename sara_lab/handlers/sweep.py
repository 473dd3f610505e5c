"""The layer sweep (tab and ``/sweep`` API): SARA's signal at every n-th block, optionally with
short answers, as a plot, a table and a summary.

The sweep runs in a worker thread through ``sara_core.streaming.stream_in_thread`` (the helper
``stream_compare`` uses too), so its progress reaches the page while it works.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from sara_core import plots
from sara_core.streaming import stream_in_thread
from sara_core.sweep import SweepResult, layer_sweep
from sara_core.validation import (
    MAX_COEFF,
    InputError,
    as_bool,
    as_float,
    as_int,
    as_k,
    as_optional_int,
    as_text,
    resolve_layer,
)
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.models import model_for
from sara_lab.zerogpu import gpu

if TYPE_CHECKING:
    import pandas as pd

    from sara_lab.lab import Lab
    from sara_lab.settings import Settings

Progress = tuple[int, int, str]  # done, total, description


@dataclass(frozen=True)
class SweepRequest:
    """A sweep's values, checked; the field order is the ``/sweep`` API's positional order.

    ``layer`` only marks a block on the plot: None is the model's default block, a negative one
    counts from the end. ``k`` None or 0 is auto.
    """

    dilemma: str
    attract: str
    repel: str
    k: int | None = None
    answers: bool = False
    max_new_tokens: int = 24
    stride: int = 1
    sara_coeff: float = 1.0
    actadd_coeff: float = 4.0
    layer: int | None = None

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], settings: Settings, n_layers: int) -> SweepRequest:
        """Check every raw value against the app's caps and the model's depth."""
        defaults = {f.name: f.default for f in fields(cls)}
        values = {**defaults, **{k: v for k, v in raw.items() if v is not None or k == "layer"}}
        answers = as_bool("answers", values["answers"])
        stride = as_int("stride", values["stride"], 1, max(1, n_layers))
        n_swept = math.ceil(n_layers / stride)
        if answers and n_swept > settings.sweep_answer_layers:
            raise InputError(
                f"a sweep with answers may cover at most {settings.sweep_answer_layers} layers "
                f"here ({n_swept} asked): raise the stride to "
                f"{math.ceil(n_layers / settings.sweep_answer_layers)} or more"
            )
        layer = as_optional_int("layer", values["layer"], -n_layers, n_layers - 1)
        return cls(
            dilemma=as_text("the dilemma", values["dilemma"]),
            attract=as_text("the attract prompt", values["attract"]),
            repel=as_text("the repel prompt", values["repel"]),
            k=as_k(values["k"]),
            answers=answers,
            max_new_tokens=as_int(
                "max_new_tokens",
                values["max_new_tokens"],
                1,
                settings.sweep_max_new_tokens,
                " for a sweep",
            ),
            stride=stride,
            sara_coeff=as_float(
                "the SARA coefficient", values["sara_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            actadd_coeff=as_float(
                "the ActAdd coefficient", values["actadd_coeff"], -MAX_COEFF, MAX_COEFF
            ),
            layer=None if layer is None else resolve_layer(layer, n_layers),
        )


@gpu(duration=120)
def sweep_stream(
    manager_id: str, model_name: str, request: SweepRequest
) -> Generator[Progress | SweepResult, None, None]:
    """The GPU part: (done, total, description) as the sweep advances, then the SweepResult.
    Closing the generator stops the sweep at its next block."""
    lm = model_for(manager_id, model_name)

    def work(emit: Callable[[Progress], None], stop: Any) -> SweepResult:
        return layer_sweep(
            lm,
            request.dilemma,
            request.attract,
            request.repel,
            layers=range(0, lm.n_layers, request.stride),
            k=request.k,
            answers=request.answers,
            max_new_tokens=request.max_new_tokens,
            sara_coeff=request.sara_coeff,
            actadd_coeff=request.actadd_coeff,
            progress=lambda done, total, desc: emit((done, total, desc)),
            stop=stop,
        )

    stream = stream_in_thread(work, name="sara-sweep")
    try:
        yield from stream
    finally:
        stream.close()
    if stream.result is not None:
        yield stream.result


def sweep(
    lab: Lab,
    values: Mapping[str, Any],
    model_name: str | None = None,
    progress: Callable[..., Any] | None = None,
) -> tuple[Figure, pd.DataFrame, str, int]:
    """Run a sweep for the raw values (keyed by :class:`SweepRequest` names): returns the plot,
    the per-block table, the summary and the block with the largest mean |score|."""
    model_key = model_name or lab.models.default
    try:
        lm = lab.models.get(model_key)
        request = SweepRequest.parse(values, lab.settings, lm.n_layers)
        if progress is not None:
            progress(0, desc="Starting the sweep…")
        result: SweepResult | None = None
        for item in sweep_stream(lab.models.id, model_key, request):
            if isinstance(item, SweepResult):
                result = item
            elif progress is not None:
                done, total, desc = item
                progress((done, total), desc=desc, unit="steps")
        if result is None:
            raise RuntimeError("the sweep ended without a result")
        highlight = lm.default_layer if request.layer is None else request.layer
        figure = plots.sweep_plot(result, highlight=highlight)
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        raise user_error(exc) from None
    table = render.sweep_table(result, request.answers)
    return figure, table, render.sweep_summary(result, request.answers), result.best_layer()

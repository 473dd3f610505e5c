"""Find a setting (tab and ``/tune`` API): search blocks x strengths for SARA and ActAdd on the
Steer tab's dilemma and stance (``sara_core.tune``), then load a chosen setting into the Steer tab.

Like the sweep (sara_lab.handlers.sweep), the search runs in a worker thread through
``sara_core.engine.streaming.stream_in_thread`` and the handler is a generator that yields its
progress after every chunk of points: the tab's Stop sets the run's stop event, and a client that
goes away makes Gradio close the generator at its next yield; either ends the search at its next
chunk with the points done so far. The search waits at most the settings' lock timeout for a model
held by other work, then takes the model's lock one chunk at a time (so comparisons interleave);
the settings' budget stops it (keeping the points done), and the watchdog bounds a silent model.
Public mode caps the points a search may evaluate (``Settings.tune_max_points``).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from sara_core.config import SteeringConfig
from sara_core.engine.streaming import stream_in_thread
from sara_core.steering.actadd import MODES
from sara_core.steering.sara import SCOPES, SIGNS
from sara_core.tune.grid import (
    DEFAULT_MAX_PPL_RATIO,
    METHODS,
    check_methods,
    check_ratio,
    default_grid,
)
from sara_core.tune.result import TuneResult
from sara_core.tune.search import tune
from sara_core.validation import InputError, as_bool, as_choice, as_k, as_text
from sara_lab import render
from sara_lab.errors import user_error
from sara_lab.model_manager import model_for
from sara_lab.settings import Limits
from sara_lab.zerogpu import gpu

if TYPE_CHECKING:
    from sara_lab.lab import Lab, StopEvent
    from sara_lab.settings import Settings

Progress = tuple[int, int, str]  # done, total, description
Outputs = tuple[Any, Any, str, Any, Any]  # plot, table, summary, JSON, chosen settings
Chosen = dict[str, dict[str, Any]]  # method -> {"layer": block, "coeff": strength}
GRACE_S = 30.0  # after the budget stops the search, its last chunk may take this long to end
METHOD_NAMES = {"sara": "SARA", "actadd": "ActAdd"}


@dataclass(frozen=True)
class TuneRequest:
    """A search's values, checked; the field order is the ``/tune`` API's positional order.

    ``k``, ``scope``, ``sign`` and ``actadd_mode`` are the Steer tab's (the chosen setting is
    measured as compare will run it); ``k`` None or 0 is auto.
    """

    dilemma: str
    attract: str
    repel: str
    methods: tuple[str, ...] = METHODS
    quick: bool = True
    max_ppl_ratio: float = DEFAULT_MAX_PPL_RATIO
    k: int | None = None
    scope: str = "prompt"
    sign: str = "raw"
    actadd_mode: str = "prefix"

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def parse(cls, raw: Mapping[str, Any], settings: Settings, n_layers: int) -> TuneRequest:
        """Check every raw value; a grid larger than the settings allow is refused here."""
        texts = ("dilemma", "attract", "repel")  # None there is "empty", as compare says
        defaults = {f.name: f.default for f in fields(cls) if f.name not in texts}
        values = {**defaults, **{k: v for k, v in raw.items() if v is not None or k in texts}}
        methods = check_methods(values["methods"])
        quick = as_bool("quick", values["quick"])
        cap = settings.tune_max_points
        n = len(default_grid(n_layers, quick).coarse_points(methods))
        if n > cap:
            hint = "" if quick else ": use the quick search"
            raise InputError(f"this search has {n} points; the limit here is {cap}{hint}")
        return cls(
            dilemma=as_text("the dilemma", values.get("dilemma")),
            attract=as_text("the attract prompt", values.get("attract")),
            repel=as_text("the repel prompt", values.get("repel")),
            methods=methods,
            quick=quick,
            max_ppl_ratio=check_ratio(values["max_ppl_ratio"]),
            k=as_k(values["k"]),
            scope=as_choice("scope", values["scope"], SCOPES),
            sign=as_choice("sign", values["sign"], SIGNS),
            actadd_mode=as_choice("actadd_mode", values["actadd_mode"], MODES),
        )

    def config(self) -> SteeringConfig:
        return SteeringConfig(
            k=self.k, scope=self.scope, sign=self.sign, actadd_mode=self.actadd_mode
        )


@gpu(duration=300)
def tune_stream(
    manager_id: str,
    model_name: str,
    request: TuneRequest,
    max_points: int,
    limits: Limits | None = None,
    stop: threading.Event | None = None,
) -> Generator[Progress | TuneResult, None, None]:
    """The GPU part: (done, total, description) after every chunk of points, then the
    TuneResult (the points done so far, if it was stopped). Closing the generator, setting
    ``stop`` (not on ZeroGPU) or the budget stops the search at its next chunk."""
    limits = limits or Limits()
    lm = model_for(manager_id, model_name)

    def work(emit: Callable[[Progress], None], stop: threading.Event) -> TuneResult:
        with lm.hold(limits.lock_timeout_s):
            pass  # wait so long for a model held by a sweep or a load; then chunk by chunk
        budget = threading.Timer(limits.budget_s, stop.set) if limits.budget_s else None
        if budget is not None:
            budget.daemon = True
            budget.start()
        try:
            return tune(
                lm,
                request.dilemma,
                request.attract,
                request.repel,
                methods=request.methods,
                quick=request.quick,
                max_ppl_ratio=request.max_ppl_ratio,
                max_points=max_points,
                config=request.config(),
                progress=lambda done, total, desc: emit((done, total, desc)),
                stop=stop,
            )
        finally:
            if budget is not None:
                budget.cancel()

    stream = stream_in_thread(
        work,
        name="sara-tune",
        stop=stop,
        idle_timeout=limits.idle_timeout_s,
        timeout=None if limits.budget_s is None else limits.budget_s + GRACE_S,
    )
    yield from stream.then_result()


def tune_event(
    lab: Lab,
    values: Mapping[str, Any],
    model_name: str | None = None,
    progress: Callable[..., Any] | None = None,
    session: str | None = None,
) -> Iterator[Outputs]:
    """Run a search for the raw values (keyed by :class:`TuneRequest` names): yields its
    progress in the summary (the other outputs skipped), then the figure, the table of chosen
    settings, the summary, the whole search as JSON and the chosen settings."""
    stop = lab.stops.start(f"{session or uuid.uuid4().hex}/tune")
    try:
        yield from _tune(lab, values, model_name or lab.models.default, progress, stop)
    finally:
        lab.stops.finish(stop)


def _tune(
    lab: Lab,
    values: Mapping[str, Any],
    model_key: str,
    progress: Callable[..., Any] | None,
    stop: StopEvent,
) -> Iterator[Outputs]:
    import gradio as gr

    skip = gr.skip()
    limits = lab.settings.limits()
    result: TuneResult | None = None
    try:
        lm = lab.models.get(model_key, timeout=limits.lock_timeout_s)
        request = TuneRequest.parse(values, lab.settings, lm.n_layers)
        if progress is not None:
            progress(0, desc="Starting the search…")
        yield skip, skip, "Starting the search…", skip, skip
        shared = None if lab.settings.zero_gpu else stop
        cap = lab.settings.tune_max_points
        for item in tune_stream(lab.models.id, model_key, request, cap, limits, shared):
            if isinstance(item, TuneResult):
                result = item
                continue
            done, total, desc = item
            if progress is not None:
                progress((done, total), desc=desc, unit="steps")
            yield skip, skip, f"Searching: step {done} of {total} ({desc})…", skip, skip
            if stop.requested and shared is None:
                break  # ZeroGPU: leaving the loop closes the stream, which stops the search
    except Exception as exc:  # noqa: BLE001 - every failure reaches the visitor as one message
        raise user_error(exc) from None
    if result is None:
        if stop.requested:
            yield skip, skip, "**Stopped** before any point was done.", skip, skip
            return
        raise user_error(RuntimeError("the search ended without a result"))
    why = "stopped" if stop.requested else "time" if result.stopped else None
    yield outputs(result, why, limits.budget_s)


def outputs(result: TuneResult, why: str | None = None, budget_s: float | None = None) -> Outputs:
    """The figure, the table, the summary, the JSON and the chosen settings of a search;
    ``why`` says it ended early: "stopped" (Stop pressed) or "time" (the budget)."""
    from sara_core.tune.plot import tune_figure

    data = result.to_json()
    n = len(result.points)
    if why == "stopped":
        prefix = f"**Stopped** after {n} points. "
    elif why == "time":
        prefix = f"**Cut short at the time limit ({budget_s or 0:g} s)** after {n} points. "
    else:
        prefix = ""
    summary = prefix + render.tune_summary(data)
    figure = tune_figure(data) if data["grid"] or data["prompted"] else None
    return figure, render.tune_table(data), summary, data, chosen_settings(data)


def chosen_settings(data: Mapping[str, Any]) -> Chosen:
    """Each method's chosen block and strength (methods without one are left out)."""
    return {
        m: {"layer": int(p["layer"]), "coeff": float(p["coeff"])}
        for m, p in (data.get("chosen") or {}).items()
        if p is not None and p.get("layer") is not None and p.get("coeff") is not None
    }


def pick_update(chosen: Chosen | None) -> Any:
    """The radio that picks which chosen setting to load: one choice per method chosen."""
    import gradio as gr

    choices = [(render.setting_label(m, s), m) for m, s in (chosen or {}).items()]
    return gr.update(choices=choices, value=choices[0][1] if choices else None)


def use_setting(chosen: Chosen | None, pick: str | None) -> tuple[Any, Any, Any, Any, str]:
    """ "Use this setting": the picked method's block, and each chosen method's strength, into
    the Steer tab's layer, λ and c; then the Steer tab. Returns (layer, λ, c, tabs, note)."""
    import gradio as gr

    from sara_lab.tabs.steer import ACTADD_COEFF_UI, SARA_COEFF_UI

    chosen = chosen or {}
    method = pick if pick in chosen else next(iter(chosen), None)
    if method is None:
        note = (
            "Nothing to load yet: run the search (a setting is chosen when one passes the guard)."
        )
        return gr.skip(), gr.skip(), gr.skip(), gr.skip(), note

    def strength(name: str, ui_max: float) -> Any:
        if name not in chosen:
            return gr.skip()
        value = chosen[name]["coeff"]
        wide = max(ui_max, abs(value))  # a chosen strength beyond the slider widens it
        return gr.update(value=value, minimum=-wide, maximum=wide)

    layer = chosen[method]["layer"]
    note = f"Loaded {render.setting_label(method, chosen[method])} into the Steer tab"
    others = [m for m in chosen if m != method and chosen[m]["layer"] != layer]
    if others:
        other = others[0]
        note += (
            f" ({METHOD_NAMES[other]}'s strength was chosen at block {chosen[other]['layer']}; "
            "the Steer tab steers both at one block)"
        )
    return (
        gr.update(value=layer),
        strength("sara", SARA_COEFF_UI),
        strength("actadd", ACTADD_COEFF_UI),
        gr.Tabs(selected="steer"),
        note + ".",
    )


def stop(lab: Lab, session: str | None) -> None:
    """The tab's Stop: the session's search ends at its next chunk of points."""
    if session:
        lab.stops.stop(f"{session}/tune")

"""The page: assembles the tabs into one ``gr.Blocks`` and wires their events to the handlers.

Each event names its inputs and outputs once, here. The comparison's inputs are the Steer tab's
widgets keyed by :class:`CompareRequest` field names (passed as keyword inputs, so the
``/compare`` API's parameters are those names, in that order); the sweep's follow
:class:`SweepRequest` the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from sara_core.engine.request import CompareRequest
from sara_core.models.loading import LoadedModel
from sara_lab import render
from sara_lab.handlers import (
    compare as compare_handlers,
    models as model_handlers,
    presets as preset_handlers,
    steering_files,
    sweep as sweep_handlers,
    tune as tune_handlers,
    validity as validity_handlers,
)
from sara_lab.handlers.sweep import SweepRequest
from sara_lab.handlers.tune import TuneRequest
from sara_lab.lab import Lab
from sara_lab.settings import Settings
from sara_lab.tabs import about, model, steer, sweep, tune
from sara_lab.theme import CSS, THEME

TITLE = "SARA steering lab"
PROGRESS = gr.Progress()  # a default gradio replaces with the event's own progress tracker
QUICK: dict[str, Any] = {"queue": False, "api_visibility": "private"}
FILES: dict[str, Any] = {
    "api_visibility": "private",
    "concurrency_limit": 4,
    "concurrency_id": "files",
}


@dataclass
class _Page:
    """What the page's events wire together: the lab, the tabs and the per-session states."""

    lab: Lab
    tabs: gr.Tabs
    model_md: gr.Markdown
    st: steer.SteerTab
    sw: sweep.SweepTab
    tn: tune.TuneTab
    mt: model.ModelTab
    model_state: gr.State
    stances_state: gr.State
    dilemmas_state: gr.State
    uploaded_state: gr.State  # an uploaded steering's tensors
    record_state: gr.State  # the key of the finished run in lab.records
    best_layer_state: gr.State
    chosen_state: gr.State  # the last search's chosen settings


def build_app(lab: Lab, start_loading: bool = True) -> gr.Blocks:
    """The Gradio Blocks app over ``lab``; ``start_loading`` loads the default model now, in the
    background (the page says *Loading model…* until it is ready)."""
    if start_loading:
        lab.models.start()
    lm0 = lab.models.loaded()

    age = lab.settings.file_max_age_s
    # uploads and every file handed out are deleted once they are ``age`` seconds old
    delete_cache = (max(10, min(600, age // 4)), age)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=delete_cache) as demo:
        page = _layout(lab, lm0, age)
        _wire_model(demo, page)
        _wire_presets(page)
        _wire_compare(page)
        _wire_sweep(page)
        _wire_tune(page)
    return demo


def _layout(lab: Lab, lm0: LoadedModel | None, age: int) -> _Page:
    """The session states, the title, the model line and the tabs, in the current Blocks."""
    model_state = gr.State(lab.models.default)
    stances_state = gr.State(lab.presets.stances)
    dilemmas_state = gr.State(lab.presets.dilemmas)
    uploaded_state = gr.State(None, time_to_live=age)
    record_state = gr.State(None)
    best_layer_state = gr.State(None)
    chosen_state = gr.State(None)

    gr.Markdown(
        f"# {TITLE}\nSteer what a language model argues with **SARA** and compare it with "
        "**ActAdd**: type a dilemma, pick a stance, press the button.",
        elem_id="title",
    )
    model_md = gr.Markdown(
        render.model_markdown(lm0, lab.models.error(), lab.models.default),
        elem_id="model-status",
    )
    with gr.Tabs() as tabs:
        with gr.Tab("Steer", id="steer"):
            st = steer.build(lab, lm0)
        with gr.Tab("Layer sweep", id="sweep"):
            sw = sweep.build(lab)
        with gr.Tab("Find a setting", id="tune"):
            tn = tune.build(lab)
        with gr.Tab("Model", id="model"):
            mt = model.build(lab, lm0)
        with gr.Tab("About SARA", id="about"):
            about.build()
    return _Page(
        lab=lab,
        tabs=tabs,
        model_md=model_md,
        st=st,
        sw=sw,
        tn=tn,
        mt=mt,
        model_state=model_state,
        stances_state=stances_state,
        dilemmas_state=dilemmas_state,
        uploaded_state=uploaded_state,
        record_state=record_state,
        best_layer_state=best_layer_state,
        chosen_state=chosen_state,
    )


def _wire_model(demo: gr.Blocks, page: _Page) -> None:
    """The page load, switching the model and checking whether it can show a stance at all."""
    lab, st, mt, f = page.lab, page.st, page.mt, page.st.fields
    validity_views = [st.validity, mt.validity]
    page_quiet: dict[str, Any] = {
        "api_visibility": "private",
        "concurrency_limit": None,
        "concurrency_id": "page",
        "show_progress": "hidden",
    }

    def show_validity(name: str | None) -> tuple[Any, Any]:
        return validity_handlers.show(lab, name)

    def check_validity(
        name: str | None, request: gr.Request | None = None, progress: Any = PROGRESS
    ) -> Iterator[tuple[Any, Any]]:
        session = getattr(request, "session_hash", None)
        yield from validity_handlers.check(lab, name, progress, session)

    def stop_validity(request: gr.Request | None = None) -> None:
        validity_handlers.stop(lab, getattr(request, "session_hash", None))

    demo.load(
        lambda name: model_handlers.page_load(lab, name),
        inputs=[page.model_state],
        outputs=[page.model_md, f["layer"], st.run, mt.info],
        api_visibility="private",
        concurrency_limit=None,
        concurrency_id="page",
        show_progress="minimal",
    ).then(show_validity, [page.model_state], validity_views, **page_quiet)

    def switch_model(
        choice: str | None, custom: str | None, current: str | None, progress: Any = PROGRESS
    ) -> tuple[Any, ...]:
        return model_handlers.switch_model(lab, choice, custom, current, progress)

    mt.load.click(
        switch_model,
        inputs=[mt.pick, mt.custom, page.model_state],
        outputs=[
            page.model_state,
            page.model_md,
            f["layer"],
            mt.info,
            page.uploaded_state,
            mt.note,
        ],
        api_visibility="private",
        concurrency_id="load",
        concurrency_limit=1,
    ).success(show_validity, [page.model_state], validity_views, **page_quiet).then(
        model_handlers.strength_updates,
        [page.model_state],
        [f["sara_coeff"], f["actadd_coeff"]],
        **page_quiet,
    )
    mt.check.click(
        check_validity,
        inputs=[page.model_state],
        outputs=validity_views,
        api_visibility="private",
        concurrency_id="validity",
        concurrency_limit=1,
    )
    mt.check_stop.click(stop_validity, None, None, **QUICK)


def _wire_presets(page: _Page) -> None:
    """The stance and dilemma pickers, the swap, hand edits and uploaded preset files."""
    lab, st, f, p = page.lab, page.st, page.st.fields, page.st.pickers
    uploaded_state = page.uploaded_state
    stances_state, dilemmas_state = page.stances_state, page.dilemmas_state
    p.stance.change(
        lambda name, stances: preset_handlers.pick_stance(lab, name, stances),
        inputs=[p.stance, stances_state],
        outputs=[f["attract"], f["repel"], p.stance_md, uploaded_state, st.steering_md],
        **QUICK,
    )
    p.dilemma_pick.change(
        lambda key, prefix, dilemmas: preset_handlers.pick_dilemma(lab, key, prefix, dilemmas),
        inputs=[p.dilemma_pick, p.prefix, dilemmas_state],
        outputs=f["dilemma"],
        **QUICK,
    )
    p.swap.click(
        preset_handlers.swap,
        inputs=[f["attract"], f["repel"]],
        outputs=[f["attract"], f["repel"], uploaded_state, st.steering_md],
        **QUICK,
    )
    for box in (f["attract"], f["repel"]):
        box.input(  # type: ignore[attr-defined]
            preset_handlers.edited,
            inputs=[uploaded_state],
            outputs=[uploaded_state, st.steering_md],
            **QUICK,
        )
    st.preset_file.upload(
        lambda path, stances, dilemmas: preset_handlers.upload_presets(
            lab, path, stances, dilemmas
        ),
        inputs=[st.preset_file, stances_state, dilemmas_state],
        outputs=[stances_state, dilemmas_state, p.stance, p.dilemma_pick, st.preset_md],
        **FILES,
    )


def _wire_compare(page: _Page) -> None:
    """The ``/compare`` event, its analysis, Stop, and the steering file upload and forget."""
    lab, st, f = page.lab, page.st, page.st.fields

    # ``layer`` is named in the signatures below only so the APIs document its default,
    # null (the model's default block): its slider has no value until the page loads.
    # Gradio runs several comparisons at once; each model's scheduler batches them, and it,
    # not Gradio's queue, serialises the model (the sweep holds the model the same way).
    def compare(
        model_name: str | None,
        uploaded: Any,
        request: gr.Request | None = None,
        *,
        layer: Any = None,
        **fields: Any,
    ) -> Iterator[tuple[Any, ...]]:
        session = getattr(request, "session_hash", None)
        values = {**fields, "layer": layer}
        yield from compare_handlers.compare_event(lab, values, model_name, uploaded, session)

    def stop(request: gr.Request | None = None) -> None:
        compare_handlers.stop(lab, getattr(request, "session_hash", None))

    run = st.run.click(
        compare,
        inputs=[page.model_state, page.uploaded_state],
        inputs_kwargs={name: f[name] for name in CompareRequest.names()},
        outputs=[*st.answers[:3], st.status, st.answers[3], page.record_state],
        api_name="compare",
        scroll_to_output=True,
        api_description="Answer a dilemma: original, SARA-steered, ActAdd-steered, a status "
        "line, and (last) the prompted baseline with the stance written into the prompt.",
        preprocess=False,  # the handler checks every raw value itself (API callers included)
        concurrency_id="compare",
        concurrency_limit=lab.settings.concurrency,
        show_progress="minimal",
    )
    run.success(
        lambda key: compare_handlers.analysis_event(lab, key),
        inputs=[page.record_state],
        outputs=[st.heatmap, st.units, st.similarity, st.summary, st.download],
        api_visibility="private",
        concurrency_limit=2,
        concurrency_id="render",
        show_progress="minimal",
    )
    st.stop.click(stop, None, None, **QUICK)
    st.upload.upload(
        lambda path, name: steering_files.upload_steering(lab, path, name),
        inputs=[st.upload, page.model_state],
        outputs=[
            page.uploaded_state,
            st.steering_md,
            *(f[n] for n in ("attract", "repel", "layer", "sara_coeff", "actadd_coeff")),
            *(f[n] for n in ("sign", "actadd_mode")),
        ],
        **FILES,
    )
    st.forget.click(
        steering_files.forget_steering, None, [page.uploaded_state, st.steering_md], **QUICK
    )


def _wire_sweep(page: _Page) -> None:
    """The ``/sweep`` event, its Stop, and copying the best block to the Steer tab."""
    lab, sw, f = page.lab, page.sw, page.st.fields

    def run_sweep(
        model_name: str | None,
        request: gr.Request | None = None,
        progress: Any = PROGRESS,
        *,
        layer: Any = None,
        **values: Any,
    ) -> Iterator[tuple[Any, ...]]:
        session = getattr(request, "session_hash", None)
        values = {**values, "layer": layer}
        yield from sweep_handlers.sweep(lab, values, model_name, progress, session)

    def stop_sweep(request: gr.Request | None = None) -> None:
        sweep_handlers.stop(lab, getattr(request, "session_hash", None))

    sources = {
        **f,  # texts, k, coefficients and layer come from the Steer tab
        "answers": sw.answers,
        "max_new_tokens": sw.max_new_tokens,
        "stride": sw.stride,
    }
    sw.run.click(
        run_sweep,
        inputs=[page.model_state],
        inputs_kwargs={name: sources[name] for name in SweepRequest.names()},
        outputs=[sw.plot, sw.table, sw.summary, page.best_layer_state],
        api_name="sweep",
        api_description="SARA's steering signal at every n-th block: plot, table, summary.",
        preprocess=False,
        concurrency_id="sweep",
        concurrency_limit=2,
    )
    sw.stop.click(stop_sweep, None, None, **QUICK)
    sw.use_best.click(
        lambda best: gr.update(value=best) if best is not None else gr.skip(),
        inputs=[page.best_layer_state],
        outputs=[f["layer"]],
        **QUICK,
    )


def _wire_tune(page: _Page) -> None:
    """The ``/tune`` event, its Stop, and using a chosen setting in the Steer tab."""
    lab, tn, f = page.lab, page.tn, page.st.fields

    def run_tune(
        model_name: str | None,
        request: gr.Request | None = None,
        progress: Any = PROGRESS,
        **values: Any,
    ) -> Iterator[tuple[Any, ...]]:
        session = getattr(request, "session_hash", None)
        yield from tune_handlers.tune_event(lab, values, model_name, progress, session)

    def stop_tune(request: gr.Request | None = None) -> None:
        tune_handlers.stop(lab, getattr(request, "session_hash", None))

    tune_sources = {
        **f,  # texts, k, scope, sign and ActAdd mode come from the Steer tab
        "methods": tn.methods,
        "quick": tn.quick,
        "max_ppl_ratio": tn.max_ppl_ratio,
    }
    tn.run.click(
        run_tune,
        inputs=[page.model_state],
        inputs_kwargs={name: tune_sources[name] for name in TuneRequest.names()},
        outputs=[tn.plot, tn.table, tn.summary, tn.data, page.chosen_state],
        api_name="tune",
        api_description="Find a block and strength for SARA and ActAdd: the effect-against-"
        "cost figure, the chosen settings, a summary and the whole search as JSON.",
        preprocess=False,
        concurrency_id="tune",
        concurrency_limit=2,
    ).then(tune_handlers.pick_update, page.chosen_state, tn.pick, **QUICK)
    tn.stop.click(stop_tune, None, None, **QUICK)
    tn.use.click(
        tune_handlers.use_setting,
        inputs=[page.chosen_state, tn.pick],
        outputs=[f["layer"], f["sara_coeff"], f["actadd_coeff"], page.tabs, tn.note],
        **QUICK,
    )


def launch(demo: gr.Blocks, settings: Settings, **kwargs: Any) -> Any:
    """Queue and launch with the lab's theme, limits and offline-friendly settings; ``kwargs``
    override any launch option (tests pass a free port)."""
    demo.queue(default_concurrency_limit=1, max_size=settings.queue_size)
    # every running comparison holds a worker thread while it waits for its next token: leave
    # room for the quick events (Stop among them) beside the most comparisons that may run
    threads = settings.concurrency + 40
    options: dict[str, Any] = {
        "server_name": settings.server_name,
        "server_port": settings.server_port,
        "theme": THEME,
        "css": CSS,
        "max_file_size": "20mb",
        "footer_links": ["api", "settings"],
        "show_error": False,
        "max_threads": threads,
        "state_session_capacity": settings.max_sessions,
    }
    options.update(kwargs)
    return demo.launch(**options)

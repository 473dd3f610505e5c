"""The Steer tab: the dilemma, the stance, the settings, the three answers and what SARA did.

The widgets of a comparison's values are keyed by the :class:`CompareRequest` field names, so the
event's inputs, the handler's parsing and the ``/compare`` API all follow that one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr
from gradio.components import Component

from sara_core.engine.request import CompareRequest
from sara_core.measures.model_validity import stored_validity
from sara_core.models.loading import LoadedModel
from sara_core.steering.actadd import MODES
from sara_core.steering.sara import SCOPES, SIGNS
from sara_core.validation import MAX_PROMPT_TOKENS, MAX_TEXT_CHARS
from sara_lab.defaults import initial_example, initial_strengths, layer_label, model_defaults
from sara_lab.handlers.models import READY
from sara_lab.handlers.presets import dilemma_choices, stance_choices, stance_markdown
from sara_lab.render import UNIT_HEADERS, model_size, validity_line

if TYPE_CHECKING:
    from sara_lab.lab import Lab

K_UI_MAX = 64
SARA_COEFF_UI = 5.0
ACTADD_COEFF_UI = 20.0
LAYERS_BEFORE_LOAD = 64  # the slider's range until the page load sizes it for the model
ANSWERS = (
    ("original", "Original"),
    ("sara", "SARA"),
    ("actadd", "ActAdd"),
    ("prompted", "Prompted (stance in the prompt)"),
)


@dataclass
class Pickers:
    """The helpers that fill the texts: the dilemma bank, the stance presets and the swap."""

    dilemma_pick: gr.Dropdown
    prefix: gr.Checkbox
    stance: gr.Dropdown
    swap: gr.Button
    stance_md: gr.Markdown


@dataclass
class SteerTab:
    """The Steer tab's widgets; ``fields`` holds one per CompareRequest field, in API order."""

    fields: dict[str, Component]
    pickers: Pickers
    run: gr.Button
    stop: gr.Button
    status: gr.Markdown
    answers: list[gr.Textbox]
    summary: gr.Markdown
    heatmap: gr.Plot
    units: gr.Dataframe
    similarity: gr.Plot
    download: gr.DownloadButton
    upload: gr.File
    forget: gr.Button
    steering_md: gr.Markdown
    preset_file: gr.File
    preset_md: gr.Markdown
    validity: gr.Markdown  # can this model show a stance at all?


def answer_box(label: str, elem_id: str) -> gr.Textbox:
    """One of the side-by-side answers: read-only, scrolling, with a copy button."""
    return gr.Textbox(
        label=label,
        lines=12,
        max_lines=12,
        autoscroll=True,
        interactive=False,
        buttons=["copy"],
        elem_id=elem_id,
        elem_classes=["answer"],
    )


def layer_slider(lm: LoadedModel | None) -> gr.Slider:
    """Blocks 0..n-1, on the model's default block; each page load sizes it for its model.

    It holds no value until then, so the ``/compare`` and ``/sweep`` APIs document null, "the
    model's default block", as the layer's default whatever model a session uses; it stays
    hidden until the page load gives it one (a slider without a value shows a made-up number).
    """
    slider = gr.Slider(
        minimum=0,
        maximum=(lm.n_layers - 1) if lm else LAYERS_BEFORE_LOAD - 1,
        step=1,
        label=layer_label(lm) if lm else "Layer",
        visible=False,
        elem_id="layer",
    )
    slider.value = None  # Slider turns a None value into its minimum; the API needs None
    return slider


def _texts(lab: Lab) -> tuple[dict[str, Component], Pickers]:
    """The left column: the dilemma, its bank, the stance and the attract/repel boxes."""
    dilemma0, stance0 = initial_example(lab.presets, model_defaults(lab.models.default))
    texts: dict[str, Component] = {}
    texts["dilemma"] = gr.Textbox(
        value=dilemma0,
        label="Dilemma (the prompt the model answers)",
        info=f"Up to {MAX_PROMPT_TOKENS} tokens.",
        lines=3,
        max_lines=8,
        max_length=MAX_TEXT_CHARS,
        elem_id="dilemma",
    )
    with gr.Row():
        dilemma_pick = gr.Dropdown(
            choices=dilemma_choices(lab.presets.dilemmas),
            # the bank shows the example the page opens with
            value=next((d.id for d in lab.presets.dilemmas if dilemma0.endswith(d.text)), None),
            label="Dilemma bank",
            scale=3,
            elem_id="dilemma-bank",
        )
        prefix = gr.Checkbox(
            value=True,
            label="Add the paper's instruction",
            info="“take an unambiguous moral stance”",
            scale=2,
        )
    with gr.Row(equal_height=True):
        stance = gr.Dropdown(
            choices=stance_choices(lab.presets.stances),
            value=stance0.name,
            label="Stance preset (fills attract and repel; edit freely)",
            scale=4,
            elem_id="stance",
        )
        swap = gr.Button("⇅ Swap attract / repel", scale=1, size="md")
    stance_md = gr.Markdown(stance_markdown(stance0))
    with gr.Row():
        for key, label, text in (
            ("attract", "Attract: steer towards", stance0.attract),
            ("repel", "Repel: steer away from", stance0.repel),
        ):
            texts[key] = gr.Textbox(
                value=text,
                label=label,
                lines=2,
                max_lines=6,
                max_length=MAX_TEXT_CHARS,
                elem_id=key,
            )
    with gr.Row(equal_height=True):
        texts["prompted"] = gr.Checkbox(
            value=True,
            label="Also answer with the stance in the prompt",
            info="the baseline steering has to beat: no steering, the instruction is simply "
            "written before the question",
            scale=2,
            elem_id="prompted",
        )
        texts["instruction"] = gr.Textbox(
            value="",
            label="Instruction for the prompted answer",
            placeholder="empty: the attract text",
            lines=1,
            max_lines=3,
            max_length=MAX_TEXT_CHARS,
            scale=3,
            elem_id="instruction",
        )
    return texts, Pickers(dilemma_pick, prefix, stance, swap, stance_md)


def _settings(lab: Lab, lm: LoadedModel | None) -> dict[str, Component]:
    """The right column: where and how strongly to steer, decoding, and the advanced options."""
    cap = lab.settings.max_new_tokens
    sara0, actadd0 = initial_strengths(lm.name if lm else lab.models.default)
    out: dict[str, Component] = {"layer": layer_slider(lm)}
    out["k"] = gr.Slider(
        0, K_UI_MAX, value=0, step=1, label="k: SVD directions kept (0 = auto, the shortest text)"
    )
    out["sara_coeff"] = gr.Slider(
        -max(SARA_COEFF_UI, abs(sara0)),
        max(SARA_COEFF_UI, abs(sara0)),
        value=sara0,
        step=0.1,
        label="SARA coefficient λ (paper: 1)",
        elem_id="sara-coeff",
    )
    out["actadd_coeff"] = gr.Slider(
        -max(ACTADD_COEFF_UI, abs(actadd0)),
        max(ACTADD_COEFF_UI, abs(actadd0)),
        value=actadd0,
        step=0.5,
        label="ActAdd coefficient c",
    )
    out["scope"] = gr.Radio(
        list(SCOPES),
        value="prompt",
        label="SARA scope",
        info="prompt: steer the question; every-step: also each new token (the author's code)",
    )
    with gr.Accordion("Decoding", open=False):
        out["max_new_tokens"] = gr.Slider(
            1, cap, value=80, step=1, label=f"Max new tokens (up to {cap})"
        )
        out["do_sample"] = gr.Checkbox(value=False, label="Sample (off = greedy, reproducible)")
        with gr.Row():
            out["temperature"] = gr.Slider(0.05, 2.0, value=0.8, step=0.05, label="Temperature")
            out["top_p"] = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Top-p")
        out["seed"] = gr.Number(value=0, precision=0, minimum=0, label="Seed")
    with gr.Accordion("Advanced", open=False):
        out["sign"] = gr.Radio(
            list(SIGNS),
            value="raw",
            label="SARA singular-vector signs",
            info="raw: as the SVD returns them (the author's code); canonical: the same on "
            "every machine",
        )
        out["actadd_mode"] = gr.Radio(
            list(MODES),
            value="prefix",
            label="ActAdd mode",
            info="prefix: the prompt's first positions (the authors'); every-position: the mean "
            "difference at every position, new tokens included",
        )
    return out


def _run_row(lm: LoadedModel | None) -> tuple[gr.Button, gr.Button, gr.Markdown, gr.Markdown]:
    """The compare and Stop buttons, the status line and the model's validity line."""
    with gr.Row():
        run = gr.Button(
            READY if lm else "Loading the model…",
            variant="primary",
            size="lg",
            scale=4,
            interactive=lm is not None,
            elem_id="compare-btn",
        )
        stop = gr.Button("■ Stop", variant="stop", size="lg", scale=1, elem_id="compare-stop")
    status = gr.Markdown("", elem_id="run-status", label="status")
    validity = gr.Markdown(
        validity_line(stored_validity(lm.name), model_size(lm)) if lm else "",
        elem_id="validity-line",
    )
    return run, stop, status, validity


def _analysis() -> tuple[gr.Markdown, gr.Plot, gr.Dataframe, gr.Plot]:
    """What SARA did: the summary, the per-unit heatmap, the top units and the similarity."""
    gr.Markdown("### What SARA did")
    summary = gr.Markdown("Run a comparison to see SARA's per-unit scores here.")
    heatmap = gr.Plot(
        show_label=False, label="Per-unit similarity and score", format="png", elem_id="heatmap"
    )
    with gr.Row(equal_height=False):
        units = gr.Dataframe(
            headers=UNIT_HEADERS,
            label="Most boosted and most suppressed units",
            interactive=False,
            scale=3,
            elem_id="top-units",
        )
        similarity = gr.Plot(
            show_label=False,
            label="Reduced-matrix similarity",
            format="png",
            scale=2,
            elem_id="similarity",
        )
    return summary, heatmap, units, similarity


def _steering_files() -> tuple[gr.DownloadButton, gr.File, gr.Button, gr.Markdown]:
    """The accordion to download the last run's steering or upload one to reuse."""
    with gr.Accordion("Save or reuse a steering", open=False):
        gr.Markdown(
            "Download the steering of the last run (one `.safetensors` file: the attract/repel "
            "activations for SARA and h₊ − h₋ for ActAdd, with the settings), or upload one to "
            "apply it to a new dilemma."
        )
        with gr.Row():
            download = gr.DownloadButton(
                "Download this steering", visible=False, elem_id="download"
            )
            upload = gr.File(
                label="Upload a steering (.safetensors)",
                file_types=[".safetensors"],
                type="filepath",
                elem_id="upload-steering",
            )
            forget = gr.Button("Forget the uploaded steering", size="sm")
        steering_md = gr.Markdown("")
    return download, upload, forget, steering_md


def _preset_files() -> tuple[gr.File, gr.Markdown]:
    """The accordion to add a session's own stances and dilemmas from a file."""
    with gr.Accordion("Add your own stances or dilemmas", open=False):
        gr.Markdown(
            "A YAML, JSON or TOML file with `stances:` (name, attract, repel) and/or `dilemmas:` "
            "(title, text); they are added for your session only. See docs/presets.md for the "
            "format."
        )
        preset_file = gr.File(
            label="Preset file", file_types=[".yaml", ".yml", ".json", ".toml"], type="filepath"
        )
        preset_md = gr.Markdown("")
    return preset_file, preset_md


def _examples(lab: Lab, fields: dict[str, Component], pickers: Pickers) -> None:
    """The clickable examples (a dilemma and a stance), if the presets have any."""
    examples, labels = lab.presets.examples()
    if examples:
        gr.Examples(
            examples=examples,
            inputs=[fields["dilemma"], pickers.stance],
            example_labels=labels,
            label="Try these (click one, then press the button)",
            examples_per_page=6,
        )


def build(lab: Lab, lm: LoadedModel | None) -> SteerTab:
    """Lay the Steer tab out in the current ``gr.Tab``; ``lm`` is the model if already loaded."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            texts, pickers = _texts(lab)
        with gr.Column(scale=2):
            settings = _settings(lab, lm)
    widgets = {**texts, **settings}
    fields = {name: widgets[name] for name in CompareRequest.names()}
    run, stop, status, validity = _run_row(lm)
    with gr.Row(equal_height=True):
        answers = [answer_box(label, f"answer-{key}") for key, label in ANSWERS]
    summary, heatmap, units, similarity = _analysis()
    download, upload, forget, steering_md = _steering_files()
    preset_file, preset_md = _preset_files()
    _examples(lab, fields, pickers)
    return SteerTab(
        fields=fields,
        pickers=pickers,
        run=run,
        stop=stop,
        status=status,
        answers=answers,
        summary=summary,
        heatmap=heatmap,
        units=units,
        similarity=similarity,
        download=download,
        upload=upload,
        forget=forget,
        steering_md=steering_md,
        preset_file=preset_file,
        preset_md=preset_md,
        validity=validity,
    )

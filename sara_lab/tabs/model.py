"""The Model tab: the loaded model's facts, and another model for this session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from sara_core.measures.model_validity import stored_validity
from sara_core.models.loading import LoadedModel
from sara_lab.handlers.models import model_choices
from sara_lab.render import validity_markdown

if TYPE_CHECKING:
    from sara_lab.lab import Lab


@dataclass
class ModelTab:
    pick: gr.Dropdown
    custom: gr.Textbox
    load: gr.Button
    note: gr.Markdown
    info: gr.JSON
    validity: gr.Markdown
    check: gr.Button
    check_stop: gr.Button


def build(lab: Lab, lm: LoadedModel | None) -> ModelTab:
    """Lay the Model tab out in the current ``gr.Tab``; ``lm`` is the model if already loaded."""
    settings, default = lab.settings, lab.models.default
    gr.Markdown(
        "The model is loaded once and shared; switching here affects only your session. Models "
        "that are not on this machine need the internet (set `SARA_ONLINE=1`)."
        + (" This public demo serves only the models listed." if settings.public else "")
    )
    choices = model_choices(settings)
    with gr.Row():
        pick = gr.Dropdown(
            choices=choices,
            value=default if default in choices else None,
            label="Model",
            scale=3,
        )
        custom = gr.Textbox(
            label="…or any hub id, local folder, .gguf file, owner/repo:file.gguf or random:NAME",
            placeholder="e.g. HuggingFaceTB/SmolLM2-360M-Instruct, /path/to/model, "
            "/path/to/model.gguf, or random:gemma-2-2b (a real shape with random weights: its "
            "cost, no download)",
            visible=not settings.public,
            scale=3,
        )
        load = gr.Button("Load model", scale=1)
    note = gr.Markdown("")
    info = gr.JSON(value=lm.describe() if lm else None, label="Loaded model")
    gr.Markdown("### Can this model show it?")
    validity = gr.Markdown(
        validity_markdown(stored_validity(lm.name), lm.name) if lm else "", elem_id="validity"
    )
    with gr.Row():
        check = gr.Button("Check this model", scale=3, elem_id="validity-check")
        check_stop = gr.Button("■ Stop", variant="stop", scale=1, elem_id="validity-stop")
    return ModelTab(pick, custom, load, note, info, validity, check, check_stop)

"""The Find a setting tab: which block and strength steer this dilemma without breaking the answer.

Its texts and SARA/ActAdd options are the Steer tab's; "Use this setting" loads a chosen
setting back into the Steer tab's controls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from sara_core.tune.grid import DEFAULT_MAX_PPL_RATIO, METHODS
from sara_lab.render import TUNE_HEADERS, TUNE_NAMES

if TYPE_CHECKING:
    from sara_lab.lab import Lab


@dataclass
class TuneTab:
    """The search's own options (``fields`` keyed by TuneRequest names) and its results."""

    methods: gr.CheckboxGroup
    quick: gr.Checkbox
    max_ppl_ratio: gr.Slider
    run: gr.Button
    stop: gr.Button
    summary: gr.Markdown
    plot: gr.Plot
    table: gr.Dataframe
    pick: gr.Radio
    use: gr.Button
    note: gr.Markdown
    data: gr.JSON


def build(lab: Lab) -> TuneTab:
    """Lay the tab out in the current ``gr.Tab``."""
    cap = lab.settings.tune_max_points
    gr.Markdown(
        "Which block and strength should you use? For the dilemma and stance of the **Steer** "
        "tab, this tries SARA and ActAdd at a few blocks and strengths, each with a short "
        "answer. A setting's **effect** is how much more the steered model prefers to continue "
        "with the attract text than with the repel text; its **cost** is how much more "
        "perplexing its answer is than the unsteered one. The chosen setting is the largest "
        "effect whose answer passes the guard (not too perplexing, no loops)."
        + (f" This public demo searches at most {cap} points." if lab.settings.public else "")
    )
    with gr.Row(equal_height=True):
        methods = gr.CheckboxGroup(
            [(TUNE_NAMES[m], m) for m in METHODS],
            value=list(METHODS),
            label="Methods",
            elem_id="tune-methods",
        )
        quick = gr.Checkbox(
            value=True,
            label="Quick search",
            info="4 blocks x 3 strengths per method (off: 9 x 5, several times longer)",
            elem_id="tune-quick",
        )
        max_ppl_ratio = gr.Slider(
            1.0,
            5.0,
            value=DEFAULT_MAX_PPL_RATIO,
            step=0.1,
            label="Guard: highest perplexity ratio allowed",
            info="a steered answer at most this many times as perplexing as the unsteered one",
            elem_id="tune-ratio",
        )
    with gr.Row():
        run = gr.Button("Find a setting", variant="primary", scale=3, elem_id="tune-run")
        stop = gr.Button("■ Stop", variant="stop", scale=1, elem_id="tune-stop")
    summary = gr.Markdown("", label="summary", elem_id="tune-summary")
    plot = gr.Plot(show_label=False, label="Effect against cost", format="png", elem_id="tune-plot")
    table = gr.Dataframe(
        headers=TUNE_HEADERS,
        interactive=False,
        label="Chosen settings and the baselines",
        wrap=True,
        column_widths=["17%", "8%", "9%", "9%", "11%", "46%"],
        elem_id="tune-table",
    )
    with gr.Row(equal_height=True):
        pick = gr.Radio(
            [],
            label="Setting to load (its block; each method's chosen strength)",
            scale=3,
            elem_id="tune-pick",
        )
        use = gr.Button("Use this setting", scale=1, elem_id="tune-use")
    note = gr.Markdown("", elem_id="tune-note")
    with gr.Accordion("The whole search (JSON)", open=False):
        data = gr.JSON(label="grid, chosen settings and baselines", elem_id="tune-json")
    return TuneTab(
        methods, quick, max_ppl_ratio, run, stop, summary, plot, table, pick, use, note, data
    )

"""The Layer sweep tab: which block to steer, for the Steer tab's dilemma and stance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import gradio as gr

from sara_lab.render import sweep_headers

if TYPE_CHECKING:
    from sara_lab.lab import Lab


@dataclass
class SweepTab:
    """The sweep's own options and results (its texts and coefficients are the Steer tab's)."""

    answers: gr.Checkbox
    max_new_tokens: gr.Slider
    stride: gr.Slider
    run: gr.Button
    stop: gr.Button
    use_best: gr.Button
    summary: gr.Markdown
    plot: gr.Plot
    table: gr.Dataframe


def build(lab: Lab) -> SweepTab:
    """Lay the sweep tab out in the current ``gr.Tab``."""
    cap = lab.settings.sweep_max_new_tokens
    gr.Markdown(
        "Which layer should you steer? For the dilemma and stance of the **Steer** tab, this "
        "computes SARA's signal at every block (one forward pass per text), and optionally "
        "short greedy answers at each block (slower)."
    )
    with gr.Row():
        answers = gr.Checkbox(value=False, label="Also generate short answers at each block")
        max_new_tokens = gr.Slider(
            1, cap, value=min(24, cap), step=1, label="New tokens per answer"
        )
        stride = gr.Slider(1, 8, value=1, step=1, label="Every n-th block")
    with gr.Row():
        run = gr.Button("Run the layer sweep", variant="primary", scale=3)
        stop = gr.Button("■ Stop", variant="stop", scale=1, elem_id="sweep-stop")
        use_best = gr.Button("Use that block in the Steer tab", scale=1)
    summary = gr.Markdown("", label="summary", elem_id="sweep-summary")
    plot = gr.Plot(
        show_label=False, label="Steering signal by layer", format="png", elem_id="sweep-plot"
    )
    table = gr.Dataframe(
        headers=sweep_headers(False), interactive=False, label="Per-block numbers", wrap=True
    )
    return SweepTab(answers, max_new_tokens, stride, run, stop, use_best, summary, plot, table)

"""The About SARA tab: the method in plain words (about.md) and a step-by-step figure."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from sara_core.plots.method import method_figure

ABOUT_FILE = Path(__file__).with_name("about.md")


@dataclass
class AboutTab:
    text: gr.Markdown
    figure: gr.Plot


def about_text() -> str:
    """The tab's explanation, kept as markdown beside this module."""
    return ABOUT_FILE.read_text(encoding="utf-8")


def build() -> AboutTab:
    """Lay the About tab out in the current ``gr.Tab``."""
    text = gr.Markdown(about_text())
    figure = gr.Plot(
        show_label=False, value=method_figure(), label="SARA step by step", format="png"
    )
    gr.Markdown("API: this app serves a `/compare` endpoint for `gradio_client` (see docs/app.md).")
    return AboutTab(text, figure)

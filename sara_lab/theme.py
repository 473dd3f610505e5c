"""The page's look: a Soft theme on system fonts only (so the page fetches nothing from the
internet) and a little CSS for readable answers on a projector."""

from __future__ import annotations

import gradio as gr

THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="amber",
    neutral_hue="slate",
    font=[gr.themes.Font("system-ui"), gr.themes.Font("Segoe UI"), "sans-serif"],
    font_mono=[gr.themes.Font("ui-monospace"), gr.themes.Font("Menlo"), "monospace"],
)

CSS = """
.gradio-container { max-width: 1500px !important; }
#title h1 { margin-bottom: 0.1em; }
#model-status { font-size: 0.95rem; }
.answer textarea { font-size: 1.08rem !important; line-height: 1.45 !important; }
#run-status { min-height: 1.6em; }
#compare-btn { font-size: 1.15rem; }
"""

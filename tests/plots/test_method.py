"""The teaching schematic (sara_core.plots.method)."""

from __future__ import annotations

from plot_checks import png, texts

from sara_core.plots.method import method_figure


def test_method_figure_draws_the_four_steps():
    fig = method_figure()
    text = texts(fig)
    for step in ("1. activations", "2. thin SVD", "3. compare", "4. rescale"):
        assert step in text
    assert "R = U_k S_k" in text and "c_a[i] − c_r[i]" in text
    png(fig)

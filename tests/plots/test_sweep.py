"""The layer sweep's figure (sara_core.plots.sweep)."""

from __future__ import annotations

import pytest
from plot_checks import png, texts

from sara_core.plots.sweep import sweep_plot
from sara_core.tune.layer_sweep import LayerStats, SweepResult


def _sweep(answers: bool, layers=(0, 2, 4, 6)) -> SweepResult:
    stats = []
    for i, layer in enumerate(layers):
        stats.append(
            LayerStats(
                layer=layer,
                k=5,
                mean_abs_score=0.1 * (i + 1),
                frac_boosted=0.4,
                frac_suppressed=0.6,
                mean_cos_attract=0.5,
                mean_cos_repel=0.45,
                actadd_rel_norm=0.2 * (i + 1),
                sara_answer="a" if answers else None,
                actadd_answer="b" if answers else None,
                sara_differs=(i % 2 == 0) if answers else None,
                actadd_differs=True if answers else None,
            )
        )
    return SweepResult("tiny", "p", "a", "r", None, "raw", layers=stats)


@pytest.mark.parametrize("answers", [False, True])
def test_sweep_plot_shows_every_measure_per_layer(answers):
    sweep = _sweep(answers)
    fig = sweep_plot(sweep, highlight=2)
    text = texts(fig)
    assert "mean |score|" in text and "mean cosine" in text and "‖h₊ − h₋‖ / ‖h‖" in text
    assert "block (layer) index" in text
    assert "k = 5 (auto: shortest prompt)" in text
    assert ("Answer differs" in text) == answers
    main_axes = [ax for ax in fig.axes if ax.get_ylabel() == "mean |score|"]
    xs = main_axes[0].lines[0].get_xdata()
    assert list(xs) == [0, 2, 4, 6]
    assert sweep.best_layer() == 6
    png(fig)


def test_sweep_plot_needs_layers():
    with pytest.raises(ValueError):
        sweep_plot(SweepResult("tiny", "p", "a", "r", None, "raw"))

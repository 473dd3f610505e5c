"""The figure of a setting search (sara_core.tune_plot), from a search's JSON."""

from __future__ import annotations

from matplotlib.collections import PathCollection

from sara_core.tune_plot import save_tune_figure, tune_figure


def _row(method, layer, coeff, effect, ratio, ok, held=None):
    return {
        "method": method,
        "layer": layer,
        "coeff": coeff,
        "effect": effect,
        "ppl_ratio": ratio,
        "admissible": ok,
        "held_out_effect": held,
    }


DATA = {
    "model": "tiny",
    "settings": {"max_ppl_ratio": 1.5},
    "grid": [
        _row("sara", 3, 1.0, 0.2, 1.1, True),
        _row("sara", 3, 4.0, 0.6, 4.0, False),
        _row("actadd", 3, 4.0, 0.1, 1.2, True),
        _row("actadd", 3, 8.0, None, None, False),  # a NaN written as null: left out
    ],
    "chosen": {"sara": _row("sara", 3, 1.0, 0.2, 1.1, True), "actadd": None},
    "prompted": {"effect": 0.8, "ppl_ratio": 1.3},
}


def _lines(ax, style):
    return [ln for ln in ax.get_lines() if ln.get_linestyle() == style]


def test_the_figure_marks_points_guard_baseline_and_chosen():
    fig = tune_figure(DATA)
    (ax,) = fig.axes  # no held-out values: one panel
    points = [c for c in ax.collections if isinstance(c, PathCollection)]
    offsets = [tuple(p) for c in points for p in c.get_offsets()]
    assert (1.1, 0.2) in offsets and (4.0, 0.6) in offsets and (1.2, 0.1) in offsets
    assert (1.3, 0.8) in offsets  # the prompted baseline
    assert len(offsets) == 5  # 3 grid points, the chosen ring, the baseline
    (failed,) = [c for c in points if (4.0, 0.6) in [tuple(p) for p in c.get_offsets()]]
    (passed,) = [c for c in points if [tuple(p) for p in c.get_offsets()] == [(1.1, 0.2)]][:1]
    assert failed.get_facecolors()[:, 3].max(initial=0) == 0  # hollow: fails the guard
    assert passed.get_facecolors()[0, 3] == 1  # filled: passes
    (guard,) = _lines(ax, "--")
    assert list(guard.get_xdata()) == [1.5, 1.5]
    assert any(list(ln.get_ydata()) == [0.8, 0.8] for ln in _lines(ax, ":"))
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["block 3, x1"]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "SARA (fails the guard)" in legend and "ActAdd" in legend


def test_held_out_values_add_a_second_panel(tmp_path):
    data = {**DATA, "grid": [*DATA["grid"], _row("actadd", 4, 2.0, 0.1, 1.0, True, held=0.05)]}
    fig = tune_figure(data)
    assert len(fig.axes) == 2 and fig.axes[1].get_title() == "held-out effect"
    path = save_tune_figure(data, tmp_path / "t.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_far_baseline_is_written_and_far_costs_sit_at_the_edge():
    far = {
        **DATA,
        "grid": [*DATA["grid"], _row("sara", 9, 8.0, 0.3, 5000.0, False)],
        "prompted": {"effect": 5.0, "ppl_ratio": 1.3},
    }
    (ax,) = tune_figure(far).axes
    assert [ln for ln in _lines(ax, ":")] == []
    assert "prompted baseline: +5.00, off the scale" in [t.get_text() for t in ax.texts]
    offsets = [tuple(p) for c in ax.collections for p in c.get_offsets()]
    assert (100.0, 0.3) in offsets and (1.3, 5.0) not in offsets

"""The figures' shared style (sara_core.plots.style)."""

from __future__ import annotations

import math

from sara_core.plots.style import FONT


def test_figures_need_no_pyplot_state():
    import matplotlib

    assert matplotlib.get_backend().lower() == "agg"
    assert math.isfinite(FONT)

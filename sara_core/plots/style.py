"""The figures' shared style: colours, projector-sized fonts, and tensor-to-numpy.

Fonts are large, so the figures read on a projector; scores and cosines use a colour-blind-friendly
diverging colormap (ColorBrewer RdBu: red = towards attract / boosted, blue = towards repel /
suppressed). Importing this module selects matplotlib's Agg backend: figures never open a window.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # never open a window; safe in servers and CI

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

CMAP = "RdBu_r"  # diverging, colour-blind friendly (ColorBrewer), red = positive
BOOST_COLOUR = "#b2182b"  # the red end of RdBu
SUPPRESS_COLOUR = "#2166ac"  # the blue end of RdBu
NEUTRAL_COLOUR = "#4d4d4d"
ATTRACT_COLOUR = "#d95f02"  # orange / purple / green: Dark2, distinct for colour-blind readers
REPEL_COLOUR = "#7570b3"
ACTADD_COLOUR = "#1b9e77"
FONT = 15  # base font size (points) for projector-readable figures


def style(fig: Figure, size: float = FONT) -> None:
    """Apply projector-friendly font sizes to every axes of ``fig``."""
    for ax in fig.axes:
        ax.title.set_fontsize(size + 1)
        ax.xaxis.label.set_fontsize(size)
        ax.yaxis.label.set_fontsize(size)
        ax.tick_params(labelsize=size - 2)


def as_numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of a tensor or array (CPU)."""
    if hasattr(x, "detach"):
        x = x.detach().to("cpu").float().numpy()
    return np.asarray(x, dtype=np.float64)

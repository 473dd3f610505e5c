"""Figures of what SARA did, for the app, the CLI and teaching (matplotlib, no pyplot state).

Every function returns a ``matplotlib.figure.Figure`` built with the object-oriented API, so
figures can be made from several threads at once. One module per subject: :mod:`.style` (colours,
fonts), :mod:`.sara` (per-unit data helpers, the heatmap, the 3x3 similarity), :mod:`.sweep` (the
layer sweep) and :mod:`.method` (the teaching schematic); everything is re-exported here, so
``from sara_core import plots; plots.sara_heatmap(...)`` works.
"""

from sara_core.plots.method import method_figure
from sara_core.plots.sara import (
    LABELS,
    NAMES,
    grid_shape,
    reduced_similarity,
    sara_heatmap,
    score_scale,
    score_summary,
    similarity_figure,
    top_units,
    units_grid,
)
from sara_core.plots.style import (
    ACTADD_COLOUR,
    ATTRACT_COLOUR,
    BOOST_COLOUR,
    CMAP,
    FONT,
    NEUTRAL_COLOUR,
    REPEL_COLOUR,
    SUPPRESS_COLOUR,
)
from sara_core.plots.sweep import sweep_plot

__all__ = [
    "ACTADD_COLOUR",
    "ATTRACT_COLOUR",
    "BOOST_COLOUR",
    "CMAP",
    "FONT",
    "LABELS",
    "NAMES",
    "NEUTRAL_COLOUR",
    "REPEL_COLOUR",
    "SUPPRESS_COLOUR",
    "grid_shape",
    "method_figure",
    "reduced_similarity",
    "sara_heatmap",
    "score_scale",
    "score_summary",
    "similarity_figure",
    "sweep_plot",
    "top_units",
    "units_grid",
]

"""Figures of what SARA did, for the app, the CLI and teaching (matplotlib, no pyplot state).

Every function returns a ``matplotlib.figure.Figure`` built with the object-oriented API, so
figures can be made from several threads at once. One module per subject: :mod:`.style` (colours,
fonts), :mod:`.sara` (per-unit data helpers, the heatmap, the 3x3 similarity), :mod:`.sweep` (the
layer sweep) and :mod:`.method` (the teaching schematic).
"""

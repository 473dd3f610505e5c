"""``python -m sara_core tune``: find a block and strengths for SARA and ActAdd on one dilemma.

Modules: ``search`` (``tune``: the coarse-then-refine search under the model's lock), ``grid``
(the points searched, the checks and the coherence guard), ``score`` (the effect: how much more
the steered model prefers the attract text than the unsteered one), ``result`` (points, the
chosen settings, plain JSON), ``cli``, ``plot`` (effect against cost) and ``summary`` (many
searches summed up into defaults). Heavy imports wait until a search runs.
"""

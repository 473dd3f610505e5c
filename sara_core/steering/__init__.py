"""Steering: what changes the residual stream, and how a steering is built, saved and shared.

``interface`` (the ``Steering`` protocol), ``hooks`` (``SteeringHooks``, the one hook installer,
and the residual reads), ``sara`` (SARA's SVD factors, cosines, scores; ``SaraSteering``),
``actadd`` (ActAdd's space-padded difference; ``ActAddSteering``), ``prepare`` (the forward
passes that build a steering, and their one cache per model), ``saved`` (a steering as one
.safetensors file) and ``control_vector`` (ActAdd as a llama.cpp control vector, + its CLI).
"""

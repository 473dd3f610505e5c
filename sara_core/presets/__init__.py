"""Presets as data: stances, dilemmas, the questionnaire, the forced-choice banks, per-model
defaults and real model shapes, each read from presets/ by its own module with the bounded
parsing of :mod:`sara_core.presets.files`; the pre-print's texts are :mod:`sara_core.presets.paper`.
"""

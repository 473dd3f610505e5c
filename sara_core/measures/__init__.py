"""The measures that tune, the lab and the study share.

``metrics`` (fractions, steering success, spillover, coherence, perplexity, bootstrap
intervals), ``collapse`` (rules for collapsed text),
``agreement`` (kappa with intervals), ``choice`` (the forced-choice shift), ``control`` (the
neutral control pair), ``strength`` (strengths at matched coherence cost) and
``model_validity`` (can prompting move this model at all?).
"""

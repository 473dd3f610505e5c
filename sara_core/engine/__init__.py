"""The engine: how a compare is planned and decoded.

``compare`` (``compare``, ``stream_compare``, ``generate``) -> ``planning`` (check everything
first; the one resolver of saved steerings) -> ``scheduler`` (one thread per model; requests
share a batch) -> ``decoding`` (``decode_rows``: the CPU fast path where it applies, else a
batched loop over transformers' forward) over ``row`` (one answer's prompt, steerings,
sampling and stop). ``request`` lists a compare's fields once, ``results`` holds what comes
back, ``streaming`` moves work out of a thread, ``threads`` sets torch's threads for it.
``cpu/`` is the CPU fast path.
"""

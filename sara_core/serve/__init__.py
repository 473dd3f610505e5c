"""An OpenAI-compatible chat server for a steered model (``python -m sara_core serve``).

One module per concept: ``schema`` (the request body, checked), ``steering`` (a request's or the
server's default steering, planned and built), ``text`` (stop sequences and safe stream deltas),
``engine`` (one completion through the model's batch scheduler), ``sse`` (OpenAI's response and
event-stream shapes), ``errors`` (OpenAI's error shape), ``app`` (the FastAPI routes) and ``cli``.
See docs/serve.md.
"""

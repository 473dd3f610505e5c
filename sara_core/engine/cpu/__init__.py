"""The CPU fast path: decoding in plain torch ops on the architectures we ship, in float32.

``lean_model`` (``LeanModel``: the prompt and decode steps of llama, qwen2, gemma and gemma-2,
checked against transformers' forward), ``lean_decoder`` (``LeanDecoder``: a prompt runs once
below the steered block and forks; rows join a running batch), ``kernels`` (the small-batch
product, numba) and ``kv_cache`` (``KVState``: the key/value buffer of a decoding batch).
"""

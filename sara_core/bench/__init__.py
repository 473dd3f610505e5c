"""``python -m sara_core bench``: what steering costs and how near decoding runs to the hardware.

Modules: ``goals`` (the figures' goals and units), ``limits`` (the memory-bandwidth limit,
measured in the same run), ``startup`` (cold and warm start in fresh processes), ``workloads``
(each timed workload), ``run`` (``run_bench``: all of them, interleaved), ``report`` (machine
facts, the markdown table) and ``cli`` (the command's options). Heavy imports wait until a
benchmark runs.
"""

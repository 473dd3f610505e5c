"""``python -m sara_core bench``: what steering costs and how near decoding runs to the hardware.

Modules: ``figures`` (goals, units), ``limits`` (the memory-bandwidth limit, measured in the same
run), ``startup`` (cold and warm start in fresh processes), ``workloads`` (each timed workload),
``run`` (``run_bench``: all of them, interleaved), ``report`` (machine facts, the markdown table)
and ``cli`` (the command's options). Heavy imports wait until a benchmark runs.
"""

from sara_core.bench.cli import add_arguments, run_cli
from sara_core.bench.figures import GOALS, KEYS, UNITS, fmt, meets

__all__ = ["GOALS", "KEYS", "UNITS", "add_arguments", "fmt", "meets", "run_cli"]

"""Run ``python -m sara_core ARGS`` in this process, then print its peak resident memory on
stderr as ``PEAK <bytes>`` (the real-size test and benchmarks/real_size.py read it).

    .venv/bin/python scripts/peak_rss.py compare --model random:gemma-2-2b --json
"""

import atexit
import resource
import runpy
import sys


def _peak() -> None:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    print(f"PEAK {peak}", file=sys.stderr)


atexit.register(_peak)
sys.argv = ["sara_core", *sys.argv[1:]]
runpy.run_module("sara_core", run_name="__main__")

"""Peak memory of a block of work, in this process: Linux's high-water mark of resident memory
(VmHWM), reset before the work through /proc/self/clear_refs, less the memory resident before."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

STATUS = Path("/proc/self/status")


def _kb(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in {STATUS}")


def available() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@contextmanager
def peak_growth() -> Iterator[dict[str, int]]:
    """``with peak_growth() as got: ...`` then ``got["bytes"]``: how far resident memory rose
    above its level before the block, at its highest."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # the high-water mark restarts from now
    got = {"before": _kb("VmRSS"), "bytes": 0}
    yield got
    got["peak"] = _kb("VmHWM")
    got["bytes"] = got["peak"] - got["before"]

"""Start-up: a fresh Python process that imports sara_core and loads the model, timed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import sara_core
t_import = time.perf_counter() - t0
lm = sara_core.load_model(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
print(json.dumps({"import_s": t_import, "load_s": lm.load_seconds, "source": lm.source,
                  "inside_s": time.perf_counter() - t0,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def start_time(model: str | None, cache: Path, timeout: float = 900) -> dict[str, Any]:
    """Wall time of a process that imports sara_core and loads ``model`` with ``cache`` as the
    model cache, measured by this parent, with the child's own report (import, load, peak)."""
    env = {**os.environ, "SARA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, model or ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=root,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the start-up child failed: {tail[0]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"wall_s": wall, **report}

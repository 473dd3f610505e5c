"""Start-up: a fresh Python process that imports sara_core and loads the model, timed.

The parent starts the child and times it until the child says the model is ready (a line on
its stdout): what a user waits for. The child's exit (interpreter shutdown) is timed apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
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
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}),
      flush=True)
"""


def start_time(model: str | None, cache: Path, timeout: float = 900) -> dict[str, Any]:
    """Wall time of a process that imports sara_core and loads ``model`` with ``cache`` as the
    model cache, measured by this parent, with the child's own report (import, load, peak)."""
    env = {**os.environ, "SARA_CACHE_DIR": str(cache), "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parents[2]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH", "")]))
    # stderr goes to a file: a pipe nobody reads could fill up and stall the child
    with tempfile.TemporaryFile(mode="w+") as errors:
        t0 = time.perf_counter()
        with subprocess.Popen(
            [sys.executable, "-c", _CHILD, model or ""],
            env=env,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
            cwd=root,
        ) as proc:
            assert proc.stdout is not None
            report: dict[str, Any] | None = None
            ready = float("nan")
            for line in proc.stdout:  # the child's only stdout line is its report
                if line.startswith("{"):
                    ready = time.perf_counter() - t0
                    report = json.loads(line)
            proc.wait(timeout=timeout)
            wall = time.perf_counter() - t0
        errors.seek(0)
        err = errors.read()
    if proc.returncode != 0 or report is None:
        tail = err.strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"the start-up child failed: {tail[0]}")
    return {"wall_s": ready, "with_exit_s": wall, **report}

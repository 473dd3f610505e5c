"""The README's library example runs as written, on the embedded model."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.e2e
def test_the_library_example_runs_as_written():
    (block,) = python_blocks((ROOT / "README.md").read_text())
    check = (
        "\nassert res.original and res.sara and res.actadd\n"
        "assert scores.shape == (lm.hidden_size,) and float(scores.abs().max()) <= 2.0\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", block + check],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **_cache()},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def _cache() -> dict[str, str]:
    import os

    keep = ("SARA_CACHE_DIR", "HOME", "XDG_CACHE_HOME")
    return {k: os.environ[k] for k in keep if k in os.environ}

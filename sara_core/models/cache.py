"""Where converted models and other derived files are kept: one folder, never in git."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$SARA_CACHE_DIR``, else the user cache dir (``sara-steering``)."""
    env = os.environ.get("SARA_CACHE_DIR", "").strip()
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sara-steering"))

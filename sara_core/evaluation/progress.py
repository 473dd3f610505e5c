"""Progress bars of the evaluation (tqdm on stderr, so stdout stays clean for results)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tqdm import tqdm


def progress_bar(total: int, desc: str, enabled: bool, unit: str = "answer") -> tqdm:
    """A tqdm bar over ``total`` steps; a silent one when ``enabled`` is False."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr)

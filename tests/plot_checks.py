"""Checks shared by the figure tests: a figure renders to PNG, and all the text it shows."""

from __future__ import annotations

import io

from matplotlib.figure import Figure


def png(fig: Figure) -> bytes:
    """The PNG bytes of ``fig`` (checked to be a PNG)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def texts(fig: Figure) -> str:
    """Every text the figure shows: titles, labels, annotations and tick labels."""
    parts = [t.get_text() for t in fig.texts]
    if fig._suptitle is not None:
        parts.append(fig._suptitle.get_text())
    for ax in fig.axes:
        parts += [ax.get_title(), ax.get_xlabel(), ax.get_ylabel()]
        parts += [t.get_text() for t in ax.texts]
        parts += [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    return "\n".join(parts)
